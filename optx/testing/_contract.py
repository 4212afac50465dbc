"""Contract checks that any gradient transformation (optx's, Optax's or a user's) must pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx._core import GradientTransformation, apply_updates

ALL_CHECKS = (
    "extra_args",
    "jit_equals_eager",
    "no_retrace",
    "state_structure",
    "cond",
    "dtypes",
    "finite",
    "vmap",
)


def _chex():
    try:
        import chex
    except ImportError as error:  # pragma: no cover - chex is in the test extra
        raise ImportError(
            "optx.testing needs chex: pip install 'optx-jax[testing]' (or pip install chex)"
        ) from error
    return chex


def _gradients(params: Any, key: jax.Array, step: int) -> Any:
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, step), len(leaves))
    grads = [
        jax.random.normal(k, jnp.shape(p), jnp.float32).astype(jnp.result_type(p))
        for k, p in zip(keys, leaves)
    ]
    return jax.tree.unflatten(treedef, grads)


def _run(tx, params, key, steps, extra_args, jit):
    update = jax.jit(tx.update) if jit else tx.update
    state = tx.init(params)
    for step in range(steps):
        grads = _gradients(params, key, step)
        updates, state = update(grads, state, params, **extra_args)
        params = apply_updates(params, updates)
    return params, state


def check_transform(
    tx: GradientTransformation,
    params: Any,
    *,
    key: jax.Array | None = None,
    steps: int = 3,
    extra_args: dict[str, Any] | None = None,
    checks: Sequence[str] = ALL_CHECKS,
    dtypes: Sequence[Any] = (jnp.float32, jnp.bfloat16),
    make_tx: Callable[[], GradientTransformation] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Runs the optx contract on ``tx`` with random gradients shaped like ``params``.

    Checks (select with ``checks``):

    - ``extra_args``: ``update`` accepts and ignores an unknown keyword argument.
    - ``jit_equals_eager``: ``steps`` jitted updates equal the eager ones.
    - ``no_retrace``: the jitted update traces once for ``steps`` calls
      (``chex.assert_max_traces``).
    - ``state_structure``: the state keeps its tree structure, shapes and dtypes.
    - ``cond``: the update runs inside ``lax.cond`` against the unchanged state.
    - ``dtypes``: for each of ``dtypes`` the updates keep the gradients' dtype and the
      params keep theirs after `apply_updates`.
    - ``finite``: updates and state stay finite.
    - ``vmap``: ``jax.vmap`` of init and update over a batch of two params equals two
      separate runs.

    Args:
      tx: the transformation to check.
      params: example parameters (a pytree of float arrays).
      key: PRNG key for the random gradients (default ``jax.random.key(0)``).
      steps: number of updates per run.
      extra_args: keyword arguments every update receives (e.g. ``{"key": ...}``).
      checks: which checks to run.
      dtypes: parameter dtypes for the ``dtypes`` check.
      make_tx: builds a fresh ``tx``; needed by ``no_retrace`` to count traces of a new
        function. Defaults to reusing ``tx``.
      rtol, atol: tolerances for the equality checks.

    Raises:
      AssertionError: naming the check that failed and what differed.
      ValueError: an unknown check name.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> from optx.testing import check_transform
      >>> check_transform(optx.adam(1e-3), {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)})
    """
    chex = _chex()
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(
            f"optx.testing.check_transform: unknown checks {sorted(unknown)}; "
            f"choose from {ALL_CHECKS}"
        )
    key = jax.random.key(0) if key is None else key
    extra_args = dict(extra_args or {})
    make_tx = make_tx or (lambda: tx)

    if "extra_args" in checks:
        state = tx.init(params)
        grads = _gradients(params, key, 0)
        try:
            tx.update(grads, state, params, optx_unknown_extra_arg=1.0, **extra_args)
        except TypeError as error:
            raise AssertionError(
                f"check_transform[extra_args]: update does not accept unknown keyword "
                f"arguments ({error}); give it **extra_args"
            ) from error

    if "jit_equals_eager" in checks:
        eager = _run(tx, params, key, steps, extra_args, jit=False)
        jitted = _run(tx, params, key, steps, extra_args, jit=True)
        _assert_close("jit_equals_eager", eager, jitted, rtol, atol)

    if "no_retrace" in checks:
        fresh = make_tx()
        chex.clear_trace_counter()

        @jax.jit
        @chex.assert_max_traces(n=1)
        def update(grads, state, params):
            return fresh.update(grads, state, params, **extra_args)

        state = fresh.init(params)
        for step in range(max(steps, 2)):
            try:
                _, state = update(_gradients(params, key, step), state, params)
            except AssertionError as error:
                raise AssertionError(
                    f"check_transform[no_retrace]: the jitted update traced again at step "
                    f"{step}; the state changes structure, dtype or weak type ({error})"
                ) from error

    if "state_structure" in checks or "cond" in checks:
        state0 = tx.init(params)
        grads = _gradients(params, key, 0)
        _, state1 = tx.update(grads, state0, params, **extra_args)
        if "state_structure" in checks:
            _assert_same_layout("state_structure", state0, state1)
        if "cond" in checks:

            def stepped(s):
                return tx.update(grads, s, params, **extra_args)[1]

            try:
                jax.lax.cond(jnp.asarray(True), stepped, lambda s: s, state0)
            except TypeError as error:
                raise AssertionError(
                    f"check_transform[cond]: the updated state cannot stand in lax.cond "
                    f"against the initial one ({error})"
                ) from error

    if "dtypes" in checks:
        for dtype in dtypes:
            cast = jax.tree.map(lambda p, d=dtype: jnp.asarray(p, d), params)
            state = tx.init(cast)
            grads = _gradients(cast, key, 0)
            updates, _ = jax.jit(tx.update)(grads, state, cast, **extra_args)
            for path_g, u in zip(
                jax.tree_util.tree_flatten_with_path(grads)[0], jax.tree.leaves(updates)
            ):
                path, g = path_g
                if u.dtype != g.dtype:
                    raise AssertionError(
                        f"check_transform[dtypes]: with {jnp.dtype(dtype).name} params the "
                        f"update at {jax.tree_util.keystr(path)} is {u.dtype}, the gradient "
                        f"{g.dtype}"
                    )
            new_params = apply_updates(cast, updates)
            chex.assert_trees_all_equal_dtypes(new_params, cast)

    if "finite" in checks:
        new_params, state = _run(tx, params, key, steps, extra_args, jit=True)
        chex.assert_tree_all_finite(new_params)
        floats = [
            x for x in jax.tree.leaves(state) if jnp.issubdtype(jnp.result_type(x), jnp.floating)
        ]
        chex.assert_tree_all_finite(floats)

    if "vmap" in checks:
        other = jax.tree.map(lambda p: p * 0.5 + 0.25, params)
        stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, other)
        grads = [_gradients(p, key, 0) for p in (params, other)]
        stacked_grads = jax.tree.map(lambda a, b: jnp.stack([a, b]), *grads)
        states = jax.vmap(tx.init)(stacked)
        updates, _ = jax.vmap(lambda g, s, p: tx.update(g, s, p, **extra_args))(
            stacked_grads, states, stacked
        )
        for i, p in enumerate((params, other)):
            single, _ = tx.update(grads[i], tx.init(p), p, **extra_args)
            _assert_close("vmap", single, jax.tree.map(lambda x, i=i: x[i], updates), rtol, atol)


def _assert_close(check: str, expected: Any, got: Any, rtol: float, atol: float) -> None:
    chex = _chex()
    try:
        floats = lambda t: [  # noqa: E731
            np.asarray(x, np.float64)
            for x in jax.tree.leaves(t)
            if jnp.issubdtype(jnp.result_type(x), jnp.floating)
        ]
        chex.assert_trees_all_close(floats(expected), floats(got), rtol=rtol, atol=atol)
    except AssertionError as error:
        raise AssertionError(f"check_transform[{check}]: {error}") from error


def _assert_same_layout(check: str, before: Any, after: Any) -> None:
    # Typed Any: jaxlib ships no stub for PyTreeDef, so mypy cannot see its __eq__.
    structure: Any = jax.tree.structure(before)
    if structure != jax.tree.structure(after):
        raise AssertionError(
            f"check_transform[{check}]: the state structure changed after one update: "
            f"{jax.tree.structure(before)} became {jax.tree.structure(after)}"
        )
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(before)[0], jax.tree.leaves(after)
    ):
        if jnp.shape(a) != jnp.shape(b) or jnp.result_type(a) != jnp.result_type(b):
            raise AssertionError(
                f"check_transform[{check}]: state leaf {jax.tree_util.keystr(path)} changed "
                f"from {jnp.result_type(a)}{list(jnp.shape(a))} to "
                f"{jnp.result_type(b)}{list(jnp.shape(b))}"
            )

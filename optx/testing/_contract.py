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
    "donation",
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


class _Jitted:
    """``tx.update`` under one `jax.jit`, extra arguments traced, counting its traces."""

    def __init__(self, tx: GradientTransformation):
        self.traces = 0

        def update(grads, state, params, extra_args):
            self.traces += 1
            return tx.update(grads, state, params, **extra_args)

        self._update = jax.jit(update)

    def compiled(self) -> int:
        """How many executables the jitted update holds (its compile cache size)."""
        return self._update._cache_size()  # type: ignore[attr-defined]

    def __call__(self, grads, state, params, extra_args):
        return self._update(grads, state, params, extra_args)


def _run(tx, update, params, key, steps, extra_args):
    """``steps`` updates from ``tx.init``; ``update`` is ``tx.update`` or a `_Jitted`."""
    state = tx.init(params)
    for step in range(steps):
        grads = _gradients(params, key, step)
        updates, state = update(grads, state, params, extra_args)
        params = apply_updates(params, updates)
    return params, state


def _eager(tx):
    return lambda grads, state, params, extra_args: tx.update(grads, state, params, **extra_args)


def _layout(tree: Any) -> Any:
    return jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), tree)


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
    - ``no_retrace``: the jitted update (of a fresh ``make_tx()``) traces once for
      ``max(steps, 2)`` calls: the state keeps its structure, dtypes and weak types.
    - ``state_structure``: the state keeps its tree structure, shapes and dtypes, after
      eager and after jitted updates.
    - ``cond``: the update runs inside ``lax.cond`` against the unchanged state.
    - ``dtypes``: for each of ``dtypes`` the updates keep the gradients' dtype and the
      params keep theirs after `apply_updates`.
    - ``finite``: after the jitted updates, params and the state's floating arrays are
      finite.
    - ``vmap``: ``jax.vmap`` of init and update (under `jax.jit`) over a batch of two
      params equals two separate updates.
    - ``donation``: the state of an eager ``init`` holds each device buffer once and none
      of the params' buffers, so a train step jitted with ``donate_argnums`` may donate
      params and state (XLA refuses a buffer donated twice).

    Checks that need no values (``extra_args``, ``cond``, ``dtypes``) trace with
    `jax.eval_shape` and compile nothing; the jitted checks share one compiled update, so a
    full run compiles the update three times (plain, and ``vmap``'s init and update).

    Args:
      tx: the transformation to check.
      params: example parameters (a pytree of float arrays).
      key: PRNG key for the random gradients (default ``jax.random.key(0)``).
      steps: number of updates per run.
      extra_args: keyword arguments every update receives (e.g. ``{"key": ...}``); under
        `jax.jit` they are traced arguments, as in a train step.
      checks: which checks to run.
      dtypes: parameter dtypes for the ``dtypes`` check.
      make_tx: builds a fresh ``tx`` for the jitted runs, so that ``no_retrace`` counts
        the traces of a function no earlier call compiled. Defaults to reusing ``tx``.
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
    state0 = tx.init(params)
    grads0 = _gradients(params, key, 0)

    def traced_update(grads, state, p, **more):
        return jax.eval_shape(
            lambda g, s, q: tx.update(g, s, q, **more, **extra_args), grads, state, p
        )

    if "extra_args" in checks:
        try:
            traced_update(grads0, state0, params, optx_unknown_extra_arg=1.0)
        except TypeError as error:
            raise AssertionError(
                f"check_transform[extra_args]: update does not accept unknown keyword "
                f"arguments ({error}); give it **extra_args"
            ) from error

    if "donation" in checks:
        _assert_distinct_buffers(params, state0)

    states = {}  # after `steps` updates: "eager", "jit"
    jitted = None
    if {"jit_equals_eager", "no_retrace", "finite", "vmap"} & set(checks):
        jitted = _Jitted(make_tx())
        jit_params, states["jit"] = _run(tx, jitted, params, key, max(steps, 2), extra_args)
        if "no_retrace" in checks and (jitted.traces != 1 or jitted.compiled() != 1):
            raise AssertionError(
                f"check_transform[no_retrace]: the jitted update traced {jitted.traces} times "
                f"in {max(steps, 2)} calls; the state changes structure, dtype or weak type"
            )
        if "finite" in checks:
            chex.assert_tree_all_finite(jit_params)
            floats = [
                x
                for x in jax.tree.leaves(states["jit"])
                if jnp.issubdtype(jnp.result_type(x), jnp.floating)
            ]
            chex.assert_tree_all_finite(floats)

    if "jit_equals_eager" in checks:
        eager = _run(tx, _eager(tx), params, key, max(steps, 2), extra_args)
        states["eager"] = eager[1]
        _assert_close("jit_equals_eager", eager, (jit_params, states["jit"]), rtol, atol)

    if "state_structure" in checks:
        if not states:
            states["traced"] = traced_update(grads0, state0, params)[1]
        for when, state in states.items():
            _assert_same_layout("state_structure", when, state0, state)

    if "cond" in checks:

        def stepped(s):
            return tx.update(grads0, s, params, **extra_args)[1]

        try:
            jax.eval_shape(
                lambda s: jax.lax.cond(jnp.asarray(True), stepped, lambda s: s, s), state0
            )
        except TypeError as error:
            raise AssertionError(
                f"check_transform[cond]: the updated state cannot stand in lax.cond "
                f"against the initial one ({error})"
            ) from error

    if "dtypes" in checks:
        for dtype in dtypes:
            cast = jax.tree.map(lambda p, d=dtype: jnp.asarray(p, d), params)
            grads = jax.tree.map(lambda g, d=dtype: g.astype(d), grads0)
            updates, _ = traced_update(grads, tx.init(cast), cast)
            for (path, g), u in zip(
                jax.tree_util.tree_flatten_with_path(grads)[0], jax.tree.leaves(updates)
            ):
                if u.dtype != g.dtype:
                    raise AssertionError(
                        f"check_transform[dtypes]: with {jnp.dtype(dtype).name} params the "
                        f"update at {jax.tree_util.keystr(path)} is {u.dtype}, the gradient "
                        f"{g.dtype}"
                    )
            new_params = jax.eval_shape(apply_updates, cast, updates)
            chex.assert_trees_all_equal_dtypes(new_params, cast)

    if "vmap" in checks:
        assert jitted is not None
        other = jax.tree.map(lambda p: p * 0.5 + 0.25, params)
        stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, other)
        grads = [_gradients(p, key, 0) for p in (params, other)]
        stacked_grads = jax.tree.map(lambda a, b: jnp.stack([a, b]), *grads)
        states_v = jax.jit(jax.vmap(tx.init))(stacked)
        updates, _ = jax.jit(
            jax.vmap(lambda g, s, p, e: tx.update(g, s, p, **e), in_axes=(0, 0, 0, None))
        )(stacked_grads, states_v, stacked, extra_args)
        for i, p in enumerate((params, other)):
            single, _ = jitted(grads[i], tx.init(p), p, extra_args)
            _assert_close("vmap", single, jax.tree.map(lambda x, i=i: x[i], updates), rtol, atol)


def _buffers(x: Any) -> list[int]:
    if not isinstance(x, jax.Array) or x.size == 0 or x.is_deleted():
        return []
    return [shard.data.unsafe_buffer_pointer() for shard in x.addressable_shards]


def _assert_distinct_buffers(params: Any, state: Any) -> None:
    owner: dict[int, str] = {}
    for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
        for pointer in _buffers(p):
            owner[pointer] = f"params{jax.tree_util.keystr(path)}"
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        where = f"state{jax.tree_util.keystr(path)}"
        for pointer in _buffers(x):
            if pointer in owner:
                raise AssertionError(
                    f"check_transform[donation]: init's {where} is the same device buffer "
                    f"as {owner[pointer]}; a step that donates params and state fails "
                    "('donate the same buffer twice'): create each state array separately"
                )
            owner[pointer] = where


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


def _assert_same_layout(check: str, when: str, before: Any, after: Any) -> None:
    # Typed Any: jaxlib ships no stub for PyTreeDef, so mypy cannot see its __eq__.
    structure: Any = jax.tree.structure(before)
    if structure != jax.tree.structure(after):
        raise AssertionError(
            f"check_transform[{check}]: the state structure changed after {when} updates: "
            f"{jax.tree.structure(before)} became {jax.tree.structure(after)}"
        )
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(before)[0], jax.tree.leaves(after)
    ):
        if jnp.shape(a) != jnp.shape(b) or jnp.result_type(a) != jnp.result_type(b):
            raise AssertionError(
                f"check_transform[{check}]: after {when} updates, state leaf "
                f"{jax.tree_util.keystr(path)} changed from {jnp.result_type(a)}"
                f"{list(jnp.shape(a))} to {jnp.result_type(b)}{list(jnp.shape(b))}"
            )

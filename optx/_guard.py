"""Checks at the boundary of every public transform: the inputs a new user gets wrong.

`guarded` wraps the ``(init, update)`` a public factory returns (`optx._validate.public_call`
applies it), so that, at trace time and without cost in the compiled update:

- ``update`` refuses a ``None`` state and a state built by another transform (its container
  type or length differs from what ``init`` builds), naming the transform and what it
  expected, instead of failing deep inside with ``'EmptyState' object has no attribute``;
- integer (and bool) gradients are promoted to the float dtype of their param (float32
  without params), as Optax effectively does, instead of rounding every step to zero;
- Python scalar leaves (``{"w": 1.0}``) of params and gradients are taken as arrays, as in
  Optax;
- ``init`` refuses integer and bool params, naming the leaf: an update of an integer param
  would be rounded away by `optx.apply_updates` (wrappers leave the check to the
  transforms they wrap, so an integer leaf that a mask leaves out is fine).
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx import _validate


def _is_python_scalar(x: Any) -> bool:
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool)


def as_arrays(tree: Any) -> Any:
    """``tree`` with Python scalar leaves as (weakly typed) JAX arrays; others unchanged."""
    leaves = jax.tree.leaves(tree)
    if not any(_is_python_scalar(leaf) for leaf in leaves):
        return tree
    return jax.tree.map(lambda x: jnp.asarray(x) if _is_python_scalar(x) else x, tree)


def _is_integer(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    return bool(jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.bool_))


def promote_integer_updates(updates: Any, params: Any) -> Any:
    """Integer or bool gradient leaves as floats: their param's dtype when it is inexact,
    else float32 (float64 under x64)."""
    if not any(_is_integer(leaf) for leaf in jax.tree.leaves(updates)):
        return updates
    default = jnp.result_type(float)
    if params is not None:
        try:
            return jax.tree.map(
                lambda u, p: u.astype(_float_for(p, default)) if _is_integer(u) else u,
                updates,
                params,
            )
        except (ValueError, TypeError):
            pass  # another structure (a wrapper's inner view): fall back to the default
    return jax.tree.map(lambda u: u.astype(default) if _is_integer(u) else u, updates)


def _float_for(param: Any, default: Any) -> Any:
    dtype = getattr(param, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jnp.inexact):
        return dtype
    return default


def _abstract(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), tree)


def wraps_transform(args: tuple, kwargs: dict) -> bool:
    """Whether a factory's arguments hold a transformation (the factory is a wrapper)."""

    def is_tx(x: Any) -> bool:
        return callable(getattr(x, "init", None)) and callable(getattr(x, "update", None))

    values = [*args, *kwargs.values()]
    values += [v for x in values if isinstance(x, dict) for v in x.values()]
    return any(is_tx(x) for x in values)


def refuse_integer_params(call: str, params: Any) -> None:
    """Raises TypeError naming the first integer or bool leaf of ``params``."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if _is_integer(leaf):
            where = jax.tree_util.keystr(path) or "the params"
            raise TypeError(
                f"{call}: params at {where} are {np.dtype(leaf.dtype).name}; optimizers "
                "update floating params only (an integer param would round every update "
                "away). Cast it (p.astype(jnp.float32)) or keep it out of the optimized tree "
                "(optx.masked, optx.freeze)"
            )


def guarded(name: str, transform: Any, *, wrapper: bool = False) -> Any:
    """``transform`` with its ``init``/``update`` checked as described in the module doc.

    ``name`` is the public factory that built it (the outermost one: the parts built inside
    it are covered by its checks); ``wrapper``: the transform wraps others (which check the
    params themselves).
    """
    fields = getattr(type(transform), "_fields", ())
    if tuple(fields[:2]) != ("init", "update") or getattr(transform.update, "_optx_guarded", False):
        return transform
    label = name
    inner_init, inner_update = transform.init, transform.update
    expected_by_structure: dict[Any, Any] = {}

    def init(params):
        params = as_arrays(params)
        if not wrapper:
            refuse_integer_params(f"{label}.init", params)
        return inner_init(params)

    def expected_state(updates, params):
        reference = updates if params is None else params
        leaves, treedef = jax.tree.flatten(reference)
        try:
            key = (treedef, tuple((np.shape(x), str(jnp.result_type(x))) for x in leaves))
        except Exception:  # noqa: BLE001 - leaves that are not arrays: not checked here
            return None
        if key not in expected_by_structure:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    expected_by_structure[key] = jax.eval_shape(inner_init, _abstract(reference))
            except Exception:  # noqa: BLE001 - an init that cannot run here is not checked
                expected_by_structure[key] = None
        return expected_by_structure[key]

    def update(updates, state, params=None, **extra_args):
        if state is None:
            _validate.check_state(label, state, None)
        updates, params = as_arrays(updates), as_arrays(params)
        if isinstance(state, (tuple, list, dict)):
            _validate.check_state(label, state, expected_state(updates, params))
        updates = promote_integer_updates(updates, params)
        return inner_update(updates, state, params, **extra_args)

    update._optx_guarded = True  # type: ignore[attr-defined]
    return transform._replace(init=init, update=update)

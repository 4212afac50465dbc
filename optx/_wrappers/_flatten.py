"""Run a transform on all params flattened into one vector."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation, _accepting_extra_args


class FlattenState(NamedTuple):
    """State of `flatten`: the inner state, built on one flat vector."""

    inner_state: Any


def _ravel(tree: Any, dtype: Any) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([0], dtype)
    return jnp.concatenate([jnp.ravel(_replicated(x)).astype(dtype) for x in leaves])


def _replicated(x: jax.Array) -> jax.Array:
    """``x`` resharded to replicated when its type carries Explicit mesh axes, else as is.

    With Explicit axes ``concatenate`` refuses operands of different shardings; the flat
    vector is replicated (a sharded vector would not follow any one param anyway).
    """
    sharding = getattr(jax.typeof(x), "sharding", None)
    if not isinstance(sharding, jax.sharding.NamedSharding) or all(
        axis is None for axis in sharding.spec
    ):
        return x
    return jax.sharding.reshard(x, jax.sharding.NamedSharding(sharding.mesh, jax.P()))


def _unravel(flat: jax.Array, like: Any) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    out, offset = [], 0
    for x in leaves:
        size = int(jnp.size(x))
        out.append(flat[offset : offset + size].reshape(jnp.shape(x)).astype(jnp.result_type(x)))
        offset += size
    return jax.tree.unflatten(treedef, out)


def _common_dtype(tree: Any) -> Any:
    dtypes = {jnp.dtype(jnp.result_type(x)) for x in jax.tree.leaves(tree)}
    if len(dtypes) <= 1:
        return dtypes.pop() if dtypes else jnp.dtype(jnp.float32)
    return max(dtypes, key=lambda d: d.itemsize)


@_validate.public_call("optx.flatten")
def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Runs ``inner`` on all parameters raveled into one vector.

    Many tiny leaves cost a kernel launch (and host dispatch) each per step; one vector
    costs one. The price: every step concatenates the gradients (and the params, when
    given) into new vectors and splits the updates back, i.e. about three extra
    param-sized copies per step; mixed dtypes are cast to the widest; the inner state is one
    vector (a different checkpoint layout); and under sharding the concatenation gathers
    the leaves onto one layout. Use it for small models with many leaves, not for large
    sharded ones. Per-leaf algorithms (LARS/LAMB trust ratios, Adafactor) change meaning:
    they see one leaf.

    Args:
      inner: the transformation to run on the flat vector.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.flatten(optx.adam(1e-3))
      >>> params = {"a": jnp.ones(2), "b": jnp.ones((2, 3))}
      >>> jax.tree.leaves(tx.init(params).inner_state[0].mu)[0].shape
      (8,)
    """
    _validate.check_transformation("optx.flatten", "inner", inner)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        return FlattenState(inner.init(_ravel(params, _common_dtype(params))))

    def update(updates, state, params=None, **extra_args):
        dtype = _common_dtype(updates)
        flat_params = None if params is None else _ravel(params, _common_dtype(params))
        new, inner_state = inner_update(
            _ravel(updates, dtype), state.inner_state, flat_params, **extra_args
        )
        return _unravel(new, updates), FlattenState(inner_state)

    return GradientTransformation(init, update)

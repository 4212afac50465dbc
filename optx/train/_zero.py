"""ZeRO-1: the optimizer state sharded across the data-parallel axis.

Each optimizer-state leaf is split along its largest dimension divisible by the number of
devices on the data axis; scalars (counts, hyperparameters) and leaves with no such dimension
stay replicated. The optimizer update then runs under ``jax.jit`` on the global view with
these shardings, so the compiler partitions it: every device updates its slice of the
moments, and reductions across parameters (global-norm clipping, trust ratios, any norm a
transform takes) are computed over the whole tree, exactly as on one device.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from optx import _validate


def leaf_spec(shape: tuple[int, ...], num_shards: int, axis_name: Any) -> PartitionSpec:
    """The partition of one optimizer-state leaf: its largest dim divisible by ``num_shards``."""
    best = None
    for dim, size in enumerate(shape):
        if size % num_shards == 0 and size >= num_shards and (best is None or size > shape[best]):
            best = dim
    if num_shards == 1 or best is None:
        return PartitionSpec()
    spec: list[Any] = [None] * len(shape)
    spec[best] = axis_name
    return PartitionSpec(*spec)


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key)


@_validate.public_call("optx.train.zero_shardings")
def zero_shardings(opt_state: Any, mesh: Mesh, axis_name: Any = "data") -> Any:
    """NamedShardings that split an optimizer state across ``axis_name`` (ZeRO stage 1).

    Each leaf is split along its largest dimension divisible by the size of ``axis_name``;
    scalars, PRNG keys and leaves with no such dimension are replicated. Works on arrays or
    on ``jax.ShapeDtypeStruct`` leaves (e.g. ``jax.eval_shape(optimizer.init, params)``).

    Args:
      opt_state: the optimizer state (or its shapes).
      mesh: the device mesh.
      axis_name: the data axis of ``mesh`` (a name or tuple of names).

    Returns:
      A pytree of ``NamedSharding`` shaped like ``opt_state``.

    Raises:
      ValueError: ``axis_name`` is not an axis of ``mesh``.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
      >>> state = optx.adam(1e-3).init({"w": jnp.zeros((4, 2))})
      >>> shardings = optx.train.zero_shardings(state, mesh)
      >>> shardings[0].count.spec  # scalars stay replicated
      P()
    """
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    missing = [n for n in names if n not in mesh.shape]
    if missing:
        raise ValueError(
            f"optx.train.zero_shardings: axis_name {axis_name!r} is not an axis of the mesh "
            f"(axes {tuple(mesh.shape)}); pass the data axis of the mesh"
        )
    num_shards = 1
    for n in names:
        num_shards *= mesh.shape[n]
    spec_axis = axis_name if not isinstance(axis_name, tuple) or len(names) > 1 else names[0]

    def one(x):
        if _is_key(x):
            return NamedSharding(mesh, PartitionSpec())
        return NamedSharding(mesh, leaf_spec(tuple(x.shape), num_shards, spec_axis))

    return jax.tree.map(one, opt_state)

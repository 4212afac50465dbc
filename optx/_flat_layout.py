"""The static layout of a `FlatParams`: which buffer, offset and shape each original leaf has.

Leaves are grouped by (dtype, `NamedSharding`), at most `MAX_LEAVES_PER_BUFFER` leaves to a
group; a leaf above ``max_packed_size`` elements gets a group of its own. A shared group's
buffer is 1-D (padded for even shards); a leaf in a group of its own keeps its shape and
sharding, so its buffer is the leaf itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_PACKED_SIZE", "FlatLayout", "check_max_packed_size"]


MAX_LEAVES_PER_BUFFER = 64
"""Leaves per shared buffer: a longer run of same-group leaves starts a new buffer.

Packing is a concatenation, whose run and compile time on XLA:CPU grow faster than its
operand count; benchmarks/README.md ("Concatenations of many operands") has the
measurements. On GPU and TPU a few more buffers cost a few more (large) kernels.
"""

MAX_PACKED_SIZE = 2**14
"""`FlatParams.from_tree`'s default: leaves with more elements get a buffer each."""


@dataclasses.dataclass(frozen=True)
class _Leaf:
    path: str
    shape: tuple[int, ...]
    dtype: Any
    group: int
    offset: int
    size: int
    sharding: Any  # the leaf's NamedSharding when it had one (restored by FlatParams.tree)


@dataclasses.dataclass(frozen=True)
class _Group:
    dtype: Any
    size: int  # buffer length, padding included
    sharding: Any  # the buffer's sharding, or None (placed where jnp puts it)
    shape: tuple[int, ...]  # (size,), or the leaf's shape for a leaf in a group of its own
    own: bool  # the buffer is one leaf in its own shape and sharding (nothing is copied)


class FlatLayout:
    """The static layout of a `FlatParams`: where each original leaf lives in which buffer.

    Attributes:
      treedef: the structure of the original tree.
      leaves: per original leaf (in ``jax.tree.leaves`` order): its path, shape, dtype,
        buffer index (``group``), offset and size in that buffer, and its sharding.
      groups: per buffer: dtype, length (padding included), sharding and shape (1-D,
        or the leaf's own shape for a leaf above ``max_packed_size``).
    """

    __slots__ = ("_hash", "_key", "groups", "leaves", "treedef")

    def __init__(self, treedef: Any, leaves: tuple[_Leaf, ...], groups: tuple[_Group, ...]):
        self.treedef = treedef
        self.leaves = leaves
        self.groups = groups
        self._key = (treedef, leaves, groups)
        self._hash = hash(self._key)  # computed once: jit hashes the layout on every call

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, FlatLayout):
            return NotImplemented
        return self._hash == other._hash and self._key == other._key

    def __repr__(self) -> str:
        groups = ", ".join(f"{np.dtype(g.dtype).name}[{g.size}]" for g in self.groups)
        return f"FlatLayout({len(self.leaves)} leaves in {groups or 'no buffers'})"

    @property
    def paths(self) -> tuple[str, ...]:
        """The key path (``jax.tree_util.keystr``) of every original leaf."""
        return tuple(leaf.path for leaf in self.leaves)


def _named_sharding(x: Any) -> Any:
    if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array):
        return None
    sharding = x.sharding
    return sharding if isinstance(sharding, jax.sharding.NamedSharding) else None


def _buffer_sharding(sharding: Any) -> tuple[Any, int]:
    """A group's buffer sharding and the multiple its length is padded to.

    Replicated leaves give a replicated buffer on their mesh; leaves sharded over some mesh
    axes give a buffer split evenly over those axes (padded to a multiple of their size).
    """
    if sharding is None:
        return None, 1
    axes: list[str] = []
    for entry in sharding.spec:
        for name in entry if isinstance(entry, tuple) else (entry,):
            if name is not None and name not in axes:
                axes.append(name)
    if not axes:
        return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec()), 1
    shards = math.prod(sharding.mesh.shape[a] for a in axes)
    spec = jax.sharding.PartitionSpec(tuple(axes) if len(axes) > 1 else axes[0])
    return jax.sharding.NamedSharding(sharding.mesh, spec), shards


def check_max_packed_size(call: str, value: Any) -> None:
    """Raises ValueError unless ``value`` is a positive integer or None."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(
            f"{call}: max_packed_size must be a positive integer or None (pack every leaf), "
            f"got {value!r}"
        )


def layout_of(tree: Any, pad_to: int, max_packed_size: int | None) -> FlatLayout:
    """The layout of ``tree``'s leaves (see `FlatParams.from_tree` for the arguments)."""
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    keys: dict[tuple[Any, ...], int] = {}
    sizes: list[int] = []
    counts: list[int] = []  # leaves per group
    infos: list[tuple[Any, Any, Any]] = []  # dtype, sharding, own leaf's shape (or None)
    leaves: list[_Leaf] = []
    for path, x in with_paths:
        dtype = jnp.dtype(jnp.result_type(x))
        sharding = _named_sharding(x)
        shape = tuple(int(d) for d in np.shape(x))
        size = math.prod(shape)
        own = max_packed_size is not None and size > max_packed_size
        key = (dtype, sharding, len(leaves)) if own else (dtype, sharding)
        if key not in keys or counts[keys[key]] >= MAX_LEAVES_PER_BUFFER:
            keys[key] = len(sizes)
            sizes.append(0)
            counts.append(0)
            infos.append((dtype, sharding, shape if own else None))
        group = keys[key]
        counts[group] += 1
        leaves.append(
            _Leaf(jax.tree_util.keystr(path), shape, dtype, group, sizes[group], size, sharding)
        )
        sizes[group] += size
    groups = []
    for (dtype, sharding, own_shape), size in zip(infos, sizes):
        if own_shape is not None and pad_to == 1:
            # a leaf of its own keeps its shape and sharding: its buffer is the leaf
            groups.append(_Group(dtype, size, sharding, own_shape, True))
            continue
        buffer_sharding, multiple = _buffer_sharding(sharding)
        multiple = multiple * pad_to // math.gcd(multiple, pad_to)
        padded = -(-size // multiple) * multiple
        groups.append(_Group(dtype, padded, buffer_sharding, (padded,), False))
    return FlatLayout(treedef, tuple(leaves), tuple(groups))

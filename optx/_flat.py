"""Parameters held in a few contiguous buffers: `FlatParams`, and `per_leaf` for the transforms
whose rule needs the original leaves.

A `FlatParams` is a pytree whose children are one 1-D buffer per (dtype, sharding) group of
the original leaves (at most 64 leaves to a buffer); the layout (tree structure, paths,
shapes, dtypes, offsets) is static auxiliary data. Every elementwise transform therefore
updates a few buffers instead of many leaves, without knowing about `FlatParams`. A
transform whose rule needs a leaf's shape or a per-leaf reduction (trust ratios, per-leaf
clipping, factored moments, masks by path) returns ``per_leaf(GradientTransformation(init,
update))``: given `FlatParams` it runs on the per-leaf views (`FlatParams.tree`) and packs
its updates back, so its results are the per-leaf ones; it never sees a buffer as one leaf.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx._flat_layout import (
    MAX_PACKED_SIZE as MAX_PACKED_SIZE,
    FlatLayout as FlatLayout,
    check_max_packed_size as check_max_packed_size,
    layout_of,
)

__all__ = ["FlatLayout", "FlatParams", "is_flat", "pack", "per_leaf", "to_trees"]


def _pack(leaves: list[Any], layout: FlatLayout) -> tuple[Any, ...]:
    parts: list[list[Any]] = [[] for _ in layout.groups]
    for spec, x in zip(layout.leaves, leaves):
        parts[spec.group].append(jnp.asarray(x, spec.dtype))
    buffers = []
    for group, pieces in zip(layout.groups, parts):
        if group.own:  # the leaf itself
            buffer = pieces[0]
        else:
            pieces = [jnp.ravel(p) for p in pieces]
            used = sum(int(p.size) for p in pieces)
            if group.size > used:
                pieces.append(jnp.zeros([group.size - used], group.dtype))
            buffer = jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        if group.sharding is not None:
            if isinstance(buffer, jax.core.Tracer):
                buffer = jax.lax.with_sharding_constraint(buffer, group.sharding)
            else:
                buffer = jax.device_put(buffer, group.sharding)
        buffers.append(buffer)
    return tuple(buffers)


class FlatParams:
    """A pytree of arrays held in a few contiguous 1-D buffers, one per (dtype, sharding) group.

    A group of more than 64 leaves (``optx._flat_layout.MAX_LEAVES_PER_BUFFER``) is held in
    several buffers of up to 64 leaves each: packing thousands of leaves into one buffer is
    one concatenation of thousands of operands, which XLA:CPU compiles and runs slowly.

    Its pytree children are the buffers; the layout (`FlatLayout`: structure, paths, shapes,
    dtypes, offsets) is static. So ``jax.grad`` of ``loss(fp.tree())`` with respect to
    ``fp`` is a `FlatParams` (the views' transpose is one concatenation per buffer),
    `optx.apply_updates` on two of them is one elementwise kernel per buffer, and every
    elementwise optimizer (``adam``, ``sgd``, ``lion``, ``clip_by_global_norm``, ...) keeps
    its state as buffers and updates only them. Transforms whose rule needs the original
    leaves (LAMB/LARS/Fromage trust ratios, per-leaf clipping, Adafactor, SM3, masks and
    partitions by path) run on the per-leaf views (`FlatParams.tree`) and give the
    per-leaf results, at the per-leaf cost.

    Leaves are grouped by dtype (bf16 and f32 leaves go to different buffers, each keeps its
    dtype) and by `jax.sharding.NamedSharding`; a leaf larger than ``max_packed_size``
    elements (`FlatParams.from_tree`) gets a buffer of its own, since its per-leaf kernels
    cost less than copying it into a shared buffer and out again. A group of replicated
    leaves gets a replicated buffer on their mesh; a group of leaves sharded over some mesh
    axes gets a buffer split evenly over those axes (padded with zeros to a multiple of
    their size), and `tree` constrains each view back to its leaf's sharding. Padding is zero in
    `from_tree`; elementwise rules keep it finite for zero gradients.

    Args:
      buffers: the 1-D buffers, one per group of ``layout``.
      layout: the `FlatLayout`.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> params = {"b": jnp.zeros(3), "w": jnp.ones((2, 3))}
      >>> fp = optx.FlatParams.from_tree(params)
      >>> [b.shape for b in fp.buffers]
      [(9,)]
      >>> grads = jax.grad(lambda fp: jnp.sum(fp.tree()["w"] ** 2))(fp)
      >>> type(grads).__name__
      'FlatParams'
      >>> tx = optx.adam(0.1)
      >>> updates, state = tx.update(grads, tx.init(fp), fp)
      >>> optx.apply_updates(fp, updates).tree()["w"]
      Array([[0.9, 0.9, 0.9],
             [0.9, 0.9, 0.9]], dtype=float32)
    """

    __slots__ = ("buffers", "layout")

    def __init__(self, buffers: tuple[Any, ...], layout: FlatLayout):
        self.buffers = tuple(buffers)
        self.layout = layout

    @classmethod
    def from_tree(
        cls,
        tree: Any,
        *,
        layout: FlatLayout | None = None,
        pad_to: int = 1,
        max_packed_size: int | None = MAX_PACKED_SIZE,
    ) -> FlatParams:
        """Packs the arrays of ``tree`` into buffers (a copy; works under ``jit``).

        Args:
          tree: a pytree of arrays (params or gradients).
          layout: keyword-only; pack into this layout (e.g. ``fp.layout``, to pack
            gradients like the params) instead of building one from ``tree``.
          pad_to: keyword-only; pad each buffer's length to a multiple of this (for even
            shards). Ignored when ``layout`` is given.
          max_packed_size: keyword-only; a leaf with more elements than this gets a buffer
            of its own (its view is a reshape, so packing gradients into it and viewing it
            copy nothing), and the smaller leaves share their group's buffer; ``None``
            packs every leaf. The default, ``2**14``, packs the leaves whose per-leaf
            kernels cost more than copying them. Ignored when
            ``layout`` is given.

        Returns:
          The `FlatParams`.

        Raises:
          ValueError: ``tree`` does not match ``layout`` (structure, shape or dtype), or
            ``pad_to`` or ``max_packed_size`` is not a positive integer.
        """
        if layout is None:
            if not isinstance(pad_to, int) or isinstance(pad_to, bool) or pad_to < 1:
                raise ValueError(
                    f"optx.FlatParams.from_tree: pad_to must be a positive integer, got {pad_to!r}"
                )
            check_max_packed_size("optx.FlatParams.from_tree", max_packed_size)
            layout = layout_of(tree, pad_to, max_packed_size)
            leaves = layout.treedef.flatten_up_to(tree)
        else:
            leaves = _check_against("optx.FlatParams.from_tree", tree, layout)
        return cls(_pack_any(leaves, layout), layout)

    def tree(self) -> Any:
        """The original tree, each leaf a view of its buffer (static slices and reshapes).

        Cheap inside ``jit`` (XLA fuses the slices into their consumers); its transpose under
        ``jax.grad`` is one concatenation per buffer. A leaf that had a `NamedSharding` is
        constrained back to it. Outside ``jit`` the views are one compiled call per layout.
        """
        on_host, where = _host_placement(self.buffers, self.layout)
        if on_host and len(self.layout.leaves) > 1:
            host = [np.asarray(b) for b in self.buffers]
            out = [
                host[leaf.group]
                .reshape(-1)[leaf.offset : leaf.offset + leaf.size]
                .reshape(leaf.shape)
                for leaf in self.layout.leaves
            ]
            return self.layout.treedef.unflatten(_to_device(out, where))
        if _concrete(self.buffers):
            return _jitted(_views, self.layout)(self.buffers)
        return _views(self.buffers, self.layout)

    @property
    def paths(self) -> tuple[str, ...]:
        """The key path of every original leaf, in ``jax.tree.leaves`` order."""
        return self.layout.paths

    def __repr__(self) -> str:
        return f"FlatParams({self.layout!r})"


def _concrete(arrays: Any) -> bool:
    leaves = jax.tree.leaves(arrays)
    return bool(leaves) and all(
        isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) for x in leaves
    )


@functools.lru_cache(maxsize=64)
def _jitted(fn: Any, layout: FlatLayout) -> Any:
    """``fn(arrays, layout)`` compiled once per layout: packing or viewing thousands of
    leaves eagerly dispatches an op per leaf (minutes at 10,000 leaves)."""
    return jax.jit(lambda arrays: fn(arrays, layout))


def _host_placement(arrays: Any, layout: FlatLayout) -> tuple[bool, Any]:
    """(True, where) when every array is concrete on one device and no group is sharded:
    packing and viewing then run on the host (a memcpy), with no per-leaf dispatch and no
    compile. ``where`` is the device of committed arrays, else None (uncommitted)."""
    if any(g.sharding is not None for g in layout.groups) or not _concrete(arrays):
        return False, None
    shardings = {x.sharding for x in jax.tree.leaves(arrays)}
    committed = any(x.committed for x in jax.tree.leaves(arrays))
    if len(shardings) != 1 or not isinstance(
        next(iter(shardings)), jax.sharding.SingleDeviceSharding
    ):
        return False, None
    return True, next(iter(shardings)) if committed else None


def _to_device(arrays: Any, where: Any) -> Any:
    return jax.device_put(arrays, where) if where is not None else jax.device_put(arrays)


def _pack_any(leaves: list[Any], layout: FlatLayout) -> tuple[Any, ...]:
    on_host, where = _host_placement(leaves, layout)
    if on_host and len(leaves) > 1:
        parts: list[list[Any]] = [[] for _ in layout.groups]
        for spec, x in zip(layout.leaves, leaves):
            parts[spec.group].append(np.ravel(np.asarray(x)))
        buffers = []
        for group, pieces in zip(layout.groups, parts):
            used = sum(p.size for p in pieces)
            pieces.append(np.zeros([group.size - used], group.dtype))
            buffer = np.concatenate(pieces).astype(group.dtype)
            buffers.append(buffer.reshape(group.shape))
        return tuple(_to_device(buffers, where))
    if _concrete(leaves) and len(leaves) > 1:
        return _jitted(_pack, layout)(list(leaves))
    return _pack(leaves, layout)


def _views(buffers: tuple[Any, ...], layout: FlatLayout) -> Any:
    pieces: list[list[Any]] = []
    for group, buffer in zip(layout.groups, buffers):
        sizes = [leaf.size for leaf in layout.leaves if leaf.group == len(pieces)]
        if sum(sizes) < group.size:
            sizes.append(group.size - sum(sizes))
        pieces.append(list(jax.lax.split(buffer, sizes)) if len(sizes) > 1 else [buffer])
    taken = [0] * len(layout.groups)
    out = []
    for leaf in layout.leaves:
        view = pieces[leaf.group][taken[leaf.group]].reshape(leaf.shape)
        taken[leaf.group] += 1
        if leaf.sharding is not None and not _replicated(leaf.sharding):
            if isinstance(view, jax.core.Tracer):
                view = jax.lax.with_sharding_constraint(view, leaf.sharding)
            else:
                view = jax.device_put(view, leaf.sharding)
        out.append(view)
    return layout.treedef.unflatten(out)


def _replicated(sharding: Any) -> bool:
    return all(entry is None for entry in sharding.spec)


def pack(call: str, tree: Any, layout: FlatLayout) -> FlatParams:
    """``tree`` packed into ``layout``; mismatches raise ValueError naming ``call``."""
    return FlatParams(_pack_any(_check_against(call, tree, layout), layout), layout)


def _check_against(call: str, tree: Any, layout: FlatLayout) -> list[Any]:
    if jax.tree.structure(tree) != layout.treedef:
        from optx import _tree  # noqa: PLC0415 - _tree is the leaf of the import graph

        like = layout.treedef.unflatten([0] * len(layout.leaves))
        raise ValueError(
            f"{call}: the tree does not match the layout ({_tree.describe_mismatch(like, tree)});"
            " pack a tree shaped like the one the layout was built from"
        )
    leaves = jax.tree.leaves(tree)
    for spec, x in zip(layout.leaves, leaves):
        shape, dtype = tuple(np.shape(x)), jnp.dtype(jnp.result_type(x))
        if shape != spec.shape or dtype != spec.dtype:
            raise ValueError(
                f"{call}: the leaf at {spec.path or 'the root'} is {dtype.name}{list(shape)} but "
                f"the layout holds {np.dtype(spec.dtype).name}{list(spec.shape)}; cast or "
                "reshape it, or build a new layout with FlatParams.from_tree(tree)"
            )
    return leaves


def _flatten_with_keys(fp: FlatParams):
    return [(jax.tree_util.SequenceKey(i), b) for i, b in enumerate(fp.buffers)], fp.layout


def _unflatten(layout: FlatLayout, buffers: Any) -> FlatParams:
    return FlatParams(tuple(buffers), layout)


jax.tree_util.register_pytree_with_keys(
    FlatParams,
    _flatten_with_keys,
    _unflatten,
    flatten_func=lambda fp: (fp.buffers, fp.layout),
)


def is_flat(x: Any) -> bool:
    """Whether ``x`` is a `FlatParams` (``is_leaf`` for maps that stop at one)."""
    return isinstance(x, FlatParams)


def has_flat(tree: Any) -> bool:
    """Whether any node of ``tree`` is a `FlatParams`."""
    return any(is_flat(x) for x in jax.tree.leaves(tree, is_leaf=is_flat))


def to_trees(tree: Any) -> Any:
    """``tree`` with every `FlatParams` in it replaced by its per-leaf views."""
    if not has_flat(tree):
        return tree
    return jax.tree.map(lambda x: x.tree() if is_flat(x) else x, tree, is_leaf=is_flat)


def pack_like(reference: Any, tree: Any) -> Any:
    """``tree`` (per-leaf) packed back wherever ``reference`` holds a `FlatParams`."""
    if not has_flat(reference):
        return tree
    return jax.tree.map(
        lambda r, t: FlatParams.from_tree(t, layout=r.layout) if is_flat(r) else t,
        reference,
        tree,
        is_leaf=is_flat,
    )


def per_leaf(transform: Any) -> Any:
    """``transform`` running on the per-leaf views when given `FlatParams`.

    The one mechanism by which a transform whose rule needs the original leaves (a shape,
    a per-leaf norm or trust ratio, a mask by path) handles `FlatParams`: ``init`` and
    ``update`` see the original trees (`FlatParams.tree`), and the updates are packed back
    into the layout of the given gradients. The state is the per-leaf one. Plain trees pass
    through at no cost.

    Args:
      transform: a ``GradientTransformation`` (any NamedTuple with ``init``, ``update``).

    Returns:
      The same kind of transformation.
    """
    inner_init, inner_update = transform.init, transform.update

    def init(params):
        return inner_init(to_trees(params))

    def update(updates, state, params=None, **extra_args):
        if not (has_flat(updates) or has_flat(params)):
            return inner_update(updates, state, params, **extra_args)
        new, state = inner_update(to_trees(updates), state, to_trees(params), **extra_args)
        return pack_like(updates, new), state

    return transform._replace(init=init, update=update)

"""`optx.flat`: an optimizer whose state lives in flat buffers, for loops with per-leaf params."""

from __future__ import annotations

from typing import Any

import jax

from optx import _validate
from optx._core import GradientTransformation, _accepting_extra_args
from optx._flat import MAX_PACKED_SIZE, FlatLayout, FlatParams, check_max_packed_size, pack

__all__ = ["FlatState", "flat"]


class FlatState:
    """State of `flat`: the inner state (built on `FlatParams`) and the static layout.

    Attributes:
      inner_state: the inner transformation's state; its param-shaped parts are
        `FlatParams` buffers.
      layout: the `FlatLayout` the gradients are packed into (static pytree data).
    """

    __slots__ = ("inner_state", "layout")

    def __init__(self, inner_state: Any, layout: FlatLayout):
        self.inner_state = inner_state
        self.layout = layout

    def __repr__(self) -> str:
        return f"FlatState(inner_state={self.inner_state!r}, layout={self.layout!r})"


jax.tree_util.register_pytree_with_keys(
    FlatState,
    lambda s: ([(jax.tree_util.GetAttrKey("inner_state"), s.inner_state)], s.layout),
    lambda layout, children: FlatState(next(iter(children)), layout),
    flatten_func=lambda s: ((s.inner_state,), s.layout),
)


@_validate.public_call("optx.flat")
def flat(
    inner: GradientTransformation, *, max_packed_size: int | None = MAX_PACKED_SIZE
) -> GradientTransformation:
    """Runs ``inner`` on flat buffers while the params and gradients stay ordinary trees.

    For Optax-style loops (``tx.update(grads, state, params)`` with per-leaf params): the
    state is built on `FlatParams` (1-D buffers per dtype and sharding group, of at most 64
    leaves each), each ``update`` packs the gradients (and the params, when given) into that
    layout, runs ``inner`` once per buffer, and returns per-leaf updates as views of the
    flat update. The per-leaf inputs and outputs cost one concatenation per shared buffer in
    and one slice per leaf out (XLA fuses each slice into the last elementwise step, so an
    Adam update is two buffer kernels plus one small kernel per leaf instead of three per
    leaf). Only the leaves of at most ``max_packed_size`` elements are packed: a larger leaf
    keeps a buffer of its own, which is a reshape of the leaf (no copy), since copying a
    large leaf in and out costs more than its per-leaf kernels save. Params are packed only
    when ``inner`` reads them (XLA drops an unused concatenation).

    Unlike `optx.flatten`, dtypes are not mixed (a bf16 and an f32 leaf go to different
    buffers), a sharded group keeps a sharded buffer, and transforms whose rule needs the
    original leaves (LAMB and LARS trust ratios, per-leaf clipping, Adafactor, masks by
    path) still compute per leaf (see `FlatParams`). When the params themselves can be kept
    as a `FlatParams` (``jax.grad`` of ``loss(fp.tree())``), pass them to ``inner``
    directly: the slices and the concatenation go away too.

    Args:
      inner: the transformation to run on the flat buffers.
      max_packed_size: keyword-only; leaves with more elements than this get a buffer each
        (as in `FlatParams.from_tree`); ``None`` packs every leaf.

    Returns:
      A transformation with state `FlatState`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.flat(optx.adam(0.1))
      >>> params = {"b": jnp.zeros(2), "w": jnp.ones((2, 2))}
      >>> state = tx.init(params)
      >>> [m.shape for m in state.inner_state[0].mu.buffers]
      [(6,)]
      >>> updates, state = tx.update(params, state, params)
      >>> updates["w"]
      Array([[-0.1, -0.1],
             [-0.1, -0.1]], dtype=float32)
    """
    _validate.check_transformation("optx.flat", "inner", inner)
    check_max_packed_size("optx.flat", max_packed_size)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        fp = FlatParams.from_tree(params, max_packed_size=max_packed_size)
        return FlatState(inner.init(fp), fp.layout)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, FlatState):
            raise ValueError(
                f"optx.flat: the state is {type(state).__name__}, not a FlatState; pass the "
                "state that this transformation's init returned"
            )
        layout = state.layout
        grads = pack("optx.flat", updates, layout)
        flat_params = None if params is None else pack("optx.flat", params, layout)
        new, inner_state = inner_update(grads, state.inner_state, flat_params, **extra_args)
        return new.tree(), FlatState(inner_state, layout)

    return GradientTransformation(init, update)

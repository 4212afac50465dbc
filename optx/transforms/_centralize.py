"""Gradient centralization: remove each output unit's mean gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._core import EmptyState, GradientTransformation


@_validate.public_call("optx.centralize")
def centralize(*, unit_axis: int = -1) -> GradientTransformation:
    """Subtracts from each multi-dimensional leaf its mean over every axis but ``unit_axis``.

    Update rule, for leaves of rank >= 2 (vectors and scalars pass through)::

        u = g - mean(g, axis=all axes except unit_axis, keepdims=True)

    The mean has the reduced shape and is broadcast in the subtraction. The default
    ``unit_axis=-1`` centralizes per output unit for kernels laid out output-last (Flax's
    ``(in, out)`` dense and ``HWIO`` conv kernels, the layout `adaptive_grad_clip` also
    assumes). The paper and Optax's ``centralize`` keep axis 0 (PyTorch's
    ``(out, in, ...)`` layout): pass ``unit_axis=0`` for that.

    Args:
      unit_axis: the axis indexing output units (keyword-only).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.centralize()
      >>> tx.update(jnp.array([[1.0, 2.0], [3.0, 6.0]]), tx.init(None))[0]
      Array([[-1., -2.],
             [ 1.,  2.]], dtype=float32)

    References:
      Yong et al., 2020, Gradient Centralization: A New Optimization Technique for Deep
      Neural Networks, https://arxiv.org/abs/2004.01461
    """
    if isinstance(unit_axis, bool) or not isinstance(unit_axis, int):
        raise TypeError(
            f"{_validate.current_call('optx.centralize')}: unit_axis must be an int, "
            f"got {unit_axis!r}"
        )

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args

        def one(g):
            if g.ndim < 2:
                return g
            if not -g.ndim <= unit_axis < g.ndim:
                raise ValueError(
                    f"optx.centralize: unit_axis={unit_axis} is out of range for an update "
                    f"of shape {g.shape}"
                )
            keep = unit_axis % g.ndim
            axes = tuple(a for a in range(g.ndim) if a != keep)
            wide = _tree.wide_dtype(g)
            mean = jnp.mean(g.astype(wide), axis=axes, keepdims=True)
            return (g.astype(wide) - mean).astype(g.dtype)

        return jax.tree.map(one, updates), state

    return _flat.per_leaf(GradientTransformation(init, update))

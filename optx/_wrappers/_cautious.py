"""Cautious optimizers: drop the update components that disagree with the gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._core import GradientTransformation, _accepting_extra_args


class CautiousState(NamedTuple):
    """State of `cautious`: the inner transformation's state, unchanged."""

    inner_state: Any


@_validate.public_call("optx.cautious")
def cautious(
    inner: GradientTransformation, eps: float = 1e-8, *, inner_output: str = "updates"
) -> GradientTransformation:
    """Keeps the components of ``inner``'s update that agree with the gradient (Liang et al.).

    Update rule, per leaf (``g`` the incoming gradient, ``u`` the inner update)::

        phi = (u * g < 0)          (inner_output="updates": u is added to the params)
        phi = (u * g > 0)          (inner_output="directions": u is a descent direction)
        u = u * phi / (mean(phi) + eps)

    A component is kept where the step it makes lowers the loss to first order. optx
    updates are the signed steps added to the params (the negative of the descent direction,
    after `scale_by_learning_rate`), so for an optimizer (``optx.adamw(...)``) the step
    agrees with descent where ``u * g < 0``; for a ``scale_by_*`` transform, whose output is
    the descent direction (the paper's ``u``), pass ``inner_output="directions"``. The mean
    is over each leaf (the paper's per-tensor ``m.mean()``). For complex params ``u * g`` is
    read as ``Re(u * conj(g))``.

    ``cautious(optx.adamw(lr, weight_decay=wd))`` masks the decay with the rest of the
    update; the paper's C-AdamW masks only the Adam direction and decays unmasked:
    ``chain(cautious(scale_by_adam(), inner_output="directions"), add_decayed_weights(wd),
    scale_by_learning_rate(lr))``. The state is the inner state in a `CautiousState`, so
    its masks, schedules, `optx.get_hyperparams` and `optx.set_hyperparams` work as on the
    inner transformation. No extra state.

    Args:
      inner: the transformation to make cautious.
      eps: >= 0, keeps the rescaling finite when no component is kept (the paper's
        ``eps``, value unstated; an earlier form, ``size / (nnz(phi) + 1)``, is
        ``eps = 1/size``).
      inner_output: ``"updates"`` (the default: ``inner`` returns steps to add to the
        params) or ``"directions"`` (it returns descent directions).

    Raises:
      ValueError: a negative ``eps`` or an unknown ``inner_output``.
      TypeError: ``inner`` is not a gradient transformation.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.cautious(optx.sgd(1.0, momentum=0.9))
      >>> state = tx.init(jnp.zeros(2))
      >>> _, state = tx.update(jnp.array([1.0, 1.0]), state)
      >>> u, state = tx.update(jnp.array([1.0, -0.5]), state)  # momentum 1.9, 0.4
      >>> u
      Array([-3.8,  0. ], dtype=float32)

    References:
      Liang et al., 2024, Cautious Optimizers: Improving Training with One Line of Code,
      https://arxiv.org/abs/2411.16085
    """
    call = "optx.cautious"
    _validate.check_transformation(call, "inner", inner)
    _validate.check_non_negative(call, "eps", eps)
    _validate.check_choice(call, "inner_output", inner_output, ("updates", "directions"))
    descent_sign = -1.0 if inner_output == "updates" else 1.0
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        return CautiousState(inner.init(params))

    def update(updates, state, params=None, **extra_args):
        new, inner_state = inner_update(updates, state.inner_state, params, **extra_args)
        _tree.check_structure(call, updates, new)

        def one(u, g):
            if u.size == 0:
                return u
            wide = _tree.wide_dtype(u)
            real = _tree.real_dtype(wide)
            agree = jnp.real(u.astype(wide) * jnp.conj(g.astype(wide))) * descent_sign > 0
            scale = 1 / (jnp.mean(agree.astype(real)) + jnp.asarray(eps, real))
            kept = u.astype(wide) * scale.astype(wide)
            return jnp.where(agree, kept, jnp.zeros_like(kept)).astype(u.dtype)

        return jax.tree.map(one, new, updates), CautiousState(inner_state)

    return _flat.per_leaf(GradientTransformation(init, update))

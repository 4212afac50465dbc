"""AdaDelta: a step size from the ratio of two running root-mean-squares."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByAdadeltaState(NamedTuple):
    """State of `scale_by_adadelta`: running averages of squared gradients and updates."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    e_g: Any
    e_x: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_adadelta")
def scale_by_adadelta(
    rho: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-6,
) -> GradientTransformation:
    """Scales updates by AdaDelta's ratio of update RMS to gradient RMS (Zeiler, 2012).

    Update rule::

        e_g = rho * e_g + (1 - rho) * g**2
        u = sqrt(e_x + eps) / sqrt(e_g + eps) * g          (e_x from the previous step)
        e_x = rho * e_x + (1 - rho) * u**2

    Same as Optax, PyTorch and MXNet (MXNet 1.x defaults ``eps=1e-5``). Returns a descent
    direction; `optx.adadelta` multiplies it by ``-learning_rate`` (default 1).

    Args:
      rho: decay of both averages, in [0, 1).
      eps: > 0, inside both roots (it also sets the size of the first steps).

    Raises:
      ValueError: rho outside [0, 1) or eps <= 0.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_adadelta(rho=0.5, eps=1.0)
      >>> tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0]
      Array([0.8164966], dtype=float32)

    References:
      Zeiler, 2012, ADADELTA: An Adaptive Learning Rate Method,
      https://arxiv.org/abs/1212.5701
    """
    call = "optx.scale_by_adadelta"
    hyperparams = Hyperparams(
        call, constraints={"eps": _constraints.POSITIVE}, rho=rho, eps=eps, decays=("rho",)
    )

    def init(params):
        return ScaleByAdadeltaState(
            hyperparams.init_count(params),
            _tree.moments_like(params, real=True),
            _tree.moments_like(params, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.e_g, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        e_g = h.moment("rho", state.e_g, updates, order=2)

        def one(g, e_g, e_x):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            rho_, eps_ = h["rho"].astype(rw), h["eps"].astype(rw)
            c = h.complement("rho").astype(rw)
            ratio = jnp.sqrt(e_x.astype(rw) + eps_) * jax.lax.rsqrt(e_g.astype(rw) + eps_)
            u = ratio.astype(wide) * gw
            e_x = (rho_ * e_x.astype(rw) + c * _tree.abs_sq(u)).astype(e_x.dtype)
            return u.astype(g.dtype), e_x

        updates, e_x = _tree.map_unzip(one, 2, updates, e_g, state.e_x)
        return updates, ScaleByAdadeltaState(h.count, e_g, e_x, h.state)

    return GradientTransformation(init, update)

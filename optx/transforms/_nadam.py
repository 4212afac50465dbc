"""NAdam: Adam with Nesterov momentum and a momentum schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms._adam_common import ema_into


class ScaleByNadamState(NamedTuple):
    """State of `scale_by_nadam`: both moments and the product of the momentum schedule."""

    count: jax.Array
    mu: Any
    nu: Any
    mu_product: jax.Array
    hyperparams: HyperparamsState


def _check_betas(call: str, b1: Any, b2: Any) -> None:
    _validate.check_unit_interval(call, "b1", b1)
    _validate.check_unit_interval(call, "b2", b2)


@_validate.public_call("optx.scale_by_nadam")
def scale_by_nadam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    schedule_decay: ScalarOrSchedule = 0.004,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Scales updates by NAdam: Nesterov momentum in Adam, with Dozat's momentum schedule.

    Update rule (t the 1-based update count, sd = schedule_decay)::

        mu_t = b1 * (1 - 0.5 * 0.96**(t * sd))          (mu_t = b1 when sd == 0)
        M_t = M_{t-1} * mu_t                             (M_0 = 1, kept in the state)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        u = ((1 - mu_t) / (1 - M_t) * g + mu_{t+1} / (1 - M_t * mu_{t+1}) * m)
            / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    Defaults are MXNet's, Keras's and PyTorch's (``schedule_decay`` is PyTorch's
    ``momentum_decay``). The product ``M_t`` is a scalar in this transform's state, advanced
    once per update; MXNet keeps one product shared by every parameter and advances it once
    per parameter, so MXNet's result depends on the number of parameters (a bug not
    reproduced here). ``schedule_decay=0`` turns the schedule off (``mu_t = b1``), which is
    Optax's `nadam` (``adam(nesterov=True)``); note that the formula itself tends to
    ``b1 / 2``, not ``b1``, as sd goes to 0.

    Args:
      b1, b2: moment decays in [0, 1).
      eps, eps_root: >= 0, outside and inside the root.
      schedule_decay: >= 0, the momentum schedule's decay (0: no schedule).
      mu_dtype, nu_dtype: moment dtypes (default float32).

    Raises:
      ValueError: a beta outside [0, 1), or a negative eps or schedule_decay.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_nadam()
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]
      Array([1.05645...], dtype=float32)

    References:
      Dozat, 2016, Incorporating Nesterov Momentum into Adam,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    call = "optx.scale_by_nadam"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    _validate.check_float_dtype(call, "nu_dtype", nu_dtype)
    _check_betas(call, b1, b2)
    for name, value in (("eps", eps), ("eps_root", eps_root), ("schedule_decay", schedule_decay)):
        _validate.check_non_negative(call, name, value)
    hyperparams = Hyperparams(
        call,
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        schedule_decay=schedule_decay,
        decays=("b1", "b2"),
    )

    def init(params):
        return ScaleByNadamState(
            _tree.zero_count(params),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params, nu_dtype, real=True),
            _tree.place(
                jnp.ones([], _tree.scalar_dtype(params)), _tree.replicated_sharding(params)
            ),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        t = count.astype(h["b1"].dtype)
        b1_, sd = h["b1"], h["schedule_decay"]

        def momentum(step):
            return jnp.where(sd > 0, b1_ * (1 - 0.5 * 0.96 ** (step * sd)), b1_)

        one_minus_b1 = h.complement("b1")
        one_minus_b2 = h.complement("b2")
        mu_t, mu_next = momentum(t), momentum(t + 1)
        product = state.mu_product * mu_t
        c_g = jnp.where(sd > 0, 1 - mu_t, one_minus_b1) / (1 - product)
        c_m = mu_next / (1 - product * mu_next)
        c2 = 1 / h.bias_correction("b2")

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            m = ema_into(one_minus_b1, m, gw, wide)
            v = ema_into(one_minus_b2, v, _tree.abs_sq(gw), rw)
            denom = (jnp.sqrt(c2 * v.astype(rw) + h["eps_root"]) + h["eps"]).astype(wide)
            num = c_g.astype(wide) * gw + c_m.astype(wide) * m.astype(wide)
            return (num / denom).astype(g.dtype), m, v

        updates, mu, nu = _tree.map_unzip(one, 3, updates, state.mu, state.nu)
        return updates, ScaleByNadamState(count, mu, nu, product, h.state)

    return GradientTransformation(init, update)

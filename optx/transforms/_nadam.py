"""NAdam: Adam with Nesterov momentum and a momentum schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByNadamState(NamedTuple):
    """State of `scale_by_nadam`: both moments and the product of the momentum schedule."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    mu_product: jax.Array
    hyperparams: HyperparamsState


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
    hyperparams = Hyperparams(
        call,
        decays=("b1", "b2"),
        constraints={"schedule_decay": _constraints.NON_NEGATIVE},
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        schedule_decay=schedule_decay,
    )

    def init(params):
        mu, nu = moments_like(params, mu_dtype), moments_like(params, nu_dtype, real=True)
        product = _tree.place(
            jnp.ones([], _tree.scalar_dtype(params)), _tree.replicated_sharding(params)
        )
        count, hp = hyperparams.init_count(params), hyperparams.init(params)
        return ScaleByNadamState(count, mu, nu, product, hp)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        nu = h.moment("b2", state.nu, updates, order=2)
        t = h.count.astype(h["b1"].dtype)
        b1_, sd = h["b1"], h["schedule_decay"]

        def momentum(step):
            return jnp.where(sd > 0, b1_ * (1 - 0.5 * 0.96 ** (step * sd)), b1_)

        mu_t, mu_next = momentum(t), momentum(t + 1)
        product = state.mu_product * mu_t
        c_g = jnp.where(sd > 0, 1 - mu_t, h.complement("b1")) / (1 - product)
        c_m = mu_next / (1 - product * mu_next)
        c2 = 1 / h.bias_correction("b2")

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            denom = (jnp.sqrt(c2 * v.astype(rw) + h["eps_root"]) + h["eps"]).astype(wide)
            num = c_g.astype(wide) * g.astype(wide) + c_m.astype(wide) * m.astype(wide)
            return (num / denom).astype(g.dtype)

        updates = jax.tree.map(one, updates, mu, nu)
        return updates, ScaleByNadamState(h.count, mu, nu, product, h.state)

    return GradientTransformation(init, update)

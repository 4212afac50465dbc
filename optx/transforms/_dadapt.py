"""D-Adaptation for AdamW: the step size d estimated from a lower bound on the distance."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._constraints import POSITIVE
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms._prodigy import _betas, _leaf_sum


class ScaleByDAdaptAdamWState(NamedTuple):
    """State of `scale_by_dadapt_adamw` (field names as Optax's ``DAdaptAdamWState``).

    Attributes:
      count: updates applied.
      exp_avg: first moment of ``d * gamma * g`` (float32 at least).
      exp_avg_sq: second moment of ``g``.
      grad_sum: the weighted sum ``s`` of ``d * gamma * g``.
      estim_lr: the step size estimate ``d`` (a scalar where the params' scalars are).
      numerator_weighted: the weighted sum ``r`` of ``<g, s>`` in the Adam metric.
      hyperparams: holds ``learning_rate``, ``beta1``, ``beta2``, ``eps``, ``estim_lr0``,
        ``weight_decay``.
    """

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_dadapt_adamw")
def scale_by_dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Scales updates by D-Adaptation's estimated step size, Adam form (Defazio and
    Mishchenko, 2023).

    The descent direction of `optx.dadapt_adamw` (the alias negates it). Update rule, with
    ``k`` the 0-based count, ``t = k + 1``, ``gamma = learning_rate(k) * sqrt(1 -
    beta2**t) / (1 - beta1**t)``, ``q = sqrt(beta2)`` and ``d`` the estimate (``estim_lr``,
    starting at ``estim_lr0``)::

        r = q * r + (1 - q) * d * gamma * <g, s / (sqrt(v) + eps)>   (s, v before the step)
        m = beta1 * m + (1 - beta1) * d * gamma * g
        v = beta2 * v + (1 - beta2) * g**2
        s = q * s + (1 - q) * d * gamma * g
        d_new = max(d, r / ((1 - q) * ||s||_1))
        u = m / (sqrt(v) + eps) + weight_decay * d * gamma * x

    The paper's Adam version (its Algorithm 5 in the appendix) with ``gamma_k`` the
    bias-corrected rate above, as Optax's ``optax.contrib.dadapt_adamw`` and the authors'
    code compute it. Argument names, defaults and meanings are Optax's. Where ``||s||_1``
    is 0 (every gradient zero so far) ``d`` is kept, where Optax's becomes NaN. The inner
    products, the norm and ``d`` are float32 at least (float64 for float64 params).

    State: three moments in float32 at least and two scalars.

    Args:
      learning_rate: the schedule multiplier of ``d`` (1.0: let d set the step), >= 0.
      betas: ``(beta1, beta2)``, Adam's decays, each in [0, 1).
      eps: >= 0, added to ``sqrt(v)``.
      estim_lr0: the initial (under-)estimate ``d0`` of the step size, > 0.
      weight_decay: >= 0, decoupled (AdamW), multiplied by ``d * gamma``.

    Raises:
      ValueError: bad hyperparameters or ``betas`` not a pair; ``update`` called without
        params.
      TypeError: at init, complex params (``<g, s>`` and ``||s||_1`` are real).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_dadapt_adamw(estim_lr0=1.0)
      >>> x = jnp.array([1.0, 2.0])
      >>> u, state = tx.update(jnp.array([1.0, -1.0]), tx.init(x), x)
      >>> u  # first step: d0 * gamma * sign-like Adam direction
      Array([ 1., -1.], dtype=float32)

    References:
      Defazio and Mishchenko, 2023, Learning-Rate-Free Learning by D-Adaptation,
      https://arxiv.org/abs/2301.07733
    """
    call = "optx.scale_by_dadapt_adamw"
    beta1, beta2 = _betas(_validate.current_call(call), betas)
    hyperparams = Hyperparams(
        call,
        decays=("beta1", "beta2"),
        constraints={"estim_lr0": POSITIVE},
        learning_rate=learning_rate,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        estim_lr0=estim_lr0,
        weight_decay=weight_decay,
    )

    def init(params):
        _validate.refuse_complex(
            hyperparams.call,
            params,
            "its step size estimate d = max(d, r / ||s||_1) orders the real inner products <g, s>",
        )
        hp = hyperparams.init(params)
        sharding = _tree.replicated_sharding(params)
        return ScaleByDAdaptAdamWState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            _tree.place(jnp.array(hp.values["estim_lr0"], copy=True), sharding),  # own buffer
            _tree.place(jnp.zeros([], _tree.scalar_dtype(params)), sharding),
            hp,
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(hyperparams.call, params)
        _tree.check_structure(hyperparams.call, state.exp_avg, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        d = state.estim_lr
        dtype = jnp.result_type(d)
        bc = jnp.sqrt(h.bias_correction("beta2")) / h.bias_correction("beta1")
        dlr = d * h["learning_rate"] * bc
        b1, b2, c1, c2 = h["beta1"], h["beta2"], h.complement("beta1"), h.complement("beta2")
        q = jnp.sqrt(b2)
        one_minus_q = c2 / (1 + q)  # 1 - sqrt(b2), without cancellation
        eps, wd = h["eps"], h["weight_decay"]

        def weighted(g, s, v):
            wide = s.dtype
            return g.astype(wide) * (s / (jnp.sqrt(v) + eps.astype(wide)))

        inner = _leaf_sum(weighted, updates, state.grad_sum, state.exp_avg_sq, dtype=dtype)

        def moments(g, m, v, s):
            wide = m.dtype
            g = g.astype(wide)
            m = b1.astype(wide) * m + (c1 * dlr).astype(wide) * g
            v = b2.astype(wide) * v + c2.astype(wide) * g * g
            s = q.astype(wide) * s + (one_minus_q * dlr).astype(wide) * g
            return m, v, s

        exp_avg, exp_avg_sq, grad_sum = _tree.map_unzip(
            moments, 3, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum
        )
        r = q * state.numerator_weighted + one_minus_q * dlr * inner
        norm = one_minus_q * _leaf_sum(jnp.abs, grad_sum, dtype=dtype)
        estimate = r / jnp.where(norm > 0, norm, jnp.ones_like(norm))
        d_new = jnp.where(norm > 0, jnp.maximum(d, estimate), d)

        def direction(g, m, v, p):
            wide = m.dtype
            step = m / (jnp.sqrt(v) + eps.astype(wide)) + (wd * dlr).astype(wide) * p.astype(wide)
            return step.astype(g.dtype)

        out = jax.tree.map(direction, updates, exp_avg, exp_avg_sq, params)
        new_state = ScaleByDAdaptAdamWState(
            h.count, exp_avg, exp_avg_sq, grad_sum, d_new, r, h.state
        )
        return out, new_state

    return GradientTransformation(init, update)

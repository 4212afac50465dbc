"""Prodigy: Adam whose step size d is estimated from the distance travelled from the start."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._constraints import NON_NEGATIVE, POSITIVE
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByProdigyState(NamedTuple):
    """State of `scale_by_prodigy` (field names as Optax's ``ProdigyState``).

    Attributes:
      count: updates applied.
      exp_avg: first moment of ``d * g`` (float32 at least).
      exp_avg_sq: second moment of ``d * g``.
      grad_sum: the weighted sum ``s`` of ``d * g`` (the denominator ``||s||_1`` of d).
      params0: the initial params ``x0`` (float32 at least).
      estim_lr: the step size estimate ``d`` (a scalar where the params' scalars are).
      numerator_weighted: the weighted sum ``r`` of ``<g, x0 - x>`` (the numerator of d).
      hyperparams: holds ``learning_rate``, ``beta1``, ``beta2``, ``beta3``, ``eps``,
        ``estim_lr0``, ``estim_lr_coef``, ``weight_decay``.
    """

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    hyperparams: HyperparamsState


def _sqrt_of(value: Any) -> Any:
    """``sqrt`` of a float, an array or a schedule's value (Prodigy's default beta3)."""
    if callable(value):
        return lambda count: jnp.sqrt(jnp.asarray(value(count), jnp.float32))
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        return jnp.sqrt(value)
    return float(value) ** 0.5


def _betas(call: str, betas: Any) -> tuple[Any, Any]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{call}: betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]


def _leaf_sum(fn, *trees: Any, dtype: Any) -> jax.Array:
    """``sum over leaves of sum(fn(*leaf))``, each leaf summed in its own wide dtype."""
    sums = jax.tree.leaves(jax.tree.map(lambda *xs: jnp.sum(fn(*xs)).astype(dtype), *trees))
    return sum(sums, jnp.zeros([], dtype))


@_validate.public_call("optx.scale_by_prodigy")
def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    beta3: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    estim_lr_coef: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Scales updates by Prodigy's estimated step size (Mishchenko and Defazio, 2023).

    The descent direction of `optx.prodigy` (the alias negates it). Update rule, with ``k``
    the 0-based count, ``t = k + 1``, ``gamma = learning_rate(k) * sqrt(1 - beta2**t) /
    (1 - beta1**t)`` and ``d`` the estimate (``estim_lr``, starting at ``estim_lr0``)::

        m = beta1 * m + (1 - beta1) * d * g
        v = beta2 * v + (1 - beta2) * (d * g)**2
        s = beta3 * s + (d * gamma / d0) * d * g            (d instead of d * gamma with
                                                             safeguard_warmup)
        r = beta3 * r + (d * gamma / d0) * d * <g, x0 - x>
        d_new = max(d, estim_lr_coef * r / ||s||_1)
        u = d * gamma * (m / (sqrt(v) + d_new * eps) + weight_decay * x)

    The paper's Algorithm 3 (Adam version) with its step size ``gamma_k`` taken as the
    bias-corrected rate above and its factors ``(1 - sqrt(beta2))`` dropped (they cancel
    in ``r / ||s||_1``), as Optax's ``optax.contrib.prodigy`` and the authors' code
    compute it; eps is scaled by the new ``d``, as there. Argument names, defaults and
    meanings are Optax's; ``beta3=None`` means ``sqrt(beta2)``. Where ``||s||_1`` is 0
    (every gradient zero so far) ``d`` is kept, where Optax's becomes NaN. The inner
    products, the norm and ``d`` are float32 at least (float64 for float64 params).

    State: three moments and a copy of the params, in float32 at least, and two scalars.

    Args:
      learning_rate: the schedule multiplier of ``d`` (1.0: let d set the step), >= 0.
      betas: ``(beta1, beta2)``, Adam's decays, each in [0, 1).
      beta3: decay of ``r`` and ``s``, in [0, 1); None for ``sqrt(beta2)``.
      eps: >= 0, added to ``sqrt(v)`` scaled by ``d``.
      estim_lr0: the initial (under-)estimate ``d0`` of the step size, > 0.
      estim_lr_coef: multiplies each new estimate of ``d``, >= 0.
      weight_decay: >= 0, decoupled (AdamW), multiplied by ``d * gamma``.
      safeguard_warmup: leave ``gamma`` out of ``s`` (steadier estimates during a warmup).

    Raises:
      ValueError: bad hyperparameters or ``betas`` not a pair; ``update`` called without
        params.
      TypeError: at init, complex params (``<g, x0 - x>`` and ``||s||_1`` are real).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_prodigy()
      >>> x = jnp.array([1.0, 2.0])
      >>> u, state = tx.update(jnp.array([1.0, -1.0]), tx.init(x), x)
      >>> u  # first step: d0 * gamma * sign-like Adam direction
      Array([ 1.e-06, -1.e-06], dtype=float32)

    References:
      Mishchenko and Defazio, 2023, Prodigy: An Expeditiously Adaptive Parameter-Free
      Learner, https://arxiv.org/abs/2306.06101
    """
    call = "optx.scale_by_prodigy"
    _validate.check_choice(call, "safeguard_warmup", safeguard_warmup, (False, True))
    beta1, beta2 = _betas(_validate.current_call(call), betas)
    if beta3 is None:
        _validate.check_number(call, "betas[1]", beta2)
        beta3 = _sqrt_of(beta2)
    hyperparams = Hyperparams(
        call,
        decays=("beta1", "beta2", "beta3"),
        constraints={"estim_lr0": POSITIVE, "estim_lr_coef": NON_NEGATIVE},
        learning_rate=learning_rate,
        beta1=beta1,
        beta2=beta2,
        beta3=beta3,
        eps=eps,
        estim_lr0=estim_lr0,
        estim_lr_coef=estim_lr_coef,
        weight_decay=weight_decay,
    )

    def init(params):
        _validate.refuse_complex(
            hyperparams.call,
            params,
            "its step size estimate d = max(d, r / ||s||_1) orders the real inner products "
            "<g, x0 - x>",
        )
        hp = hyperparams.init(params)
        sharding = _tree.replicated_sharding(params)
        dtype = _tree.scalar_dtype(params)
        params0 = jax.tree.map(
            lambda p: jnp.array(p, dtype=_tree.wide_dtype(jnp.result_type(p)), copy=True), params
        )
        return ScaleByProdigyState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            params0,
            _tree.place(jnp.array(hp.values["estim_lr0"], copy=True), sharding),  # own buffer
            _tree.place(jnp.zeros([], dtype), sharding),
            hp,
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(hyperparams.call, params)
        _tree.check_structure(hyperparams.call, state.exp_avg, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        d, d0 = state.estim_lr, h["estim_lr0"]
        dtype = jnp.result_type(d)
        bc = jnp.sqrt(h.bias_correction("beta2")) / h.bias_correction("beta1")
        dlr = d * h["learning_rate"] * bc
        b1, b2, b3 = h["beta1"], h["beta2"], h["beta3"]
        c1, c2 = h.complement("beta1"), h.complement("beta2")
        s_weight = (d if safeguard_warmup else dlr) / d0

        def moments(g, m, v, s):
            wide = _tree.wide_dtype(m.dtype)
            dg = d.astype(wide) * g.astype(wide)
            m = b1.astype(wide) * m + c1.astype(wide) * dg
            v = b2.astype(wide) * v + c2.astype(wide) * dg * dg
            s = b3.astype(wide) * s + s_weight.astype(wide) * dg
            return m, v, s

        exp_avg, exp_avg_sq, grad_sum = _tree.map_unzip(
            moments, 3, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum
        )
        wide_of = lambda x: x.astype(_tree.wide_dtype(x.dtype))  # noqa: E731
        inner = _leaf_sum(
            lambda g, p0, p: wide_of(g) * (p0 - wide_of(p)),
            updates,
            state.params0,
            params,
            dtype=dtype,
        )
        r = b3 * state.numerator_weighted + (d / d0) * dlr * inner
        norm = _leaf_sum(jnp.abs, grad_sum, dtype=dtype)
        estimate = h["estim_lr_coef"] * r / jnp.where(norm > 0, norm, jnp.ones_like(norm))
        d_new = jnp.where(norm > 0, jnp.maximum(d, estimate), d)
        eps_d, wd = d_new * h["eps"], h["weight_decay"]

        def direction(g, m, v, p):
            wide = m.dtype
            step = m / (jnp.sqrt(v) + eps_d.astype(wide)) + wd.astype(wide) * p.astype(wide)
            return (dlr.astype(wide) * step).astype(g.dtype)

        out = jax.tree.map(direction, updates, exp_avg, exp_avg_sq, params)
        new_state = ScaleByProdigyState(
            h.count, exp_avg, exp_avg_sq, grad_sum, state.params0, d_new, r, h.state
        )
        return out, new_state

    return GradientTransformation(init, update)

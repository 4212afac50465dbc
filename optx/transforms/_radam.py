"""Rectified Adam (RAdam), with fastai's softplus option."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByRadamState(NamedTuple):
    """State of `scale_by_radam`: both moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_radam")
def scale_by_radam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: ScalarOrSchedule = 5.0,
    *,
    softplus_beta: ScalarOrSchedule = 0.0,
    eps_convention: str = "corrected",
) -> GradientTransformation:
    """Scales updates by Rectified Adam: Adam's step times a variance rectification.

    Update rule (t the 1-based update count)::

        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        m_hat = m / (1 - b1**t),  v_hat = v / (1 - b2**t)    (Adam's moments)
        d = sqrt(v_hat + eps_root) + eps
        d = log(1 + exp(softplus_beta * d)) / softplus_beta  (only when softplus_beta > 0)
        u = r_t * m_hat / d      where rho_t >= threshold, with
        r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
        u = m_hat                otherwise (momentum SGD while the variance is intractable)

    Defaults are Optax's (threshold 5, no softplus); the paper's threshold is 4. fastai's
    ``RAdam(lr, mom, sqr_mom=0.99, eps=1e-5, beta)`` is ``radam(lr, b1=mom, b2=0.99,
    eps=1e-5, softplus_beta=beta)`` (fastai tests ``rho_t > 5``, Optax ``>=``: equal
    except exactly at the threshold). The rectification is a scalar multiplier.

    ``eps_convention="hat"`` puts eps on the root of the uncorrected moment, with the
    correction outside: ``d = (sqrt(v + eps_root) + eps) / sqrt(1 - b2**t)``, PyTorch's
    placement. torch.optim.RAdam(lr, betas, eps): use ``radam(lr, b1, b2, eps,
    eps_convention="hat")`` (PyTorch rectifies when ``rho_t > 5``, optx when ``>= 5``:
    equal except exactly at the threshold).

    Args:
      b1, b2: moment decays in [0, 1).
      eps, eps_root: >= 0, outside and inside the root.
      threshold: rectify once ``rho_t >= threshold`` (> 4 keeps r_t real).
      softplus_beta: >= 0; fastai's ``beta``: smooth the denominator with a softplus of
        sharpness ``softplus_beta`` (Tong et al., 2019). 0 turns it off.
      eps_convention: ``"corrected"`` (Optax, fastai) or ``"hat"`` (PyTorch), as above.

    Raises:
      ValueError: a beta outside [0, 1), a negative eps or softplus_beta, a threshold
        <= 4, or an unknown eps_convention.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_radam()
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # step 1: not rectified
      Array([2.], dtype=float32)

    References:
      Liu et al., 2020, On the Variance of the Adaptive Learning Rate and Beyond,
      https://arxiv.org/abs/1908.03265
      Tong et al., 2019, Calibrating the Adaptive Learning Rate to Improve Convergence of
      ADAM, https://arxiv.org/abs/1908.00700
    """
    call = "optx.scale_by_radam"
    use_softplus = _validate.concrete_scalar(softplus_beta) != 0.0
    _validate.check_choice(call, "eps_convention", eps_convention, ("corrected", "hat"))
    eps_hat = eps_convention == "hat"
    hyperparams = Hyperparams(
        call,
        constraints={
            "threshold": _constraints.Constraint(4.0, low_open=True),
            "softplus_beta": _constraints.NON_NEGATIVE,
        },
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        threshold=threshold,
        softplus_beta=softplus_beta,
        decays=("b1", "b2"),
    )

    def init(params):
        mu, nu = moments_like(params), moments_like(params, real=True)
        return ScaleByRadamState(hyperparams.init_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        nu = h.moment("b2", state.nu, updates, order=2)
        t = h.count.astype(h["b2"].dtype)
        c1 = 1 / h.bias_correction("b1")
        corr2 = h.bias_correction("b2")
        c2 = 1 / corr2
        rho_inf = 2 / h.complement("b2") - 1
        rho = rho_inf - 2 * t * (1 - corr2) / corr2
        rectify = rho >= h["threshold"]
        ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
        r = jnp.sqrt(jnp.where(rectify, ratio, 1.0))
        beta = h["softplus_beta"]
        safe_beta = jnp.where(beta > 0, beta, 1.0)

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            m_hat = c1.astype(wide) * m.astype(wide)
            if eps_hat:
                denom = (jnp.sqrt(v.astype(rw) + h["eps_root"]) + h["eps"]) * jnp.sqrt(c2)
            else:
                denom = jnp.sqrt(c2 * v.astype(rw) + h["eps_root"]) + h["eps"]
            if use_softplus:
                smooth = jnp.logaddexp(safe_beta * denom, 0.0) / safe_beta
                denom = jnp.where(beta > 0, smooth, denom)
            u = jnp.where(rectify, r.astype(wide) * m_hat / denom.astype(wide), m_hat)
            return u.astype(g.dtype)

        updates = jax.tree.map(one, updates, mu, nu)
        return updates, ScaleByRadamState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

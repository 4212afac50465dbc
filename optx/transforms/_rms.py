"""RMSProp: scaling by a moving root mean square, plain and centered (by the stddev)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByRmsState(NamedTuple):
    """State of `scale_by_rms`: the second moment."""

    count: jax.Array
    nu: Any
    hyperparams: HyperparamsState


class ScaleByStddevState(NamedTuple):
    """State of `scale_by_stddev`: first and second moments."""

    count: jax.Array
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


def _wide(x: jax.Array) -> Any:
    return _tree.wide_dtype(x)


def _rms_denominator(v, h, wide, eps_in_sqrt):
    if eps_in_sqrt:
        return jax.lax.rsqrt(v + h["eps"].astype(wide))
    return 1 / (jnp.sqrt(v) + h["eps"].astype(wide))


@_validate.public_call("optx.scale_by_rms")
def scale_by_rms(
    decay: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Scales updates by the root of a moving average of squared gradients (RMSProp).

    Update rule::

        v = decay * v + (1 - decay) * g**2            (v starts at initial_scale)
        u = g / sqrt(v_hat + eps)                     (eps_in_sqrt=True: Optax, MXNet)
        u = g / (sqrt(v_hat) + eps)                   (eps_in_sqrt=False: PyTorch, fastai)

    with ``v_hat = v / (1 - decay**t)`` when ``bias_correction`` else ``v``.

    Args:
      decay: in [0, 1), hyperparameter ``decay``.
      eps: >= 0.
      initial_scale: the starting value of ``v`` (TensorFlow uses 1.0).
      eps_in_sqrt: where eps goes, see above.
      bias_correction: debias ``v`` as Adam does.

    References:
      Tieleman and Hinton, 2012, Lecture 6.5 - rmsprop, COURSERA: Neural Networks for
      Machine Learning.
    """
    call = "optx.scale_by_rms"
    _validate.check_non_negative(call, "initial_scale", initial_scale)
    hyperparams = Hyperparams(call, decay=decay, eps=eps, decays=("decay",))

    def init(params):
        nu = jax.tree.map(
            lambda x: jnp.full_like(x, initial_scale), _tree.moments_like(params, real=True)
        )
        return ScaleByRmsState(_tree.zero_count(params), nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.nu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        c2 = 1 / h.bias_correction("decay") if bias_correction else 1.0

        one_minus_d = h.complement("decay")

        def one(g, v):
            wide = _wide(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            d, c = h["decay"].astype(rw), one_minus_d.astype(rw)
            v = (d * v.astype(rw) + c * _tree.abs_sq(gw)).astype(v.dtype)
            u = gw * _rms_denominator(c2 * v.astype(rw), h, rw, eps_in_sqrt).astype(wide)
            return u.astype(g.dtype), v

        updates, nu = _tree.map_unzip(one, 2, updates, state.nu)
        return updates, ScaleByRmsState(count, nu, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.scale_by_stddev")
def scale_by_stddev(
    decay: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Scales updates by the root of a moving estimate of the gradient's variance.

    Centered RMSProp (Graves, 2013, eqs. 38-45)::

        m = decay * m + (1 - decay) * g
        v = decay * v + (1 - decay) * g**2            (v starts at initial_scale)
        u = g / sqrt(v - m**2 + eps)                  (eps_in_sqrt=True)
        u = g / (sqrt(v - m**2) + eps)                (eps_in_sqrt=False)

    With ``bias_correction`` both moments are debiased first.

    Args:
      decay: in [0, 1), hyperparameter ``decay``.
      eps: >= 0.
      initial_scale: the starting value of ``v``.
      eps_in_sqrt: where eps goes.
      bias_correction: debias ``m`` and ``v``.

    References:
      Graves, 2013, Generating Sequences With Recurrent Neural Networks,
      https://arxiv.org/abs/1308.0850
    """
    call = "optx.scale_by_stddev"
    _validate.check_non_negative(call, "initial_scale", initial_scale)
    hyperparams = Hyperparams(call, decay=decay, eps=eps, decays=("decay",))

    def init(params):
        mu = _tree.moments_like(params)
        nu = jax.tree.map(
            lambda x: jnp.full_like(x, initial_scale), _tree.moments_like(params, real=True)
        )
        return ScaleByStddevState(_tree.zero_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.nu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        c = 1 / h.bias_correction("decay") if bias_correction else 1.0

        one_minus_d = h.complement("decay")

        def one(g, m, v):
            wide = _wide(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            d, d_c = h["decay"].astype(rw), one_minus_d.astype(rw)
            m = (d.astype(wide) * m.astype(wide) + d_c.astype(wide) * gw).astype(m.dtype)
            v = (d * v.astype(rw) + d_c * _tree.abs_sq(gw)).astype(v.dtype)
            m_hat_sq = _tree.abs_sq(m.astype(wide)) * jnp.asarray(c, rw) ** 2
            variance = c * v.astype(rw) - m_hat_sq
            u = gw * _rms_denominator(variance, h, rw, eps_in_sqrt).astype(wide)
            return u.astype(g.dtype), m, v

        updates, mu, nu = _tree.map_unzip(one, 3, updates, state.mu, state.nu)
        return updates, ScaleByStddevState(count, mu, nu, h.state)

    return GradientTransformation(init, update)

"""RMSProp: scaling by a moving root mean square, plain and centered (by the stddev)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByRmsState(NamedTuple):
    """State of `scale_by_rms`: the second moment."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    nu: Any
    hyperparams: HyperparamsState


class ScaleByStddevState(NamedTuple):
    """State of `scale_by_stddev`: first and second moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


def _second_moments(params, initial_scale):
    return jax.tree.map(lambda x: jnp.full_like(x, initial_scale), moments_like(params, real=True))


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
            lambda x: jnp.full_like(x, initial_scale), moments_like(params, real=True)
        )
        return ScaleByRmsState(hyperparams.init_count(params), nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.nu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        nu = h.moment("decay", state.nu, updates, order=2)
        c2 = 1 / h.bias_correction("decay") if bias_correction else 1.0

        def one(g, v):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            inverse = _rms_denominator(c2 * v.astype(rw), h, rw, eps_in_sqrt)
            return (g.astype(wide) * inverse.astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates, nu)
        return updates, ScaleByRmsState(h.count, nu, h.state)

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
        mu = moments_like(params)
        nu = jax.tree.map(
            lambda x: jnp.full_like(x, initial_scale), moments_like(params, real=True)
        )
        count, hp = hyperparams.init_count(params), hyperparams.init(params)
        return ScaleByStddevState(count, mu, nu, hp)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.nu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("decay", state.mu, updates)
        nu = h.moment("decay", state.nu, updates, order=2)
        c = 1 / h.bias_correction("decay") if bias_correction else 1.0

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            m_hat_sq = _tree.abs_sq(m.astype(wide)) * jnp.asarray(c, rw) ** 2
            inverse = _rms_denominator(c * v.astype(rw) - m_hat_sq, h, rw, eps_in_sqrt)
            return (g.astype(wide) * inverse.astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates, mu, nu)
        return updates, ScaleByStddevState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

"""Adaptive per-coordinate scaling: Adam, RMSProp (plain and centered), AdaGrad."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate, _xla_cpu
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState, one_minus_power
from optx.transforms._adam_common import adam_scalars, ema_into


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam`: first and second moments."""

    count: jax.Array
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


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


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`: the running sum of squared gradients."""

    count: jax.Array
    sum_of_squares: Any
    hyperparams: HyperparamsState


def _wide(x: jax.Array) -> Any:
    return _tree.wide_dtype(x)


@_validate.public_call("optx.scale_by_adam")
def scale_by_adam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
    nesterov: bool = False,
    eps_convention: str = "corrected",
) -> GradientTransformation:
    """Scales updates by Adam's bias-corrected moment ratio (Kingma and Ba, 2014).

    Update rule (t is the 1-based update count)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        u = (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    The bias corrections are scalars multiplied in; the update is read from the moments
    as stored (in ``mu_dtype``/``nu_dtype``), so no param-sized temporary is written.
    By default (``eps_convention="corrected"``) eps is added outside the square root of the
    *corrected* second moment, as in Optax, PyTorch and the paper's Algorithm 1. With
    ``eps_convention="hat"`` it is added to the root of the *uncorrected* moment, the
    "epsilon hat" form of the paper's section 2 used by MXNet and TensorFlow::

        u = sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v + eps_root) + eps)

    Both corrections stay scalars. The two agree up to eps-sized terms (about 1e-6 after a
    few steps with eps=1e-8). Coupled L2 regularization (MXNet's ``wd``) is
    ``chain(add_decayed_weights(wd), scale_by_adam(...))``; decoupled decay (AdamW) puts
    `add_decayed_weights` after this transform.

    Args:
      b1: decay of the first moment, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      eps: added to the denominator outside the square root, >= 0.
      eps_root: added inside the square root, >= 0 (keeps gradients of the update finite
        when differentiating through it).
      mu_dtype: dtype of the first moment (e.g. ``jnp.bfloat16``); default float32 for
        floating params narrower than that, else the params' dtype.
      nu_dtype: dtype of the second moment, as ``mu_dtype``. For complex params the
        second moment (of ``|g|**2``) is real: float32 for complex64, and a complex
        ``nu_dtype`` is read as its real dtype; ``mu`` stays complex.
      nesterov: Nesterov-accelerated moment (NAdam without a momentum schedule, as Optax).
      eps_convention: ``"corrected"`` (Optax, PyTorch) or ``"hat"`` (MXNet, TensorFlow),
        see above.

    Raises:
      ValueError: a beta outside [0, 1), a negative eps, or an unknown ``eps_convention``.
      TypeError: a ``mu_dtype`` that is not floating or complex, or a ``nu_dtype`` that is
        not floating.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_adam(eps_convention="hat")
      >>> tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    References:
      Kingma and Ba, 2014, Adam: A Method for Stochastic Optimization,
      https://arxiv.org/abs/1412.6980
    """
    call = "optx.scale_by_adam"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    _validate.check_float_dtype(call, "nu_dtype", nu_dtype)
    _validate.check_choice(call, "eps_convention", eps_convention, ("corrected", "hat"))
    eps_hat = eps_convention == "hat"
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, eps_root=eps_root, decays=("b1", "b2"))

    def init(params):
        return ScaleByAdamState(
            _tree.zero_count(params),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params, nu_dtype, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h, c1, c2 = adam_scalars(call, hyperparams, state, updates)
        count, one_minus_b1, one_minus_b2 = h.count, h.complement("b1"), h.complement("b2")
        # Both conventions as  scale * m / (sqrt(v + root) + eps'),  all three scalars: with
        # s = sqrt(1 - b2**t) = 1 / sqrt(c2), the corrected form c1 m / (sqrt(c2 v + eps_root)
        # + eps) is (c1 s) m / (sqrt(v + eps_root s**2) + eps s), and the hat form is
        # (c1 s) m / (sqrt(v + eps_root) + eps). Five array operations per element, as Optax
        # spends on c1 m / (sqrt(c2 v) + eps) with its constant eps_root = 0 folded away; the
        # form c1 m / (sqrt(c2 v + eps_root) + eps) takes six, each one compile time per leaf.
        s = jax.lax.rsqrt(c2)
        scale = c1 * s
        if eps_hat:
            root, eps_ = h["eps_root"], h["eps"]
        else:
            root, eps_ = h["eps_root"] / c2, h["eps"] * s
        if nesterov:
            c1_next = 1 / one_minus_power(h.complement("b1"), _tree.safe_increment(count))
            m_coef, g_coef = h["b1"] * c1_next * s, one_minus_b1 * scale
            m_coef, g_coef = _xla_cpu.pack_scalars(updates, m_coef, g_coef)
        one_minus_b1, one_minus_b2, scale, root, eps_ = _xla_cpu.pack_scalars(
            updates, one_minus_b1, one_minus_b2, scale, root, eps_
        )

        def one(g, m, v):
            wide = _wide(g)
            gw = g.astype(wide)
            m = ema_into(one_minus_b1, m, gw, wide)
            v = ema_into(one_minus_b2, v, _tree.abs_sq(gw), _tree.real_dtype(wide))
            if nesterov:
                num = m_coef.astype(wide) * m.astype(wide) + g_coef.astype(wide) * gw
            else:
                num = scale.astype(wide) * m.astype(wide)
            denom = jnp.sqrt(v.astype(wide) + root.astype(wide)) + eps_.astype(wide)
            return (num / denom).astype(g.dtype), m, v

        updates, mu, nu = _tree.map_unzip(one, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdamState(count, mu, nu, h.state)

    return GradientTransformation(init, update)


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


@_validate.public_call("optx.scale_by_rss")
def scale_by_rss(
    initial_accumulator_value: float = 0.1,
    eps: ScalarOrSchedule = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    """Scales updates by the root of the sum of all squared gradients so far (AdaGrad).

    Update rule::

        s = s + g**2                                  (s starts at initial_accumulator_value)
        u = g / sqrt(s + eps)      where s + eps > 0  (eps_in_sqrt=True: Optax, MXNet)
        u = g / (sqrt(s) + eps)                       (eps_in_sqrt=False: PyTorch)

    Optax starts ``s`` at 0.1; MXNet and PyTorch at 0 (pass ``initial_accumulator_value=0``).
    A coordinate whose gradient has always been 0 gets update 0.

    Args:
      initial_accumulator_value: >= 0.
      eps: >= 0.
      eps_in_sqrt: where eps goes.

    References:
      Duchi et al., 2011, Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization, https://jmlr.org/papers/v12/duchi11a.html
    """
    call = "optx.scale_by_rss"
    _validate.check_non_negative(call, "initial_accumulator_value", initial_accumulator_value)
    hyperparams = Hyperparams(call, eps=eps)

    def init(params):
        sums = jax.tree.map(
            lambda x: jnp.full_like(x, initial_accumulator_value),
            _tree.moments_like(params, real=True),
        )
        return ScaleByRssState(_tree.zero_count(params), sums, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.sum_of_squares, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, s):
            wide = _wide(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            s = (s.astype(rw) + _tree.abs_sq(gw)).astype(s.dtype)
            sw = s.astype(rw)
            eps_ = h["eps"].astype(rw)
            if eps_in_sqrt:
                inverse = jnp.where(sw + eps_ > 0, jax.lax.rsqrt(sw + eps_), 0.0)
            else:
                inverse = 1 / (jnp.sqrt(sw) + eps_)
            return (gw * inverse.astype(wide)).astype(g.dtype), s

        updates, sums = _tree.map_unzip(one, 2, updates, state.sum_of_squares)
        return updates, ScaleByRssState(h.count, sums, h.state)

    return GradientTransformation(init, update)

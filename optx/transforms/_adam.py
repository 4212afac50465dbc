"""Adam: per-coordinate scaling by bias-corrected first and second moments."""

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

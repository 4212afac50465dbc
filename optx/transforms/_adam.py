"""Adam: per-coordinate scaling by bias-corrected first and second moments."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate, _xla_cpu
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState, one_minus_power
from optx._tree import moments_like


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam`: first and second moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


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
    bias_correction: bool = True,
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
      bias_correction: False uses the raw moments, ``u = m / (sqrt(v + eps_root) + eps)``
        (MXNet LAMB's ``bias_correction=False``; Optax's ``scale_by_adam`` always corrects).

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
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, eps_root=eps_root, decays=("b1", "b2"))

    def init(params):
        mu, nu = moments_like(params, mu_dtype), moments_like(params, nu_dtype, real=True)
        return ScaleByAdamState(hyperparams.init_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        nu = h.moment("b2", state.nu, updates, order=2)
        c1 = c1_next = c2 = jnp.ones([], h["b1"].dtype)
        if bias_correction:
            c1, c2 = 1 / h.bias_correction("b1"), 1 / h.bias_correction("b2")
            c1_next = 1 / one_minus_power(h.complement("b1"), _tree.safe_increment(h.count))
        # u = c1 m / (sqrt(c2 v + eps_root) + eps) = (c1 s) m / (sqrt(v + eps_root s**2) + eps s)
        # with s = 1 / sqrt(c2): three scalars and five array operations per element, one
        # fewer than the left form. The "hat" form is (c1 s) m / (sqrt(v + eps_root) + eps).
        s = jax.lax.rsqrt(c2)
        scale, root, eps_ = c1 * s, h["eps_root"] / c2, h["eps"] * s
        if eps_convention == "hat":
            root, eps_ = h["eps_root"], h["eps"]
        g_coef = h.complement("b1") * scale  # Nesterov: b1 m_{t+1} + (1 - b1) g, debiased
        if nesterov:
            scale = h["b1"] * c1_next * s
        scale, g_coef, root, eps_ = _xla_cpu.pack_scalars(updates, scale, g_coef, root, eps_)

        def direction(g, m, v):
            wide = _tree.wide_dtype(g)
            num = scale.astype(wide) * m.astype(wide)
            if nesterov:
                num = num + g_coef.astype(wide) * g.astype(wide)
            denom = jnp.sqrt(v.astype(wide) + root.astype(wide)) + eps_.astype(wide)
            return (num / denom).astype(g.dtype)

        updates = jax.tree.map(direction, updates, mu, nu)
        return updates, ScaleByAdamState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

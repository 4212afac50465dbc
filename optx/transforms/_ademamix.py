"""AdEMAMix: Adam with a mixture of a fast and a slow momentum, and its simplified form."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByAdemamixState(NamedTuple):
    """State of `scale_by_ademamix`: the fast and slow momenta and the second moment."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count: the protocol name
    m1: Any
    m2: Any
    nu: Any
    hyperparams: HyperparamsState


class ScaleBySimplifiedAdemamixState(NamedTuple):
    """State of `scale_by_simplified_ademamix`: the accumulated momentum, the second moment."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count: the protocol name
    m: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_ademamix")
def scale_by_ademamix(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Scales updates by AdEMAMix's mixture of two momenta over Adam's root (Pagliardini 2024).

    Update rule (t is the 1-based update count)::

        m1 = b1 * m1 + (1 - b1) * g              (fast momentum, bias-corrected)
        m2 = b3 * m2 + (1 - b3) * g              (slow momentum, not bias-corrected)
        nu = b2 * nu + (1 - b2) * |g|**2
        u = (m1 / (1 - b1**t) + alpha * m2) / (sqrt(nu / (1 - b2**t) + eps_root) + eps)

    The paper's Algorithm 1 and Optax's ``optax.contrib.scale_by_ademamix`` (same argument
    names and defaults; ``alpha`` is 6.0 here as there, 5.0 in the ``ademamix`` alias).
    ``b3`` and ``alpha`` may be schedules of the 0-based update count ``t``, evaluated at
    the same count as Optax's ``count_m2``. That is how the paper's warm-up schedulers
    (its section 3, over ``T`` steps) are passed::

        alpha(t) = min(t * alpha / T, alpha)
        b3(t) = min(exp(log(b1) * log(b3) / ((1 - t/T) * log(b3) + (t/T) * log(b1))), b3)

    (``b3`` rises from ``b1`` at ``t = 0`` to its final value at ``t = T``, so that the
    slow momentum's half-life grows linearly). The bias corrections are scalars multiplied
    in.

    State: three moments the size of the params (``m1`` and ``m2`` in ``mu_dtype``; ``nu``
    float32, or the params' dtype if wider, and real for complex params: Optax stores it
    in ``mu_dtype`` too), the count and the hyperparameters.

    Args:
      b1: decay of the fast momentum, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      b3: decay of the slow momentum, in [0, 1) (float, array or schedule).
      alpha: weight of the slow momentum, >= 0 (float, array or schedule).
      eps: added to the denominator outside the square root, >= 0.
      eps_root: added inside the square root, >= 0.
      mu_dtype: dtype of ``m1`` and ``m2``; default float32 (or the params' dtype if wider).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: a decay outside [0, 1), a negative ``alpha``, ``eps`` or ``eps_root``.
      TypeError: a ``mu_dtype`` that is not floating or complex.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_ademamix(alpha=0.0)
      >>> tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    References:
      Pagliardini, Ablin and Grangier, 2024, The AdEMAMix Optimizer: Better, Faster,
      Older, https://arxiv.org/abs/2409.03137
    """
    call = "optx.scale_by_ademamix"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    hyperparams = Hyperparams(
        call,
        decays=("b1", "b2", "b3"),
        constraints={"alpha": _constraints.NON_NEGATIVE},
        b1=b1,
        b2=b2,
        b3=b3,
        alpha=alpha,
        eps=eps,
        eps_root=eps_root,
    )

    def init(params):
        return ScaleByAdemamixState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.m1, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        c1 = 1 / h.bias_correction("b1")
        c2 = 1 / h.bias_correction("b2")
        k1, k2, k3 = h.complement("b1"), h.complement("b2"), h.complement("b3")

        def one(g, m1, m2, v):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            m1 = _tree.ema_leaf(k1, m1, gw, wide)
            m2 = _tree.ema_leaf(k3, m2, gw, wide)
            v = _tree.ema_leaf(k2, v, _tree.abs_sq(gw), _tree.real_dtype(wide))
            num = c1.astype(wide) * m1.astype(wide) + h["alpha"].astype(wide) * m2.astype(wide)
            vw = v.astype(wide)
            denom = jnp.sqrt(c2.astype(vw.dtype) * vw + h["eps_root"].astype(vw.dtype))
            denom = (denom + h["eps"].astype(vw.dtype)).astype(wide)
            return (num / denom).astype(g.dtype), m1, m2, v

        updates, m1, m2, nu = _tree.map_unzip(one, 4, updates, state.m1, state.m2, state.nu)
        return updates, ScaleByAdemamixState(h.count, m1, m2, nu, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.scale_by_simplified_ademamix")
def scale_by_simplified_ademamix(
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Scales updates by Simplified AdEMAMix: one accumulated momentum plus alpha times g.

    Update rule (t is the 1-based update count)::

        m = b1 * m + g                            (a discounted sum, no (1 - b1) factor)
        nu = b2 * nu + (1 - b2) * |g|**2
        u = (m + alpha * g) / (sqrt(nu / (1 - b2**t) + eps_root) + eps)

    Morwani et al.'s simplification of AdEMAMix, as Optax's
    ``optax.contrib.scale_by_simplified_ademamix`` (same argument names and defaults).
    The momentum is a sum, so its size grows to about ``1 / (1 - b1)`` times the gradient's:
    take a learning rate about ``1 - b1`` times Adam's. With ``alpha = 0`` this is Adam
    without the first moment's bias correction, with the learning rate multiplied by
    ``1 / (1 - b1)``. ``alpha`` may be a schedule of the 0-based update count.

    State: two moments the size of the params (``m``, ``nu``; ``nu`` real for complex
    params), the count and the hyperparameters.

    Args:
      b1: discount of the momentum sum, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      alpha: weight of the current gradient, >= 0 (float, array or schedule).
      eps: added to the denominator outside the square root, >= 0.
      eps_root: added inside the square root, >= 0.

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: ``b1`` or ``b2`` outside [0, 1), a negative ``alpha``, ``eps`` or
        ``eps_root``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_simplified_ademamix(alpha=1.0)
      >>> tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0]
      Array([ 2., -2.], dtype=float32)

    References:
      Morwani et al., 2025, Connections between Schedule-Free Optimizers, AdEMAMix, and
      Accelerated SGD Variants, https://arxiv.org/abs/2502.02431
    """
    call = "optx.scale_by_simplified_ademamix"
    hyperparams = Hyperparams(
        call,
        decays=("b2",),
        constraints={"b1": _constraints.UNIT_INTERVAL, "alpha": _constraints.NON_NEGATIVE},
        b1=b1,
        b2=b2,
        alpha=alpha,
        eps=eps,
        eps_root=eps_root,
    )

    def init(params):
        return ScaleBySimplifiedAdemamixState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.m, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        c2 = 1 / h.bias_correction("b2")
        k2 = h.complement("b2")

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            m = (h["b1"].astype(wide) * m.astype(wide) + gw).astype(m.dtype)
            v = _tree.ema_leaf(k2, v, _tree.abs_sq(gw), _tree.real_dtype(wide))
            num = m.astype(wide) + h["alpha"].astype(wide) * gw
            vw = v.astype(wide)
            denom = jnp.sqrt(c2.astype(vw.dtype) * vw + h["eps_root"].astype(vw.dtype))
            denom = (denom + h["eps"].astype(vw.dtype)).astype(wide)
            return (num / denom).astype(g.dtype), m, v

        updates, m, nu = _tree.map_unzip(one, 3, updates, state.m, state.nu)
        return updates, ScaleBySimplifiedAdemamixState(h.count, m, nu, h.state)

    return GradientTransformation(init, update)

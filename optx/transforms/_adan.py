"""Adan: adaptive Nesterov momentum from gradient differences."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByAdanState(NamedTuple):
    """State of `scale_by_adan`: three moments and the previous gradient."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count: the protocol name
    m: Any
    v: Any
    n: Any
    prev_grad: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_adan")
def scale_by_adan(
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Scales updates by Adan's Nesterov momentum estimate over a root (Xie et al., 2022).

    Update rule (t is the 1-based update count; ``d = g - g_prev``, zero at ``t = 1``)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * d
        n = b3 * n + (1 - b3) * |g + b2 * d|**2
        u = (m / (1 - b1**t) + b2 * v / (1 - b2**t)) / (sqrt(n / (1 - b3**t) + eps_root) + eps)

    Conventions: the ``b`` here are decays (the weight of the old value), as in Optax's
    ``optax.scale_by_adan``; the paper's Algorithm 1 writes the weights of the new value,
    ``beta_k = 1 - b_k`` (so its ``1 - beta_2`` is ``b2``). The moments start at zero and
    are bias-corrected, as in Optax and the authors' code; the paper's box starts them at
    the first gradient instead (``m0 = g0``, ``n0 = g0**2``). The first gradient
    difference is zero, as in Optax. The paper's restart condition is not implemented.

    State: three moments and the previous gradient, each the size of the params (float32
    for narrower params; ``n`` real for complex params), the count and the
    hyperparameters.

    Args:
      b1: decay of the gradient average, in [0, 1).
      b2: decay of the gradient-difference average, in [0, 1).
      b3: decay of the squared Nesterov term, in [0, 1).
      eps: added to the denominator outside the square root, >= 0.
      eps_root: added inside the square root, >= 0.

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: a decay outside [0, 1), a negative ``eps`` or ``eps_root``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_adan()
      >>> tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    References:
      Xie, Zhou, Li, Lin and Yan, 2022, Adan: Adaptive Nesterov Momentum Algorithm for
      Faster Optimizing Deep Models, https://arxiv.org/abs/2208.06677
    """
    call = "optx.scale_by_adan"
    hyperparams = Hyperparams(
        call, decays=("b1", "b2", "b3"), b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root
    )

    def init(params):
        return ScaleByAdanState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            _tree.moments_like(params, real=True),
            _tree.moments_like(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.m, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        c1, c2, c3 = (1 / h.bias_correction(name) for name in ("b1", "b2", "b3"))
        k1, k2, k3 = (h.complement(name) for name in ("b1", "b2", "b3"))
        started = state.count > 0

        def one(g, m, v, n, prev):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            b2 = h["b2"].astype(wide)
            d = jnp.where(started, gw - prev.astype(wide), jnp.zeros_like(gw))
            m = _tree.ema_leaf(k1, m, gw, wide)
            v = _tree.ema_leaf(k2, v, d, wide)
            n = _tree.ema_leaf(k3, n, _tree.abs_sq(gw + b2 * d), _tree.real_dtype(wide))
            num = c1.astype(wide) * m.astype(wide) + (b2 * c2.astype(wide)) * v.astype(wide)
            nw = n.astype(_tree.real_dtype(wide))
            denom = jnp.sqrt(c3.astype(nw.dtype) * nw + h["eps_root"].astype(nw.dtype))
            u = num / (denom + h["eps"].astype(nw.dtype)).astype(wide)
            return u.astype(g.dtype), m, v, n, gw.astype(prev.dtype)

        updates, m, v, n, prev = _tree.map_unzip(
            one, 5, updates, state.m, state.v, state.n, state.prev_grad
        )
        return updates, ScaleByAdanState(h.count, m, v, n, prev, h.state)

    return GradientTransformation(init, update)

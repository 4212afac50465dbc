"""Yogi: Adam with an additively updated second moment."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByYogiState(NamedTuple):
    """State of `scale_by_yogi`: the first moment and the additively updated second one."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_yogi")
def scale_by_yogi(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
    eps_root: ScalarOrSchedule = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Scales updates by Yogi: Adam with an additive, sign-controlled second moment.

    Update rule (t the 1-based update count)::

        m = b1 * m + (1 - b1) * g                       (m starts at 0)
        v = v - (1 - b2) * sign(v - g**2) * g**2        (v starts at initial_accumulator_value)
        u = (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    Both moments are bias-corrected as in Optax (the paper does not correct them). Optax
    also starts ``m`` at ``initial_accumulator_value``; here it starts at 0 as in the paper,
    which changes the first updates by about ``initial_accumulator_value`` (equal to Optax
    when ``initial_accumulator_value=0``).

    Args:
      b1, b2: decays in [0, 1).
      eps: >= 0, outside the root (the paper's default 1e-3).
      eps_root: >= 0, inside the root.
      initial_accumulator_value: >= 0, the starting second moment.

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps or initial value.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_yogi(eps=0.0, initial_accumulator_value=0.0)
      >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0]
      Array([-1.], dtype=float32)

    References:
      Zaheer et al., 2018, Adaptive Methods for Nonconvex Optimization,
      https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    call = "optx.scale_by_yogi"
    _validate.check_non_negative(call, "initial_accumulator_value", initial_accumulator_value)
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, eps_root=eps_root, decays=("b1", "b2"))

    def init(params):
        v0 = jax.tree.map(
            lambda x: jnp.full_like(x, initial_accumulator_value), moments_like(params, real=True)
        )
        count, hp = hyperparams.init_count(params), hyperparams.init(params)
        return ScaleByYogiState(count, moments_like(params), v0, hp)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        c1, c2 = 1 / h.bias_correction("b1"), 1 / h.bias_correction("b2")

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            g2 = _tree.abs_sq(g.astype(wide))  # real: sign(v - |g|**2) is defined for complex
            vw = v.astype(rw)
            v = (vw - h.complement("b2").astype(rw) * jnp.sign(vw - g2) * g2).astype(v.dtype)
            denom = (jnp.sqrt(c2 * v.astype(rw) + h["eps_root"]) + h["eps"]).astype(wide)
            return (c1.astype(wide) * m.astype(wide) / denom).astype(g.dtype), v

        updates, nu = _tree.map_unzip(one, 2, updates, mu, state.nu)
        return updates, ScaleByYogiState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

"""AdaBelief: Adam with the second moment of the surprise g - m."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByBeliefState(NamedTuple):
    """State of `scale_by_belief`: the first moment and the second moment of the surprise."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_belief")
def scale_by_belief(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
) -> GradientTransformation:
    """Scales updates by AdaBelief: Adam with the variance of the gradient around its mean.

    Update rule (t the 1-based update count)::

        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m)**2 + eps_root     (with the new m)
        u = (m / (1 - b1**t)) / (sqrt(s / (1 - b2**t)) + eps)

    As in the paper and Optax, ``eps_root`` is added to ``s`` as stored, so it accumulates.

    Args:
      b1, b2: decays in [0, 1).
      eps: >= 0, added outside the root.
      eps_root: >= 0, added to the stored second moment (the paper's epsilon).

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_belief()
      >>> tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0]
      Array([1.111...], dtype=float32)

    References:
      Zhuang et al., 2020, AdaBelief Optimizer: Adapting Stepsizes by the Belief in
      Observed Gradients, https://arxiv.org/abs/2010.07468
    """
    call = "optx.scale_by_belief"
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, eps_root=eps_root, decays=("b1", "b2"))

    def init(params):
        mu, nu = moments_like(params), moments_like(params, real=True)
        return ScaleByBeliefState(hyperparams.init_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        c1, c2 = 1 / h.bias_correction("b1"), 1 / h.bias_correction("b2")

        def one(g, m, s):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            b2_, c_b2 = h["b2"].astype(rw), h.complement("b2").astype(rw)
            surprise = _tree.abs_sq(g.astype(wide) - m.astype(wide))
            s = (b2_ * s.astype(rw) + c_b2 * surprise + h["eps_root"]).astype(s.dtype)
            denom = (jnp.sqrt(c2 * s.astype(rw)) + h["eps"]).astype(wide)
            return (c1.astype(wide) * m.astype(wide) / denom).astype(g.dtype), s

        updates, nu = _tree.map_unzip(one, 2, updates, mu, state.nu)
        return updates, ScaleByBeliefState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

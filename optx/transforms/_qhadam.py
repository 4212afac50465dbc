"""QHAdam: quasi-hyperbolic Adam, moments mixed with the current gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._constraints import CLOSED_UNIT_INTERVAL
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByQhadamState(NamedTuple):
    """State of `scale_by_qhadam`: first and second moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_qhadam")
def scale_by_qhadam(
    b1: ScalarOrSchedule = 0.999,
    b2: ScalarOrSchedule = 0.999,
    nu1: ScalarOrSchedule = 0.7,
    nu2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """Scales updates by QHAdam: quasi-hyperbolic averages of the gradient and the moments.

    Update rule (t the 1-based update count)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        u = ((1 - nu1) * g + nu1 * m / (1 - b1**t))
            / (sqrt((1 - nu2) * g**2 + nu2 * v / (1 - b2**t)) + eps)

    Defaults are fastai's ``QHAdam`` (``mom=0.999, sqr_mom=0.999, nu_1=0.7, nu_2=1.0,
    eps=1e-8``); the paper suggests ``b1=0.995``. ``nu1=nu2=1`` is Adam.

    Args:
      b1, b2: decays in [0, 1).
      nu1, nu2: weights of the moments against the raw gradient, in [0, 1].
      eps: >= 0, outside the root.

    Raises:
      ValueError: a beta outside [0, 1), a nu outside [0, 1], a negative eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_qhadam()
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]
      Array([1.], dtype=float32)

    References:
      Ma and Yarats, 2019, Quasi-hyperbolic momentum and Adam for deep learning,
      https://arxiv.org/abs/1810.06801
    """
    call = "optx.scale_by_qhadam"
    hyperparams = Hyperparams(
        call,
        b1=b1,
        b2=b2,
        nu1=nu1,
        nu2=nu2,
        eps=eps,
        decays=("b1", "b2", "nu1", "nu2"),
        constraints={"nu1": CLOSED_UNIT_INTERVAL, "nu2": CLOSED_UNIT_INTERVAL},  # 1: Adam
    )

    def init(params):
        mu, nu = moments_like(params), moments_like(params, real=True)
        return ScaleByQhadamState(hyperparams.init_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        nu = h.moment("b2", state.nu, updates, order=2)
        w1 = h["nu1"] / h.bias_correction("b1")
        w2 = h["nu2"] / h.bias_correction("b2")
        g1, g2 = h.complement("nu1"), h.complement("nu2")

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            numer = g1.astype(wide) * gw + w1.astype(wide) * m.astype(wide)
            v_mix = g2 * _tree.abs_sq(gw) + w2 * v.astype(_tree.real_dtype(wide))
            return (numer / (jnp.sqrt(v_mix) + h["eps"]).astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates, mu, nu)
        return updates, ScaleByQhadamState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

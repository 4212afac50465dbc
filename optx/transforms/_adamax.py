"""AdaMax: Adam with the infinity norm as second moment."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByAdamaxState(NamedTuple):
    """State of `scale_by_adamax`: the first moment and the infinity norm."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_adamax")
def scale_by_adamax(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    """Scales updates by AdaMax's ratio of the first moment to an infinity norm.

    Update rule (t the 1-based update count)::

        m = b1 * m + (1 - b1) * g
        u_inf = max(b2 * u_inf, |g| + eps)           (eps_in_max=True: Optax, PyTorch)
        u_inf = max(b2 * u_inf, |g|)                 (eps_in_max=False)
        u = m / (1 - b1**t) / u_inf                  (eps_in_max=False: / (u_inf + eps))

    ``eps_in_max=False`` is MXNet 2.0's placement; MXNet 1.x has no eps at all
    (``eps_in_max=False, eps=0``, which divides by zero where a gradient was always 0).

    Args:
      b1: decay of the first moment, in [0, 1).
      b2: decay of the infinity norm, in [0, 1).
      eps: >= 0, see above.
      eps_in_max: where eps goes, see above.

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_adamax()
      >>> tx.update(jnp.array([2.0, -4.0]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    References:
      Kingma and Ba, 2014, Adam: A Method for Stochastic Optimization (section 7.1),
      https://arxiv.org/abs/1412.6980
    """
    call = "optx.scale_by_adamax"
    hyperparams = Hyperparams(
        call, b1=b1, b2=b2, eps=eps, decays=("b1",), constraints={"b2": _constraints.UNIT_INTERVAL}
    )

    def init(params):
        mu, nu = moments_like(params), moments_like(params, real=True)
        return ScaleByAdamaxState(hyperparams.init_count(params), mu, nu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        c1 = 1 / h.bias_correction("b1")

        def one(g, m, n):
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            eps_ = h["eps"].astype(rw)
            magnitude = jnp.abs(g.astype(wide)) + eps_ if eps_in_max else jnp.abs(g.astype(wide))
            n = jnp.maximum(h["b2"].astype(rw) * n.astype(rw), magnitude).astype(n.dtype)
            denom = n.astype(rw) if eps_in_max else n.astype(rw) + eps_
            num = c1.astype(wide) * m.astype(wide)
            return (num / denom.astype(wide)).astype(g.dtype), n

        updates, nu = _tree.map_unzip(one, 2, updates, mu, state.nu)
        return updates, ScaleByAdamaxState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

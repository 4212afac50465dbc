"""AMSGrad: Adam with the running maximum of the second moment."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByAmsgradState(NamedTuple):
    """State of `scale_by_amsgrad`: both moments and the running maximum of the second."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    nu_max: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_amsgrad")
def scale_by_amsgrad(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
    max_of: str = "corrected",
) -> GradientTransformation:
    """Scales updates as Adam, with the running maximum of the second moment (AMSGrad).

    Update rule (t the 1-based update count, c2 = 1 / (1 - b2**t))::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        max_of="corrected" (Optax):  v_max = max(v_max, c2 * v);  s = v_max
        max_of="raw" (PyTorch):      v_max = max(v_max, v);       s = c2 * v_max
        u = (m / (1 - b1**t)) / (sqrt(s + eps_root) + eps)

    The conventions differ because c2 falls over time: PyTorch's maximum of the raw moment
    is later divided by a smaller correction, so after 60 steps the two differ by ~16%.
    The paper (Reddi et al.) corrects neither moment.

    Args:
      b1, b2: moment decays in [0, 1).
      eps: >= 0, added outside the root.
      eps_root: >= 0, added inside the root.
      mu_dtype, nu_dtype: moment dtypes (default float32); ``nu_dtype`` also holds ``v_max``.
      max_of: ``"corrected"`` or ``"raw"``, see above.

    Raises:
      ValueError: a beta outside [0, 1), a negative eps, an unknown ``max_of``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_amsgrad(max_of="raw")
      >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]
      Array([1.], dtype=float32)

    References:
      Reddi et al., 2018, On the Convergence of Adam and Beyond,
      https://openreview.net/forum?id=ryQu7f-RZ
    """
    call = "optx.scale_by_amsgrad"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    _validate.check_float_dtype(call, "nu_dtype", nu_dtype)
    _validate.check_choice(call, "max_of", max_of, ("corrected", "raw"))
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, eps_root=eps_root, decays=("b1", "b2"))

    def init(params):
        mu, nu = moments_like(params, mu_dtype), moments_like(params, nu_dtype, real=True)
        count, hp = hyperparams.init_count(params), hyperparams.init(params)
        return ScaleByAmsgradState(count, mu, nu, moments_like(params, nu_dtype, real=True), hp)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates)
        nu = h.moment("b2", state.nu, updates, order=2)
        c1, c2 = 1 / h.bias_correction("b1"), 1 / h.bias_correction("b2")

        def one(g, m, v, v_max):
            wide, rw = _tree.wide_dtype(g), _tree.real_dtype(_tree.wide_dtype(g))
            if max_of == "raw":
                v_max = jnp.maximum(v_max.astype(rw), v.astype(rw)).astype(v_max.dtype)
                second = c2 * v_max.astype(rw)
            else:
                v_max = jnp.maximum(v_max.astype(rw), c2 * v.astype(rw)).astype(v_max.dtype)
                second = v_max.astype(rw)
            denom = jnp.sqrt(second + h["eps_root"]) + h["eps"]
            num = c1.astype(wide) * m.astype(wide)
            return (num / denom.astype(wide)).astype(g.dtype), v_max

        updates, nu_max = _tree.map_unzip(one, 2, updates, mu, nu, state.nu_max)
        return updates, ScaleByAmsgradState(h.count, mu, nu, nu_max, h.state)

    return GradientTransformation(init, update)

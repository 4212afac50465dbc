"""MARS: a variance-reduced gradient (MARS-approx) fed to an AdamW or a Lion step."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState

_FORMS = ("adamw", "lion")
_SIGN_RULE = "the Lion form's step is sign(m) per element, undefined on complex numbers"


class ScaleByMarsState(NamedTuple):
    """State of `scale_by_mars`: the moments and the previous gradient.

    ``nu`` is None in the Lion form (it has no second moment).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count: the protocol name
    mu: Any
    nu: Any
    prev_grad: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_mars")
def scale_by_mars(
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.99,
    gamma: ScalarOrSchedule = 0.025,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    optimizer: str = "adamw",
) -> GradientTransformation:
    """Scales updates by MARS: a clipped variance-reduced gradient, then AdamW or Lion.

    Update rule (MARS-approx; t is the 1-based update count, ``g_prev`` the gradient of
    the previous update, the correction is zero at ``t = 1``)::

        c = g + gamma * b1 / (1 - b1) * (g - g_prev)
        c = c / max(1, ||c||)                     (the global L2 norm over all leaves)
        m = b1 * m + (1 - b1) * c
        v = b2 * v + (1 - b2) * |c|**2                                   (adamw only)
        u = (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t) + eps_root) + eps)  (optimizer="adamw")
        u = sign(m)                                                       (optimizer="lion")

    The paper's exact MARS evaluates a second gradient, at the previous params on the
    current batch, ``grad f(x_{t-1}, xi_t)``, where this uses the previous update's
    gradient ``grad f(x_{t-1}, xi_{t-1})`` kept in the state: the paper's MARS-approx
    (its practical default), which costs no extra gradient. ``Clip(c, 1)`` is taken over
    the whole gradient, one vector as in the paper's algorithm; the authors' PyTorch code
    clips each tensor by its own norm. Their code also starts ``g_prev`` at zero, so its
    first step multiplies ``g`` by ``1 + gamma * b1 / (1 - b1)``; here, as in the paper
    (``x_1 = x_0``), the first correction is zero. The Lion form has no second moment and
    does not use ``b2``, ``eps`` or ``eps_root``.

    State: the momentum, the previous gradient, and for ``"adamw"`` the second moment,
    each the size of the params (``mu`` in ``mu_dtype``, the others float32 for narrower
    params), the count and the hyperparameters.

    Args:
      b1: decay of the momentum, in [0, 1); also sets the correction's weight
        ``b1 / (1 - b1)``.
      b2: decay of the second moment, in [0, 1) (``"adamw"``).
      gamma: strength of the gradient correction, >= 0 (0 gives AdamW, or Lion with
        ``b1 = b2``, on the clipped gradient).
      eps: added to the denominator outside the square root, >= 0 (``"adamw"``).
      eps_root: added inside the square root, >= 0 (``"adamw"``).
      mu_dtype: dtype of the momentum; default float32 (or the params' dtype if wider).
      optimizer: ``"adamw"`` (MARS-AdamW, the paper's default) or ``"lion"``
        (MARS-Lion).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: a decay outside [0, 1), a negative ``gamma``, ``eps`` or ``eps_root``,
        or an unknown ``optimizer``.
      TypeError: a ``mu_dtype`` that is not floating or complex; at init, complex params
        for ``optimizer="lion"``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_mars()
      >>> tx.update(jnp.array([3.0, -4.0]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    References:
      Yuan, Liu, Wu, Zhou and Gu, 2024, MARS: Unleashing the Power of Variance
      Reduction for Training Large Models, https://arxiv.org/abs/2411.10438
    """
    call = "optx.scale_by_mars"
    _validate.check_choice(call, "optimizer", optimizer, _FORMS)
    lion = optimizer == "lion"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=not lion)
    specs: dict[str, Any] = {"b1": b1, "gamma": gamma}
    if not lion:
        specs.update(b2=b2, eps=eps, eps_root=eps_root)
    hyperparams = Hyperparams(
        call,
        decays=("b1",) if lion else ("b1", "b2"),
        constraints={"gamma": _constraints.NON_NEGATIVE},
        **specs,
    )
    public = _validate.current_call(call)

    def init(params):
        if lion:
            _validate.refuse_complex(public, params, _SIGN_RULE)
        return ScaleByMarsState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            None if lion else _tree.moments_like(params, real=True),
            _tree.moments_like(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        k1 = h.complement("b1")
        weight = jnp.where(state.count > 0, h["gamma"] * h["b1"] / k1, jnp.zeros_like(k1))

        def corrected(g, prev):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            return gw + weight.astype(wide) * (gw - prev.astype(wide))

        # The norm and the moments each recompute c from g and g_prev (fused, no temporary).
        sq = [
            _tree.squared_norm(corrected(g, p))
            for g, p in zip(jax.tree.leaves(updates), jax.tree.leaves(state.prev_grad))
        ]
        total = sum(sq[1:], sq[0]) if sq else jnp.zeros([], k1.dtype)
        clip = 1 / jnp.maximum(jnp.sqrt(total.astype(k1.dtype)), 1)
        c1 = 1 / h.bias_correction("b1")
        c2: Any = None if lion else 1 / h.bias_correction("b2")

        def one(g, m, prev, v=None):
            wide = _tree.wide_dtype(g)
            c = clip.astype(wide) * corrected(g, prev)
            m = _tree.ema_leaf(k1, m, c, wide)
            new_prev = g.astype(prev.dtype)
            if lion:
                return jnp.sign(m.astype(wide)).astype(g.dtype), m, new_prev
            v = _tree.ema_leaf(h.complement("b2"), v, _tree.abs_sq(c), _tree.real_dtype(wide))
            vw = v.astype(_tree.real_dtype(wide))
            denom = jnp.sqrt(c2.astype(vw.dtype) * vw + h["eps_root"].astype(vw.dtype))
            u = c1.astype(wide) * m.astype(wide) / (denom + h["eps"].astype(vw.dtype)).astype(wide)
            return u.astype(g.dtype), m, new_prev, v

        if lion:
            updates, mu, prev = _tree.map_unzip(one, 3, updates, state.mu, state.prev_grad)
            nu = None
        else:
            updates, mu, prev, nu = _tree.map_unzip(
                one, 4, updates, state.mu, state.prev_grad, state.nu
            )
        return updates, ScaleByMarsState(h.count, mu, nu, prev, h.state)

    return GradientTransformation(init, update)

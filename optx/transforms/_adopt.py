"""ADOPT: Adam with the second moment of the previous step and the momentum after scaling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByAdoptState(NamedTuple):
    """State of `scale_by_adopt`: the momentum of the scaled gradients and the second moment."""

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


def quarter_power(count: jax.Array) -> jax.Array:
    """The paper's clipping bound ``t**0.25`` (Optax's default ``clip_value_fn``)."""
    return count**0.25


@_validate.public_call("optx.scale_by_adopt")
def scale_by_adopt(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: ScalarOrSchedule = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """Scales updates by the ADOPT rule (Taniguchi et al., 2024).

    Update rule (t the number of updates already applied)::

        t = 0:  v = g**2;  u = 0                      (the first gradient only sets v)
        t > 0:  s = clip(g / max(sqrt(v), eps), -c, c),  c = clip_value_fn(t)
                m = b1 * m + (1 - b1) * s
                u = m                       (nesterov: u = b1 * m + (1 - b1) * s)
                v = b2 * v + (1 - b2) * g**2

    The gradient is normalized by the second moment *before* it enters it (``v`` of the
    previous step), and the momentum averages the normalized gradients; this is what lets
    ADOPT converge for any ``b2``. No bias correction. As ``optax.contrib.scale_by_adopt``
    (same arguments, defaults and meaning); ``clip_value_fn`` receives the count as a
    float scalar (Optax passes the int32 count).

    Complex params: refused when ``use_clipping`` (the clip needs an order of each value);
    without clipping ``v`` is the real mean of ``|g|**2``. State: ``mu`` (``mu_dtype``)
    and ``nu``, one array each per param, plus the count and hyperparameters.

    Args:
      b1: momentum decay in [0, 1).
      b2: second-moment decay in [0, 1).
      eps: > = 0, the floor of ``sqrt(v)``.
      mu_dtype: dtype of the momentum (default float32 at least).
      nesterov: Nesterov momentum.
      use_clipping: clip the normalized gradient to ``[-c, c]`` (the paper's stable
        variant, recommended).
      clip_value_fn: ``count -> c``; default ``count**0.25``.

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps.
      TypeError: at init, complex params with ``use_clipping``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_adopt()
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.array([2.0, -1.0]), state)  # sets v, no step
      >>> u, state = tx.update(jnp.array([2.0, -1.0]), state)
      >>> u
      Array([ 0.1, -0.1], dtype=float32)

    References:
      Taniguchi et al., 2024, ADOPT: Modified Adam Can Converge with Any beta2 with the
      Optimal Rate, https://arxiv.org/abs/2411.02853
    """
    call = _validate.current_call("optx.scale_by_adopt")  # optx.adopt when built by it
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    if not callable(clip_value_fn):
        raise TypeError(
            f"{call}: clip_value_fn must be a function count -> bound, got {clip_value_fn!r}"
        )
    hyperparams = Hyperparams(call, b1=b1, b2=b2, eps=eps, decays=("b1", "b2"))

    def init(params):
        if use_clipping:
            _validate.refuse_complex(
                call,
                params,
                "the clip to [-c, c] needs an order of each value (pass "
                "use_clipping=False for complex params)",
            )
        return ScaleByAdoptState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)
        first = state.count == 0
        c1, c2 = h.complement("b1"), h.complement("b2")
        bound = clip_value_fn(state.count.astype(jnp.result_type(h["eps"])))

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            real = _tree.real_dtype(wide)
            gw, vw = g.astype(wide), v.astype(real)
            sq = _tree.abs_sq(gw)
            new_v = jnp.where(first, sq, vw + c2.astype(real) * (sq - vw))
            s = gw / jnp.maximum(jnp.sqrt(vw), h["eps"].astype(real)).astype(wide)
            if use_clipping:
                c = jnp.asarray(bound, real)
                s = jnp.clip(s, -c, c)
            mw = m.astype(wide)
            new_m = jnp.where(first, mw, mw + c1.astype(real).astype(wide) * (s - mw))
            u = new_m
            if nesterov:
                u = jnp.where(first, new_m, new_m + c1.astype(real).astype(wide) * (s - new_m))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = _tree.map_unzip(one, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdoptState(h.count, mu, nu, h.state)

    return GradientTransformation(init, update)

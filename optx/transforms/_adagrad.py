"""AdaGrad: scaling by the root of the sum of all squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`: the running sum of squared gradients."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    sum_of_squares: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_rss")
def scale_by_rss(
    initial_accumulator_value: float = 0.1,
    eps: ScalarOrSchedule = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    """Scales updates by the root of the sum of all squared gradients so far (AdaGrad).

    Update rule::

        s = s + g**2                                  (s starts at initial_accumulator_value)
        u = g / sqrt(s + eps)      where s + eps > 0  (eps_in_sqrt=True: Optax, MXNet)
        u = g / (sqrt(s) + eps)                       (eps_in_sqrt=False: PyTorch)

    Optax starts ``s`` at 0.1; MXNet and PyTorch at 0 (pass ``initial_accumulator_value=0``).
    A coordinate whose gradient has always been 0 gets update 0.

    Args:
      initial_accumulator_value: >= 0.
      eps: >= 0.
      eps_in_sqrt: where eps goes.

    References:
      Duchi et al., 2011, Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization, https://jmlr.org/papers/v12/duchi11a.html
    """
    call = "optx.scale_by_rss"
    _validate.check_non_negative(call, "initial_accumulator_value", initial_accumulator_value)
    hyperparams = Hyperparams(call, eps=eps)

    def init(params):
        sums = jax.tree.map(
            lambda x: jnp.full_like(x, initial_accumulator_value), moments_like(params, real=True)
        )
        return ScaleByRssState(hyperparams.init_count(params), sums, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.sum_of_squares, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, s):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            rw = _tree.real_dtype(wide)
            s = (s.astype(rw) + _tree.abs_sq(gw)).astype(s.dtype)
            sw = s.astype(rw)
            eps_ = h["eps"].astype(rw)
            if eps_in_sqrt:
                inverse = jnp.where(sw + eps_ > 0, jax.lax.rsqrt(sw + eps_), 0.0)
            else:
                inverse = 1 / (jnp.sqrt(sw) + eps_)
            return (gw * inverse.astype(wide)).astype(g.dtype), s

        updates, sums = _tree.map_unzip(one, 2, updates, state.sum_of_squares)
        return updates, ScaleByRssState(h.count, sums, h.state)

    return GradientTransformation(init, update)

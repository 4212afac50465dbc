"""SM3: AdaGrad with one accumulator per row, column, ... instead of one per entry."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._constraints import CLOSED_UNIT_INTERVAL
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleBySm3State(NamedTuple):
    """State of `scale_by_sm3`.

    Attributes:
      count: updates done.
      accumulators: per leaf, a tuple: one vector per axis for leaves of rank >= 2 (shape
        ``(n_i,)`` for axis i), else one array shaped like the leaf.
      mu: the momentum of the normalized gradients.
      hyperparams: ``b1``, ``b2``, ``eps``.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    accumulators: Any
    mu: Any
    hyperparams: HyperparamsState


def _accumulators_like(p: Any) -> tuple[jax.Array, ...]:
    dtype = _tree.real_dtype(_tree.wide_dtype(jnp.result_type(p)))  # of |g|**2
    if jnp.ndim(p) < 2:
        return (_tree.zeros_like(p, dtype),)
    return tuple(_tree.zeros_reduced(p, (axis,), dtype) for axis in range(jnp.ndim(p)))


def _along(vector: jax.Array, axis: int, ndim: int) -> jax.Array:
    shape = [1] * ndim
    shape[axis] = vector.shape[0]
    return vector.reshape(shape)


@_validate.public_call("optx.scale_by_sm3")
def scale_by_sm3(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """Scales updates by SM3-II, a memory-efficient AdaGrad (Anil et al., 2019).

    Update rule for a leaf of rank >= 2 with one accumulator ``a_i`` per axis i::

        s = c * g**2 + b2 * min_i a_i        (broadcast: min over the cover sets of each entry)
        a_i = max of s over every axis but i
        n = g / sqrt(s + eps)   where s > 0, else 0
        m = b1 * m + (1 - b1) * n
        u = m

    with ``c = 1`` when ``b2 == 1`` (the paper's sums) and ``c = 1 - b2`` otherwise. Leaves
    of rank 0 or 1 keep one accumulator per entry (plain AdaGrad). Same as Optax's
    `sm3`, which also applies the momentum as an average; Optax has no rank-0 support.

    Args:
      b1: momentum in [0, 1).
      b2: accumulator decay in [0, 1]; 1 sums as in the paper.
      eps: >= 0, inside the root.

    Raises:
      ValueError: b1 outside [0, 1), b2 outside [0, 1], or a negative eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_sm3(b1=0.0, eps=0.0)
      >>> tx.update(jnp.array([[3.0, -1.0]]), tx.init(jnp.zeros((1, 2))))[0]
      Array([[ 1., -1.]], dtype=float32)

    References:
      Anil et al., 2019, Memory-Efficient Adaptive Optimization,
      https://arxiv.org/abs/1901.11150
    """
    call = "optx.scale_by_sm3"
    hyperparams = Hyperparams(
        call,
        b1=b1,
        b2=b2,
        eps=eps,
        decays=("b1", "b2"),
        constraints={"b2": CLOSED_UNIT_INTERVAL},  # b2 = 1 sums squares (the paper's SM3)
    )

    def init(params):
        accumulators = jax.tree.map(_accumulators_like, params)
        return ScaleBySm3State(
            hyperparams.init_count(params),
            accumulators,
            _tree.moments_like(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        b2_ = h["b2"]
        c = jnp.where(b2_ < 1, h.complement("b2"), 1.0)

        def one(g, accumulators):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            ndim = gw.ndim
            if ndim < 2:
                previous = accumulators[0]
            else:
                previous = _along(accumulators[0], 0, ndim)
                for axis in range(1, ndim):
                    previous = jnp.minimum(previous, _along(accumulators[axis], axis, ndim))
            rw = _tree.real_dtype(wide)
            s = c.astype(rw) * _tree.abs_sq(gw) + b2_.astype(rw) * previous.astype(rw)
            new_accumulators: tuple[jax.Array, ...]
            if ndim < 2:
                new_accumulators = (s.astype(accumulators[0].dtype),)
            else:
                new_accumulators = tuple(
                    jnp.max(s, axis=tuple(a for a in range(ndim) if a != axis)).astype(acc.dtype)
                    for axis, acc in enumerate(accumulators)
                )
            inverse = jax.lax.rsqrt(s + h["eps"].astype(rw)).astype(wide)
            return jnp.where(s > 0, gw * inverse, 0.0), new_accumulators

        normalized, accumulators = _tree.map_unzip(one, 2, updates, state.accumulators)
        mu = h.moment("b1", state.mu, normalized)
        updates = jax.tree.map(lambda g, m: m.astype(g.dtype), updates, mu)
        return updates, ScaleBySm3State(h.count, accumulators, mu, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

"""L-BFGS: the two-loop recursion over the last few parameter and gradient differences."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation
from optx.transforms._linesearch import _dot


class ScaleByLbfgsState(NamedTuple):
    """State of `scale_by_lbfgs`.

    Attributes:
      count: updates applied.
      params: the params of the latest update (float32 at least).
      updates: the gradients of the latest update (float32 at least).
      diff_params_memory: ``memory_size`` trees of parameter differences ``s``, oldest
        first (each shaped and placed like the params).
      diff_updates_memory: the gradient differences ``y``, in the same order.
      weights_memory: the ``rho = 1 / <y, s>`` of each pair (0 for an empty or degenerate
        pair), a replicated vector of ``memory_size``.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    params: Any
    updates: Any
    diff_params_memory: tuple[Any, ...]
    diff_updates_memory: tuple[Any, ...]
    weights_memory: jax.Array


def _sub(a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: x.astype(y.dtype) - y, a, b)


def _axpy(alpha: jax.Array, x: Any, y: Any) -> Any:
    """y + alpha * x, in y's dtypes."""
    return jax.tree.map(lambda a, b: b + alpha.astype(b.dtype) * a.astype(b.dtype), x, y)


def two_loop_recursion(
    updates: Any, diff_params: Any, diff_updates: Any, weights: jax.Array, scale: jax.Array
) -> Any:
    """``H g`` by Algorithm 7.4 of Nocedal and Wright over stacked pairs, oldest first.

    ``diff_params``/``diff_updates`` are trees whose leaves stack the pairs on a leading
    axis; ``weights`` the ``rho``; ``scale`` the initial ``H0 = scale * I``.
    """

    def backward(q, pair):
        s, y, rho = pair
        alpha = rho * _dot(s, q).astype(rho.dtype)
        return _axpy(-alpha, y, q), alpha

    q, alphas = jax.lax.scan(backward, updates, (diff_params, diff_updates, weights), reverse=True)
    r = jax.tree.map(lambda x: scale.astype(x.dtype) * x, q)

    def forward(r, pair):
        s, y, rho, alpha = pair
        beta = rho * _dot(y, r).astype(rho.dtype)
        return _axpy(alpha - beta, s, r), None

    r, _ = jax.lax.scan(forward, r, (diff_params, diff_updates, weights, alphas))
    return r


@_validate.public_call("optx.scale_by_lbfgs")
def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    """Scales the updates by the L-BFGS approximation of the inverse Hessian.

    Update rule (k the 0-based update count, ``w`` the params, ``g`` the updates)::

        s = w_k - w_{k-1},  y = g_k - g_{k-1},  rho = 1 / <y, s>  (0 when <y, s> = 0)
        push (s, y, rho) into the memory of the last memory_size pairs (nothing at k = 0)
        H0 = gamma I,  gamma = <s, y> / <y, y>  (scale_init_precond; 1 otherwise)
        u = H g  by the two-loop recursion (Nocedal and Wright, Algorithm 7.4)

    At ``k = 0`` (no pair yet) ``gamma = min(1, 1 / ||g||)``, so the first step has norm
    at most 1 (Optax's choice; the book leaves it open). The memory is updated *before*
    the product, from the params and gradients of this call: chained before a line search
    (`scale_by_zoom_linesearch`, as in `lbfgs`) the pair enters once the step that made
    it has been taken. Same conventions as Optax's ``optax.scale_by_lbfgs``. Complex params
    are handled as their real and imaginary parts (``<a, b> = Re sum(conj(a) b)``).

    State: ``2 * memory_size + 2`` param-sized arrays (float32 at least) and one vector.

    Args:
      memory_size: pairs kept (int >= 1).
      scale_init_precond: scale the initial inverse Hessian by ``gamma`` (see above).

    Raises:
      ValueError: ``memory_size < 1``; ``update`` without params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_lbfgs()
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)), jnp.zeros(2))[0]
      Array([0.6, 0.8], dtype=float32)

    References:
      Nocedal and Wright, 2006, Numerical Optimization (2nd ed.), Algorithms 7.4 and 7.5,
      https://doi.org/10.1007/978-0-387-40065-5; Liu and Nocedal, 1989, On the limited
      memory BFGS method for large scale optimization, https://doi.org/10.1007/BF01589116
    """
    call = "optx.scale_by_lbfgs"
    _validate.check_int(call, "memory_size", memory_size, low=1)

    def init(params):
        zeros = lambda: _tree.moments_like(params)  # noqa: E731
        weights = _tree.place(
            jnp.zeros([memory_size], _tree.scalar_dtype(params)),
            _tree.replicated_sharding(params),
        )
        return ScaleByLbfgsState(
            _tree.zero_count(params),
            zeros(),
            zeros(),
            tuple(zeros() for _ in range(memory_size)),
            tuple(zeros() for _ in range(memory_size)),
            weights,
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, state.params, updates)
        started = state.count > 0
        dtype = state.weights_memory.dtype
        s = _sub(params, state.params)
        y = _sub(updates, state.updates)
        sy = _dot(y, s).astype(dtype)
        rho = jnp.where(sy == 0.0, jnp.zeros([], dtype), 1 / jnp.where(sy == 0.0, 1, sy))
        s, y, rho = jax.tree.map(lambda x: jnp.where(started, x, jnp.zeros_like(x)), (s, y, rho))
        s_memory = (*state.diff_params_memory[1:], s)
        y_memory = (*state.diff_updates_memory[1:], y)
        weights = jnp.concatenate([state.weights_memory[1:], rho[None]])
        if scale_init_precond:
            yy = _dot(y, y).astype(dtype)
            gamma = jnp.where(yy > 0.0, sy / jnp.where(yy > 0, yy, 1), 1.0)  # <y, s> = sy
            norm = jnp.sqrt(_dot(updates, updates)).astype(dtype)
            gamma = jnp.where(started, gamma, jnp.minimum(1.0, 1.0 / norm))
        else:
            gamma = jnp.ones([], dtype)
        stack = lambda memory: jax.tree.map(lambda *xs: jnp.stack(xs), *memory)  # noqa: E731
        wide = jax.tree.map(lambda g, m: g.astype(m.dtype), updates, state.updates)
        direction = two_loop_recursion(wide, stack(s_memory), stack(y_memory), weights, gamma)
        direction = jax.tree.map(lambda d, g: d.astype(g.dtype), direction, updates)
        new_state = ScaleByLbfgsState(
            _tree.safe_increment(state.count),
            jax.tree.map(lambda p, m: p.astype(m.dtype), params, state.params),
            wide,
            s_memory,
            y_memory,
            weights,
        )
        return direction, new_state

    return GradientTransformation(init, update)

"""Gradient clipping: elementwise, by the global norm, by each leaf's RMS, and unit-wise
relative to the weights (AGC)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ClipState(NamedTuple):
    """State of `clip` and `clip_by_global_norm`.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


ClipByGlobalNormState = ClipState


@_validate.public_call("optx.clip")
def clip(max_delta: ScalarOrSchedule) -> GradientTransformation:
    """Clips each update element to ``[-max_delta, max_delta]``.

    Update rule: ``u = clip(g, -max_delta, max_delta)``, elementwise. MXNet's
    ``clip_gradient`` (with ``rescale_grad`` applied first).

    Args:
      max_delta: > 0, hyperparameter ``max_delta``.
    """
    call = "optx.clip"
    hyperparams = Hyperparams(
        call, constraints={"max_delta": _constraints.POSITIVE}, max_delta=max_delta
    )
    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(
            public,
            params,
            "it clips each element to the real interval [-max_delta, max_delta], and complex "
            "numbers have no order (clip_by_global_norm and clip_by_block_rms bound |g| and "
            "accept complex params)",
        )
        return ClipState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)
        limit = h["max_delta"]
        updates = jax.tree.map(
            lambda g: jnp.clip(g, -limit.astype(g.dtype), limit.astype(g.dtype)), updates
        )
        return updates, ClipState(h.count, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.clip_by_global_norm")
def clip_by_global_norm(max_norm: ScalarOrSchedule) -> GradientTransformation:
    """Rescales all updates together so their global L2 norm is at most ``max_norm``.

    Update rule: ``u = g * min(1, max_norm / ||g||)``, with ``||g||`` over every leaf. The
    factor is one scalar multiplied in (no element is divided by the norm).

    Args:
      max_norm: > 0, hyperparameter ``max_norm``.

    References:
      Pascanu et al., 2013, On the difficulty of training recurrent neural networks,
      https://arxiv.org/abs/1211.5063
    """
    call = "optx.clip_by_global_norm"
    hyperparams = Hyperparams(
        call, constraints={"max_norm": _constraints.POSITIVE}, max_norm=max_norm
    )

    def init(params):
        return ClipState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)
        norm = _tree.global_norm(updates)
        factor = h["max_norm"] / jnp.maximum(norm, h["max_norm"])
        return _tree.scale_tree(factor, updates), ClipState(h.count, h.state)

    return GradientTransformation(init, update)


class ClipByBlockRmsState(NamedTuple):
    """State of `clip_by_block_rms`."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


class AdaptiveGradClipState(NamedTuple):
    """State of `adaptive_grad_clip`."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


@_validate.public_call("optx.clip_by_block_rms")
def clip_by_block_rms(threshold: ScalarOrSchedule) -> GradientTransformation:
    """Rescales each leaf so its root mean square is at most ``threshold``.

    Update rule, per leaf: ``u = g * min(1, threshold / rms(g))`` with
    ``rms(g) = sqrt(mean(g**2))``, a float32 scalar multiplied in. Same as Optax's
    ``clip_by_block_rms``.

    Args:
      threshold: > 0, hyperparameter ``threshold``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.clip_by_block_rms(1.0)
      >>> tx.update(jnp.array([3.0, -3.0]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)
    """
    call = "optx.clip_by_block_rms"
    hyperparams = Hyperparams(
        call, constraints={"threshold": _constraints.POSITIVE}, threshold=threshold
    )

    def init(params):
        return ClipByBlockRmsState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g):
            wide = _tree.wide_dtype(g)
            rms = jnp.sqrt(jnp.mean(_tree.abs_sq(g.astype(wide))))
            factor = h["threshold"] / jnp.maximum(rms, h["threshold"])
            return (g.astype(wide) * factor.astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates)
        return updates, ClipByBlockRmsState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


def _unit_norm(x: jax.Array) -> jax.Array:
    """L2 norm per output unit (float32 at least): over all axes but the last, kept as size-1 axes.

    Scalars and vectors are one unit. Kernels are laid out with the output last (Flax's
    ``(in, out)`` dense and ``HWIO`` conv kernels).
    """
    squares = _tree.abs_sq(x.astype(_tree.wide_dtype(x)))
    if x.ndim <= 1:
        return jnp.sqrt(jnp.sum(squares, keepdims=True))
    return jnp.sqrt(jnp.sum(squares, axis=tuple(range(x.ndim - 1)), keepdims=True))


@_validate.public_call("optx.adaptive_grad_clip")
def adaptive_grad_clip(
    clipping: ScalarOrSchedule = 0.01, eps: ScalarOrSchedule = 1e-3
) -> GradientTransformation:
    """Unit-wise adaptive gradient clipping (AGC, Brock et al., 2021).

    Update rule, per output unit ``i`` (a column of a dense kernel, an output channel of a
    conv kernel, the whole of a vector)::

        limit_i = clipping * max(||w_i||, eps)
        u_i = g_i * limit_i / max(||g_i||, 1e-6)   where ||g_i|| > limit_i, else g_i

    The norms and factors have the reduced shape (one per unit) and are multiplied in.
    Units are "all axes but the last" for any rank >= 2. Optax's ``adaptive_grad_clip``
    agrees for vectors, ``(in, out)`` kernels and ``HWIO`` kernels; it differs for rank 3
    (Optax reduces axis 0 only) and for kernels that squeeze to a vector (Optax treats a
    ``(1, n)`` kernel as one unit).

    Args:
      clipping: > 0, the maximum ratio of gradient to weight norm (the paper's lambda).
      eps: > 0, floor on the weight norm so zero-initialised units can move.

    Raises:
      ValueError: at update, when ``params`` are missing.

    References:
      Brock et al., 2021, High-Performance Large-Scale Image Recognition Without
      Normalization, https://arxiv.org/abs/2102.06171
    """
    call = "optx.adaptive_grad_clip"
    hyperparams = Hyperparams(
        call,
        constraints={"clipping": _constraints.POSITIVE, "eps": _constraints.POSITIVE},
        clipping=clipping,
        eps=eps,
    )

    def init(params):
        return AdaptiveGradClipState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, w):
            wide = _tree.wide_dtype(g)
            g_norm = _unit_norm(g)
            limit = h["clipping"] * jnp.maximum(_unit_norm(w), h["eps"])
            factor = jnp.where(g_norm > limit, limit / jnp.maximum(g_norm, 1e-6), 1.0)
            return (g.astype(wide) * factor.astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates, params)
        return updates, AdaptiveGradClipState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

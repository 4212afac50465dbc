"""Gradient clipping: elementwise and by the global norm."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ClipState(NamedTuple):
    """State of `clip` and `clip_by_global_norm`.

    ``count`` is the number of updates done while a schedule drives a hyperparameter;
    with constants only it stays where it was (see `Hyperparams.next_count`).
    """

    count: jax.Array
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
        return ClipState(_tree.zero_count(params), hyperparams.init(params))

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
        return ClipState(_tree.zero_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)
        norm = _tree.global_norm(updates)
        factor = h["max_norm"] / jnp.maximum(norm, h["max_norm"])
        return _tree.scale_tree(factor, updates), ClipState(h.count, h.state)

    return GradientTransformation(init, update)

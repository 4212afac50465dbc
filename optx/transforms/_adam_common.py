"""Scalars and per-leaf arithmetic shared by the Adam variants."""

from __future__ import annotations

from typing import Any

import jax

from optx import _tree
from optx._hyperparams import Hyperparams


def adam_scalars(call: str, hyperparams: Hyperparams, state: Any, updates: Any) -> tuple:
    """The scalars of one update of a (b1, b2) moment transform, computed once per update.

    Checks ``updates`` against ``state.mu`` and returns ``(values, new_hyperparams_state,
    count, c1, c2, one_minus_b1, one_minus_b2)``: the resolved hyperparameters, the
    1-based count of this update, ``c1 = 1 / (1 - b1**t)``, ``c2 = 1 / (1 - b2**t)`` and
    the exact complements (see `Hyperparams.complement`).
    """
    _tree.check_structure(call, state.mu, updates)
    h, hp = hyperparams.resolve(state.hyperparams, state.count)
    count = _tree.safe_increment(state.count)
    (one_minus_b1, one_minus_b2), (c1, c2) = hyperparams.decay_terms(h, ("b1", "b2"), count)
    return h, hp, count, c1, c2, one_minus_b1, one_minus_b2


def ema_into(complement: jax.Array, buf: jax.Array, x: jax.Array, wide: Any):
    """``decay * buf + (1 - decay) * x`` in ``wide``, stored in the buffer's dtype.

    Computed as ``buf + (1 - decay) * (x - buf)``: equal in exact arithmetic, within an
    ulp in float32, and it reads one scalar instead of two. That matters for compile
    time: XLA compiles one kernel for all same-shaped leaves only when their kernels take
    their operands in the same order, and with two runtime scalars it orders the first
    leaf's operands differently (one extra kernel per leaf shape and moment).
    """
    b = buf.astype(wide)
    return (b + complement.astype(wide) * (x - b)).astype(buf.dtype)

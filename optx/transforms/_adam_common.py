"""Scalars and per-leaf arithmetic shared by the Adam variants."""

from __future__ import annotations

from typing import Any

import jax

from optx import _tree, _xla_cpu
from optx._hyperparams import Hyperparams


def adam_scalars(call: str, hyperparams: Hyperparams, state: Any, updates: Any) -> tuple:
    """The scalars of one update of a (b1, b2) moment transform, computed once per update.

    Checks ``updates`` against ``state.mu`` and returns ``(resolved, c1, c2)``: the
    `Resolved` hyperparameters, ``c1 = 1 / (1 - b1**t)`` and ``c2 = 1 / (1 - b2**t)``.
    """
    _tree.check_structure(call, state.mu, updates)
    h = hyperparams.resolve(state.hyperparams, state.count)
    c1, c2 = _xla_cpu.inverse_bias_corrections(h, ("b1", "b2"))
    return h, c1, c2


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

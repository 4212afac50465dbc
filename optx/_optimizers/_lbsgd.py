"""LBSGD: large-batch SGD with a per-layer warmup."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx.transforms import (
    scale_by_lbsgd,
)


@_validate.public_call("optx.lbsgd")
def lbsgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    warmup_strategy: str = "linear",
    warmup_epochs: int = 5,
    batch_scale: int = 1,
    updates_per_epoch: int = 32,
    begin_epoch: int = 0,
) -> GradientTransformation:
    """MXNet's LBSGD: large-batch SGD emulated by accumulating ``batch_scale`` calls.

    Update rule (see `scale_by_lbsgd` for the warmup factor ``mult``)::

        every batch_scale-th call:  m = momentum * m - lr * mult * (mean(g) + wd * w);  w += m
        other calls:                w unchanged (zero update)

    ``scale_by_lbsgd(...)`` alone: every ``batch_scale``-th call
    applies momentum SGD (rate inside the momentum) with the mean of the accumulated
    gradients and the rate multiplied by a warmup factor ('linear', 'power2', 'sqrt' ramps
    from 1 to ``batch_scale`` over ``warmup_epochs * updates_per_epoch`` calls, or 'lars',
    a per-layer ratio); the calls in between return zero updates. Defaults are MXNet's.

    Args:
      learning_rate, momentum, weight_decay: as `scale_by_lbsgd`.
      warmup_strategy, warmup_epochs, batch_scale, updates_per_epoch, begin_epoch:
        keyword-only, as `scale_by_lbsgd`.

    References:
      Goyal et al., 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour,
      https://arxiv.org/abs/1706.02677
    """
    return scale_by_lbsgd(
        learning_rate,
        momentum,
        weight_decay,
        warmup_strategy=warmup_strategy,
        warmup_epochs=warmup_epochs,
        batch_scale=batch_scale,
        updates_per_epoch=updates_per_epoch,
        begin_epoch=begin_epoch,
    )

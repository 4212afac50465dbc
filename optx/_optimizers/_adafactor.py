"""Adafactor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    add_decayed_weights,
    ema,
    scale_by_factored_rms,
    scale_by_learning_rate,
)
from optx.transforms._adafactor import scale_by_factored_rms_clipped, scale_by_param_block_rms

_MIN_PARAM_SCALE = 1e-3  # the paper's epsilon2: a leaf's step scale is at least this


@_validate.public_call("optx.adafactor")
def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ScalarOrSchedule = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ScalarOrSchedule | None = 1.0,
    momentum: ScalarOrSchedule | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-30,
    factored: bool = True,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Adafactor (Shazeer and Stern, 2018): Adam-like steps with factored second moments.

    Update rule, per leaf::

        d = g / rms_estimate                     (`scale_by_factored_rms`)
        d = d / max(1, rms(d) / clipping_threshold)              (update clipping)
        d = d * max(1e-3, rms(w))           (multiply_by_parameter_scale: relative step)
        d = momentum * d_prev + (1 - momentum) * d               (if momentum)
        d = d + weight_decay_rate * w                            (if weight_decay_rate)
        w = w - learning_rate * d

    Arguments, names and defaults are Optax's; ``learning_rate=None`` means 1.0 (a pure
    relative step, as Optax). One difference in order: here the learning rate multiplies
    last, so the weight decay is multiplied by it (as Hugging Face's and fairseq's
    Adafactor do), while Optax adds the decay after its learning-rate scaling. The two
    agree when ``weight_decay_rate`` is None and the learning rate is constant.

    Args:
      learning_rate: None or >= 0.
      min_dim_size_to_factor, decay_rate, decay_offset, eps, factored: as
        `scale_by_factored_rms` (``decay_offset`` is its ``step_offset``, ``eps`` its
        ``epsilon``).
      multiply_by_parameter_scale: scale each leaf's step by the leaf's RMS (at least 1e-3).
      clipping_threshold: None (off) or > 0, hyperparameter ``clipping_threshold``.
      momentum: None (off) or in [0, 1), an undebiased average of the steps.
      dtype_momentum: dtype of the momentum buffer.
      weight_decay_rate: None (off) or >= 0.
      weight_decay_mask: which leaves to decay.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adafactor(learning_rate=0.1)
      >>> w = jnp.array([1.0, -1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([3.0, 0.5]), tx.init(w), w)[0])
      Array([ 0.9, -1.1], dtype=float32)

    References:
      Shazeer and Stern, 2018, Adafactor: Adaptive Learning Rates with Sublinear Memory
      Cost, https://arxiv.org/abs/1804.04235
    """
    lr = 1.0 if learning_rate is None else learning_rate
    moments = (factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)
    if clipping_threshold is None:
        scaling = scale_by_factored_rms(*moments)
        use_param_scale = multiply_by_parameter_scale
    else:
        # One pass per leaf: chaining clip_by_block_rms would store every update first; the
        # parameter scale joins the clip factor, one scalar kernel per leaf instead of two.
        min_param_scale = _MIN_PARAM_SCALE if multiply_by_parameter_scale else None
        scaling = scale_by_factored_rms_clipped(*moments, clipping_threshold, min_param_scale)
        use_param_scale = False
    param_scale = scale_by_param_block_rms(_MIN_PARAM_SCALE) if use_param_scale else identity()
    if momentum is None:
        momentum_tx = identity()
    else:
        with shown_as({"decay": "momentum"}):
            momentum_tx = ema(momentum, debias=False, accumulator_dtype=dtype_momentum)
        momentum_tx = rename_hyperparams(momentum_tx, {"decay": "momentum"})
    return chain(
        scaling,
        param_scale,
        momentum_tx,
        identity()
        if weight_decay_rate is None
        else add_decayed_weights(weight_decay_rate, weight_decay_mask),
        scale_by_learning_rate(lr),
    )

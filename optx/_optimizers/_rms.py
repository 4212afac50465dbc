"""RMSProp (plain and centered, with momentum) and AdaGrad."""

from __future__ import annotations

import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_schedule,
    scale_by_stddev,
    trace,
)


@_validate.public_call("optx.rmsprop")
def rmsprop(
    learning_rate: ScalarOrSchedule = 1e-3,
    decay: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp (Tieleman and Hinton, 2012); centered as in Graves (2013).

    Update rule::

        v = decay * v + (1 - decay) * g**2
        d = g / sqrt(v + eps)                          (centered: g / sqrt(v - m**2 + eps))
        t = momentum * t + learning_rate * d           (only when momentum is given)
        w = w - t                                      (without momentum: w - learning_rate * d)

    ``chain(scale_by_rms or scale_by_stddev, scale_by_learning_rate, trace(momentum))``: the
    learning rate is *inside* the momentum buffer, as in Optax and MXNet's centered
    RMSProp (Graves' eq. 41). Defaults are Optax's and MXNet's (decay 0.9, eps 1e-8
    inside the root); PyTorch and fastai use decay 0.99 and eps outside the root
    (``eps_in_sqrt=False``).

    torch.optim.RMSprop(lr, alpha, eps, weight_decay, momentum, centered): use
    ``rmsprop(lr, alpha, eps, eps_in_sqrt=False, centered=centered, momentum=momentum)``
    (``momentum=None`` for torch's 0; PyTorch's default alpha is 0.99, optx's decay 0.9);
    its weight_decay: chain `add_decayed_weights` first.

    Args:
      learning_rate: >= 0.
      decay: in [0, 1) (MXNet's gamma1).
      eps: >= 0.
      initial_scale: starting value of the second moment.
      eps_in_sqrt: eps inside the square root (True) or added after it (False).
      centered: subtract the squared mean gradient (Graves).
      momentum: in [0, 1) or None (MXNet's gamma2 for the centered form).
      nesterov: Nesterov momentum.
      bias_correction: debias the moments as Adam does.

    References:
      Graves, 2013, Generating Sequences With Recurrent Neural Networks,
      https://arxiv.org/abs/1308.0850
    """
    scaling = scale_by_stddev if centered else scale_by_rms
    if momentum is None:
        if nesterov:
            raise ValueError("optx.rmsprop: nesterov=True needs a momentum, e.g. momentum=0.9")
        momentum_tx = identity()
    else:
        _validate.check_unit_interval("optx.rmsprop", "momentum", momentum)
        momentum_tx = rename_hyperparams(trace(momentum, nesterov=nesterov), {"decay": "momentum"})
    return chain(
        scaling(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        momentum_tx,
    )


@_validate.public_call("optx.adagrad")
def adagrad(
    learning_rate: ScalarOrSchedule = 0.01,
    initial_accumulator_value: float = 0.1,
    eps: ScalarOrSchedule = 1e-7,
    *,
    eps_in_sqrt: bool = True,
    lr_decay: float = 0.0,
) -> GradientTransformation:
    """AdaGrad (Duchi et al., 2011).

    Update rule::

        s = s + g**2                          (s starts at initial_accumulator_value)
        w = w - learning_rate * g / sqrt(s + eps)

    Optax's default starts ``s`` at 0.1; MXNet and PyTorch start at 0
    (``initial_accumulator_value=0``), and PyTorch adds eps outside the root
    (``eps_in_sqrt=False``, eps 1e-10). With ``lr_decay`` the rate of update ``t``
    (1-based) is ``learning_rate / (1 + (t - 1) * lr_decay)``, PyTorch's.

    torch.optim.Adagrad(lr, lr_decay, weight_decay, initial_accumulator_value, eps): use
    ``adagrad(lr, initial_accumulator_value, eps, eps_in_sqrt=False, lr_decay=lr_decay)``,
    chained after ``add_decayed_weights(weight_decay)`` for a weight decay.

    Args:
      learning_rate: >= 0.
      initial_accumulator_value: >= 0.
      eps: >= 0.
      eps_in_sqrt: where eps goes.
      lr_decay: keyword-only; >= 0, PyTorch's learning-rate decay (0: none).

    Raises:
      ValueError: a negative learning_rate or lr_decay.

    References:
      Duchi et al., 2011, Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization, https://jmlr.org/papers/v12/duchi11a.html
    """
    _validate.check_non_negative("optx.adagrad", "lr_decay", lr_decay)
    decay = float(lr_decay)

    def rate_factor(count):  # 1 / (1 + (t - 1) * lr_decay), count = t - 1 updates done
        return 1 / (1 + jnp.asarray(count).astype(jnp.result_type(float)) * decay)

    decayed = [scale_by_schedule(rate_factor)] if decay else []
    return chain(
        scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt),
        scale_by_learning_rate(learning_rate),
        *decayed,
    )

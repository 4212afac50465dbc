"""RMSProp: plain and centered, with momentum."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_rms,
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
        with shown_as({"decay": "momentum"}):
            momentum_tx = trace(momentum, nesterov=nesterov)
        momentum_tx = rename_hyperparams(momentum_tx, {"decay": "momentum"})
    return chain(
        scaling(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        momentum_tx,
    )

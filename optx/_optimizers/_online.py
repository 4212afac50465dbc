"""Online-learning optimizers from MXNet: FTRL-proximal and DCASGD."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    add_decayed_weights,
    scale_by_dcasgd,
    scale_by_ftrl,
    scale_by_learning_rate,
    trace,
)


@_validate.public_call("optx.ftrl")
def ftrl(
    learning_rate: ScalarOrSchedule = 0.1,
    lambda1: ScalarOrSchedule = 0.01,
    beta: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """FTRL-proximal (McMahan et al., 2013) with MXNet's semantics and defaults.

    Update rule per coordinate::

        z = z + g - (sqrt(n + g**2) - sqrt(n)) * w / learning_rate
        n = n + g**2
        w = (sign(z) * lambda1 - z) / ((beta + sqrt(n)) / learning_rate + weight_decay)
            where |z| > lambda1, else 0

    `scale_by_ftrl` alone: it returns ``w_new - w`` (rate and sign included) and needs
    params. L1 (``lambda1``) gives exact zeros; ``weight_decay`` is the L2 strength (MXNet's
    ``wd``, the paper's lambda2). Optax has no FTRL.

    Args:
      learning_rate: > 0 (the paper's alpha).
      lambda1: >= 0 (MXNet's ``lamda1``).
      beta: >= 0.
      weight_decay: >= 0.

    References:
      McMahan et al., 2013, Ad Click Prediction: a View from the Trenches,
      https://research.google/pubs/ad-click-prediction-a-view-from-the-trenches/
    """
    return scale_by_ftrl(learning_rate, lambda1, beta, weight_decay)


@_validate.public_call("optx.dcasgd")
def dcasgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule = 0.0,
    lamda: ScalarOrSchedule = 0.04,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Delay-compensated SGD (Zheng et al., 2017), MXNet 1.x's ``DCASGD``.

    Update rule (``w_prev`` is the weight before the previous update, initially ``w``)::

        m = momentum * m - learning_rate * (g + weight_decay * w
                                            + lamda * g**2 * (w - w_prev))
        w_prev = w
        w = w + m

    ``chain(scale_by_dcasgd(lamda), add_decayed_weights(weight_decay),
    scale_by_learning_rate(learning_rate), trace(momentum))``: the learning rate sits
    inside the momentum as in MXNet. MXNet 2.0 includes the decay in ``g**2``. Defaults are
    MXNet 1.x's (lr 0.01, momentum 0, lamda 0.04). Needs params.

    Args:
      learning_rate: >= 0.
      momentum: in [0, 1).
      lamda: >= 0 (MXNet's spelling of the paper's lambda).
      weight_decay: >= 0, coupled L2.

    References:
      Zheng et al., 2017, Asynchronous Stochastic Gradient Descent with Delay
      Compensation, https://arxiv.org/abs/1609.08326
    """
    with shown_as({"decay": "momentum"}):
        momentum_tx = trace(momentum)
    return chain(
        scale_by_dcasgd(lamda),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
        rename_hyperparams(momentum_tx, {"decay": "momentum"}),
    )

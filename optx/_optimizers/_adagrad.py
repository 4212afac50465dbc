"""AdaGrad."""

from __future__ import annotations

import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_rss,
    scale_by_schedule,
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

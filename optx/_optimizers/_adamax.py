"""AdaMax and AdaMaxW."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    add_decayed_weights,
    scale_by_adamax,
    scale_by_learning_rate,
)

Mask = Any | Callable[[Any], Any] | None


@_validate.public_call("optx.adamax")
def adamax(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    """AdaMax, Adam with an infinity norm (Kingma and Ba, 2014, section 7.1).

    Update rule::

        m = b1 * m + (1 - b1) * g
        u_inf = max(b2 * u_inf, |g| + eps)
        w = w - learning_rate / (1 - b1**t) * m / u_inf

    ``chain(scale_by_adamax, scale_by_learning_rate)``. Default learning rate 2e-3 as the
    paper, PyTorch and MXNet. Same as Optax and PyTorch; MXNet 1.x is ``eps_in_max=False,
    eps=0``, MXNet 2.0 ``eps_in_max=False`` (see `scale_by_adamax`).

    torch.optim.Adamax(lr, betas=(b1, b2), eps): use ``adamax(lr, b1, b2, eps)`` (eps inside
    the maximum, the default); its weight_decay: chain `add_decayed_weights` first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_in_max: as `scale_by_adamax`.

    Raises:
      ValueError: e.g. ``optx.adamax(b2=1.0)``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adamax(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Kingma and Ba, 2014, Adam: A Method for Stochastic Optimization,
      https://arxiv.org/abs/1412.6980
    """
    return chain(
        scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max), scale_by_learning_rate(learning_rate)
    )


@_validate.public_call("optx.adamaxw")
def adamaxw(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    """AdaMax with decoupled weight decay, multiplied by the learning rate (as Optax).

    Update rule: ``w = w - learning_rate * (adamax_direction + weight_decay * w)``;
    ``chain(scale_by_adamax, add_decayed_weights(weight_decay, mask), scale_by_learning_rate)``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_in_max: as `adamax`.
      weight_decay: >= 0, hyperparameter ``weight_decay``.
      mask: which leaves to decay (bool pytree or ``params -> bool pytree``).

    References:
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    return chain(
        scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

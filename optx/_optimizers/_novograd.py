"""NovoGrad."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_novograd,
)


@_validate.public_call("optx.novograd")
def novograd(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al., 2019): per-leaf normalized gradients with momentum.

    Update rule: ``m = b1 * m + g / sqrt(n) + weight_decay * w``, ``w = w - learning_rate * m``
    with ``n`` one moving second moment per leaf; see `scale_by_novograd`. Optax's
    defaults. The weight decay is inside the momentum (it needs ``params`` unless 0).

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, weight_decay: as `scale_by_novograd`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.novograd(0.5, eps=0.0)
      >>> w = jnp.array([1.0, 1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([3.0, 4.0]), tx.init(w), w)[0])
      Array([0.7, 0.6], dtype=float32)

    References:
      Ginsburg et al., 2019, Stochastic Gradient Methods with Layer-wise Adaptive Moments
      for Training of Deep Networks, https://arxiv.org/abs/1905.11286
    """
    return chain(
        scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
        scale_by_learning_rate(learning_rate),
    )

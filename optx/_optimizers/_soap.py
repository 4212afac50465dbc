"""SOAP: Adam in the eigenbasis of Shampoo's factors, with decoupled weight decay."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_soap


@_validate.public_call("optx.soap")
def soap(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.95,
    shampoo_beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.01,
    *,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
) -> GradientTransformation:
    """SOAP (Vyas et al., 2024): `scale_by_soap`, decoupled weight decay, learning rate.

    Update rule: ``w = w - learning_rate * (scale_by_soap(g) + weight_decay * w)``, the
    AdamW form (the authors' code decays the already-updated weights, a difference of
    order ``learning_rate**2 * weight_decay``). Defaults are the authors'. See
    `scale_by_soap` for the rule, the options and the state sizes.

    Args:
      learning_rate: >= 0.
      b1, b2, shampoo_beta, eps: as `scale_by_soap`.
      weight_decay: >= 0, decoupled.
      precondition_frequency, max_precond_dim, merge_dims, precondition_1d: as
        `scale_by_soap`.

    Raises:
      ValueError, TypeError: as `scale_by_soap`, or a negative ``weight_decay``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.soap(0.1, weight_decay=0.0, eps=0.0)
      >>> w = jnp.ones((2, 2))
      >>> optx.apply_updates(w, tx.update(-jnp.ones((2, 2)), tx.init(w), w)[0])
      Array([[1.1, 1.1],
             [1.1, 1.1]], dtype=float32)

    References:
      Vyas et al., 2024, SOAP: Improving and Stabilizing Shampoo using Adam,
      https://arxiv.org/abs/2409.11321
    """
    return chain(
        scale_by_soap(
            b1,
            b2,
            shampoo_beta,
            eps,
            precondition_frequency=precondition_frequency,
            max_precond_dim=max_precond_dim,
            merge_dims=merge_dims,
            precondition_1d=precondition_1d,
        ),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )

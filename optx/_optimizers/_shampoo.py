"""Shampoo: the blocked Kronecker-factored preconditioner with grafting, as an optimizer."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_shampoo, trace


@_validate.public_call("optx.shampoo")
def shampoo(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    graft_b2: ScalarOrSchedule = 0.999,
    graft_eps: ScalarOrSchedule = 1e-8,
    nesterov: bool = False,
    block_size: int = 128,
    precondition_frequency: int = 10,
    start_preconditioning_step: int = 10,
    root_method: str = "eigh",
    exponent_override: int | None = None,
    graft: str = "adam",
    max_preconditioner_dim: int = 4096,
) -> GradientTransformation:
    """Shampoo (Gupta et al., 2018) with Distributed Shampoo's grafting and momentum.

    Update rule: ``u = scale_by_shampoo(g) + weight_decay * w``, then heavy-ball momentum
    ``m = b1 * m + u`` (Nesterov's with ``nesterov``) and ``w = w - learning_rate * m``:
    the order of Anil et al.'s implementation (weight decay added to the preconditioned
    update, momentum after grafting). See `scale_by_shampoo` for the preconditioner, its
    options and state sizes.

    Args:
      learning_rate: >= 0.
      b1: momentum in [0, 1) (0: none).
      b2, eps, graft_b2, graft_eps: as `scale_by_shampoo`.
      weight_decay: >= 0, added to the preconditioned update (before momentum).
      nesterov: Nesterov momentum.
      block_size, precondition_frequency, start_preconditioning_step, root_method,
        exponent_override, graft, max_preconditioner_dim: as `scale_by_shampoo`.

    Raises:
      ValueError, TypeError: as `scale_by_shampoo`, or a bad ``b1``/``weight_decay``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.shampoo(0.1, graft="sgd")
      >>> w = jnp.ones((2, 2))
      >>> optx.apply_updates(w, tx.update(jnp.ones((2, 2)), tx.init(w), w)[0])
      Array([[0.9, 0.9],
             [0.9, 0.9]], dtype=float32)

    References:
      Gupta, Koren and Singer, 2018, https://arxiv.org/abs/1802.09568;
      Anil et al., 2020, https://arxiv.org/abs/2002.09018
    """
    return chain(
        scale_by_shampoo(
            b2,
            eps,
            graft_b2,
            graft_eps,
            block_size=block_size,
            precondition_frequency=precondition_frequency,
            start_preconditioning_step=start_preconditioning_step,
            root_method=root_method,
            exponent_override=exponent_override,
            graft=graft,
            max_preconditioner_dim=max_preconditioner_dim,
        ),
        add_decayed_weights(weight_decay),
        rename_hyperparams(trace(b1, nesterov), {"decay": "b1"}),
        scale_by_learning_rate(learning_rate),
    )

"""SM3: memory-efficient adaptive optimization."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_sm3,
)


@_validate.public_call("optx.sm3")
def sm3(
    learning_rate: ScalarOrSchedule = 0.1,
    momentum: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """SM3 (Anil et al., 2019): AdaGrad with per-axis accumulators, plus momentum.

    Update rule: ``w = w - learning_rate * m`` with ``m`` the momentum average of
    ``g / sqrt(s)`` and ``s`` SM3's cover-set accumulator; see `scale_by_sm3`. Same as
    Optax's `sm3` (which requires a learning rate; 0.1 here).

    Args:
      learning_rate: >= 0.
      momentum: in [0, 1); `scale_by_sm3`'s ``b1``.
      b2, eps: as `scale_by_sm3`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.sm3(1.0, momentum=0.0)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([2.0]), tx.init(w), w)[0])
      Array([0.], dtype=float32)

    References:
      Anil et al., 2019, Memory-Efficient Adaptive Optimization,
      https://arxiv.org/abs/1901.11150
    """
    with shown_as({"b1": "momentum"}):
        scaling = scale_by_sm3(momentum, b2, eps)
    return chain(
        rename_hyperparams(scaling, {"b1": "momentum"}),
        scale_by_learning_rate(learning_rate),
    )

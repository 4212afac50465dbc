"""AdEMAMix and Simplified AdEMAMix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    add_decayed_weights,
    scale_by_ademamix,
    scale_by_learning_rate,
    scale_by_simplified_ademamix,
)


@_validate.public_call("optx.ademamix")
def ademamix(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """AdEMAMix (Pagliardini et al., 2024): Adam plus a slow momentum, decoupled decay.

    Update rule (t the 1-based update count)::

        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3 * m2 + (1 - b3) * g
        nu = b2 * nu + (1 - b2) * |g|**2
        w = w - learning_rate * ((m1 / (1 - b1**t) + alpha * m2)
                                 / (sqrt(nu / (1 - b2**t) + eps_root) + eps)
                                 + weight_decay * w)

    ``chain(scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``, as
    Optax's ``optax.contrib.ademamix`` with its argument names and defaults (Optax requires
    the learning rate; 1e-3 here). The paper warms ``alpha`` and ``b3`` up over many steps
    when training from scratch; pass schedules of the 0-based update count for them, e.g.
    ``alpha=optx.schedules.linear_schedule(0.0, 5.0, 10_000)``. The weight decay is
    multiplied by the learning rate (Optax, PyTorch); the paper multiplies it by the
    schedule only.

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1: decay of the fast momentum, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      b3: decay of the slow momentum, in [0, 1); float, array or schedule.
      alpha: weight of the slow momentum, >= 0; float, array or schedule.
      eps, eps_root: >= 0, outside and inside the square root.
      mu_dtype: dtype of the two momenta.
      weight_decay: >= 0, decoupled (multiplied by the learning rate).
      mask: which leaves to decay (bool pytree or ``params -> pytree``).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: e.g. ``optx.ademamix(b3=1.0)``: b3 must be in [0, 1).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.ademamix(0.1, alpha=0.0)
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -4.0]), tx.init(params), params)
      >>> optx.apply_updates(params, updates)
      Array([ 0.9, -0.9], dtype=float32)

    References:
      Pagliardini, Ablin and Grangier, 2024, The AdEMAMix Optimizer: Better, Faster,
      Older, https://arxiv.org/abs/2409.03137
    """
    return chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.simplified_ademamix")
def simplified_ademamix(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Simplified AdEMAMix (Morwani et al., 2025): one momentum sum plus alpha * g.

    Update rule (t the 1-based update count)::

        m = b1 * m + g
        nu = b2 * nu + (1 - b2) * |g|**2
        w = w - learning_rate * ((m + alpha * g) / (sqrt(nu / (1 - b2**t) + eps_root) + eps)
                                 + weight_decay * w)

    ``chain(scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``, as
    Optax's ``optax.contrib.simplified_ademamix`` with its argument names and defaults.
    Optax requires the learning rate; the default here is 1e-4, below Adam's 1e-3, since
    ``m`` is a sum that grows to about ``1 / (1 - b1) = 100`` gradients (a steady gradient
    gives steps ``1 / (1 - b1)`` times Adam's at the same learning rate).

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1: discount of the momentum sum, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      alpha: weight of the current gradient, >= 0; float, array or schedule.
      eps, eps_root: >= 0, outside and inside the square root.
      weight_decay: >= 0, decoupled (multiplied by the learning rate).
      mask: which leaves to decay (bool pytree or ``params -> pytree``).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: e.g. ``optx.simplified_ademamix(alpha=-1.0)``: alpha must be >= 0.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.simplified_ademamix(0.1, alpha=1.0)
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -4.0]), tx.init(params), params)
      >>> optx.apply_updates(params, updates)
      Array([ 0.8, -0.8], dtype=float32)

    References:
      Morwani et al., 2025, Connections between Schedule-Free Optimizers, AdEMAMix, and
      Accelerated SGD Variants, https://arxiv.org/abs/2502.02431
    """
    return chain(
        scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

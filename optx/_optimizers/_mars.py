"""MARS (AdamW and Lion forms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_mars


@_validate.public_call("optx.mars")
def mars(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.99,
    gamma: ScalarOrSchedule = 0.025,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    optimizer: str = "adamw",
) -> GradientTransformation:
    """MARS (Yuan et al., 2024): variance-reduced, clipped gradients in AdamW or Lion.

    Update rule (MARS-approx, see `scale_by_mars`; ``g_prev`` is the previous update's
    gradient, the correction is zero at the first update)::

        c = g + gamma * b1 / (1 - b1) * (g - g_prev),   c = c / max(1, ||c||)
        m = b1 * m + (1 - b1) * c
        v = b2 * v + (1 - b2) * |c|**2
        w = w - learning_rate * (m / (1 - b1**t) / (sqrt(v / (1 - b2**t) + eps_root) + eps)
                                 + weight_decay * w)           (optimizer="adamw")
        w = w - learning_rate * (sign(m) + weight_decay * w)   (optimizer="lion")

    ``chain(scale_by_mars(b1, b2, gamma, eps, eps_root, mu_dtype, optimizer=optimizer),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``.
    This is MARS-approx: the paper's exact MARS needs a second gradient, at the previous
    params on the current batch, which an ``(init, update)`` transform does not get; the
    approximation uses the previous update's gradient (the paper's practical default).
    Defaults are the authors' (lr 3e-3, betas (0.95, 0.99), gamma 0.025). Lion-form
    steps have size ``learning_rate`` per element: take a learning rate 3 to 10 times
    smaller than for the AdamW form.

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1: decay of the momentum, in [0, 1).
      b2: decay of the second moment, in [0, 1) (``"adamw"``).
      gamma: strength of the gradient correction, >= 0.
      eps, eps_root: >= 0, outside and inside the square root (``"adamw"``).
      mu_dtype: dtype of the momentum.
      weight_decay: >= 0, decoupled (multiplied by the learning rate).
      mask: which leaves to decay (bool pytree or ``params -> pytree``).
      optimizer: ``"adamw"`` (MARS-AdamW) or ``"lion"`` (MARS-Lion).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: e.g. ``optx.mars(optimizer="sgd")``: optimizer must be one of 'adamw',
        'lion'; ``optx.mars(gamma=-1.0)``: gamma must be >= 0.
      TypeError: at init, complex params for ``optimizer="lion"``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.mars(0.1, optimizer="lion")
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -4.0]), tx.init(params), params)
      >>> optx.apply_updates(params, updates)
      Array([ 0.9, -0.9], dtype=float32)

    References:
      Yuan, Liu, Wu, Zhou and Gu, 2024, MARS: Unleashing the Power of Variance
      Reduction for Training Large Models, https://arxiv.org/abs/2411.10438
    """
    return chain(
        scale_by_mars(b1, b2, gamma, eps, eps_root, mu_dtype, optimizer=optimizer),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

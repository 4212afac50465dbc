"""D-Adaptation AdamW: learning-rate-free AdamW."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._optimizers._prodigy import _negate
from optx.transforms import scale_by_dadapt_adamw


@_validate.public_call("optx.dadapt_adamw")
def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """D-Adaptation AdamW (Defazio and Mishchenko, 2023): AdamW whose step size is estimated.

    Update rule (see `optx.scale_by_dadapt_adamw` for ``m`` (a moment of ``d * gamma *
    g``), ``v``, ``d`` and ``gamma``, the bias-corrected ``learning_rate``)::

        x = x - m / (sqrt(v) + eps) - weight_decay * d * gamma * x

    ``d`` starts at ``estim_lr0`` and only grows, toward the distance from the start to
    the solution (measured in the infinity norm), so ``learning_rate`` is a schedule
    multiplier around 1.0. ``chain(scale_by_dadapt_adamw(...), negate)``; argument names,
    defaults and meanings are Optax's (``optax.contrib.dadapt_adamw``).

    Args:
      learning_rate: the multiplier of ``d``, >= 0; float, array or schedule.
      betas: ``(beta1, beta2)``, Adam's decays (hyperparameters ``beta1``, ``beta2``).
      eps: >= 0.
      estim_lr0: the initial estimate ``d0`` (> 0; an underestimate: d only grows).
      weight_decay: decoupled, multiplied by ``d * gamma``.

    Raises:
      ValueError: bad hyperparameters; ``update`` called without params.
      TypeError: at init, complex params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.dadapt_adamw()
      >>> x = jnp.array([10.0, -10.0])  # far from the minimum at 0 of sum(x**2)
      >>> state = tx.init(x)
      >>> for _ in range(100):
      ...     updates, state = tx.update(2 * x, state, x)
      ...     x = optx.apply_updates(x, updates)
      >>> bool(state[0].estim_lr > 1e-3)  # d grew from 1e-6
      True

    References:
      Defazio and Mishchenko, 2023, Learning-Rate-Free Learning by D-Adaptation,
      https://arxiv.org/abs/2301.07733
    """
    return chain(
        scale_by_dadapt_adamw(learning_rate, betas, eps, estim_lr0, weight_decay), _negate()
    )

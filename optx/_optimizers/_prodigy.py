"""Prodigy: learning-rate-free AdamW."""

from __future__ import annotations

import jax

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, stateless
from optx.transforms import scale_by_prodigy


def _negate() -> GradientTransformation:
    """The stateless step ``u = -u`` that turns a descent direction into an update."""
    return stateless(lambda updates, params: jax.tree.map(lambda u: -u, updates))


@_validate.public_call("optx.prodigy")
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    beta3: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    estim_lr_coef: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Prodigy (Mishchenko and Defazio, 2023): AdamW whose step size d is estimated.

    Update rule (see `optx.scale_by_prodigy` for ``m``, ``v``, ``d`` and ``gamma``, the
    bias-corrected ``learning_rate``)::

        x = x - d * gamma * (m / (sqrt(v) + d * eps) + weight_decay * x)

    ``d`` starts at ``estim_lr0`` and only grows, to about the distance from the start to
    the solution, so ``learning_rate`` is a schedule multiplier around 1.0 (the authors
    recommend a cosine or linear decay from 1.0, with or without warmup).
    ``chain(scale_by_prodigy(...), negate)``; argument names, defaults and meanings are
    Optax's (``optax.contrib.prodigy``).

    Args:
      learning_rate: the multiplier of ``d``, >= 0; float, array or schedule.
      betas: ``(beta1, beta2)``, Adam's decays (hyperparameters ``beta1``, ``beta2``).
      beta3: decay of the estimate's sums; None for ``sqrt(beta2)``.
      eps: >= 0.
      estim_lr0: the initial estimate ``d0`` (> 0; an underestimate: d only grows).
      estim_lr_coef: multiplies each new estimate of ``d``.
      weight_decay: decoupled, multiplied by ``d * gamma``.
      safeguard_warmup: leave ``gamma`` out of the estimate's denominator sums.

    Raises:
      ValueError: bad hyperparameters; ``update`` called without params.
      TypeError: at init, complex params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.prodigy()
      >>> x = jnp.array([10.0, -10.0])  # far from the minimum at 0 of sum(x**2)
      >>> state = tx.init(x)
      >>> for _ in range(100):
      ...     updates, state = tx.update(2 * x, state, x)
      ...     x = optx.apply_updates(x, updates)
      >>> bool(state[0].estim_lr > 1.0)  # d grew from 1e-6 to the scale of the problem
      True

    References:
      Mishchenko and Defazio, 2023, Prodigy: An Expeditiously Adaptive Parameter-Free
      Learner, https://arxiv.org/abs/2306.06101
    """
    return chain(
        scale_by_prodigy(
            learning_rate,
            betas,
            beta3,
            eps,
            estim_lr0,
            estim_lr_coef,
            weight_decay,
            safeguard_warmup,
        ),
        _negate(),
    )

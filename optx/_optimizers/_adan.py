"""Adan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_adan, scale_by_learning_rate


@_validate.public_call("optx.adan")
def adan(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Adan (Xie et al., 2022): adaptive Nesterov momentum, decoupled weight decay.

    Update rule (t the 1-based update count, ``d = g - g_prev``, zero at ``t = 1``)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * d
        n = b3 * n + (1 - b3) * |g + b2 * d|**2
        w = w - learning_rate * ((m / (1 - b1**t) + b2 * v / (1 - b2**t))
                                 / (sqrt(n / (1 - b3**t) + eps_root) + eps)
                                 + weight_decay * w)

    ``chain(scale_by_adan(b1, b2, b3, eps, eps_root), add_decayed_weights(weight_decay,
    mask), scale_by_learning_rate(learning_rate))``, with the argument names and defaults
    of ``optax.adan`` (which requires the learning rate; 1e-3 here). The ``b`` are decays,
    the paper's ``1 - beta`` (its defaults beta = (0.02, 0.08, 0.01)).

    Differences:

    - Optax 0.2.8 weights the difference terms by ``1 - b2`` (0.08 by default) where the
      paper's Algorithm 1 and the authors' code use ``b2`` (the paper's ``1 - beta_2``,
      0.92); this follows the paper. The two agree for ``b2 = 0.5`` and differ from the
      second update on otherwise.
    - The weight decay is decoupled and multiplied by the learning rate (Optax);
      the paper's step is proximal, ``w = (w - learning_rate * u) / (1 + learning_rate *
      weight_decay)``, which differs at second order in ``learning_rate * weight_decay``.

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1: decay of the gradient average, in [0, 1).
      b2: decay of the gradient-difference average, in [0, 1).
      b3: decay of the squared Nesterov term, in [0, 1).
      eps, eps_root: >= 0, outside and inside the square root.
      weight_decay: >= 0, decoupled (multiplied by the learning rate).
      mask: which leaves to decay (bool pytree or ``params -> pytree``).

    Returns:
      A `GradientTransformation`.

    Raises:
      ValueError: e.g. ``optx.adan(b3=1.5)``: b3 must be in [0, 1).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adan(0.1, eps_root=0.0)
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -4.0]), tx.init(params), params)
      >>> optx.apply_updates(params, updates)
      Array([ 0.9, -0.9], dtype=float32)

    References:
      Xie, Zhou, Li, Lin and Yan, 2022, Adan: Adaptive Nesterov Momentum Algorithm for
      Faster Optimizing Deep Models, https://arxiv.org/abs/2208.06677
    """
    return chain(
        scale_by_adan(b1, b2, b3, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

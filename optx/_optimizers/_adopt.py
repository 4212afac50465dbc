"""ADOPT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import scale_by_learning_rate
from optx.transforms._adopt import quarter_power, scale_by_adopt


@_validate.public_call("optx.adopt")
def adopt(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: ScalarOrSchedule = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """ADOPT (Taniguchi et al., 2024): Adam that converges with any ``b2``.

    Update rule (t the number of updates already applied; see `scale_by_adopt`)::

        t = 0:  v = g**2                              (no step)
        t > 0:  m = b1 * m + (1 - b1) * clip(g / max(sqrt(v), eps), -t**0.25, t**0.25)
                w = w - learning_rate * m
                v = b2 * v + (1 - b2) * g**2

    ``chain(scale_by_adopt(...), scale_by_learning_rate(learning_rate))``, as
    ``optax.contrib.adopt``: same arguments, defaults and meaning (``learning_rate`` gets
    the paper's 1e-3 default; Optax has none). The first update is zero: it only
    initializes ``v``, as in the paper's Algorithm 1. Decoupled weight decay (the paper's
    AdamW-style variant): chain `add_decayed_weights` before `scale_by_learning_rate`.

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1, b2: decays in [0, 1) (the paper's defaults 0.9 and 0.9999).
      eps: >= 0, the floor of ``sqrt(v)``.
      mu_dtype: dtype of the momentum.
      nesterov, use_clipping, clip_value_fn: as in `scale_by_adopt`.

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps or learning rate.
      TypeError: at init, complex params with ``use_clipping``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adopt(0.1)
      >>> w = jnp.array([1.0, -1.0])
      >>> state = tx.init(w)
      >>> for _ in range(2):
      ...     u, state = tx.update(jnp.array([4.0, -4.0]), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> w
      Array([ 0.99, -0.99], dtype=float32)

    References:
      Taniguchi et al., 2024, ADOPT: Modified Adam Can Converge with Any beta2 with the
      Optimal Rate, https://arxiv.org/abs/2411.02853
    """
    return chain(
        scale_by_adopt(
            b1,
            b2,
            eps,
            mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
        ),
        scale_by_learning_rate(learning_rate),
    )

"""FTML: Follow the Moving Leader."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_ftml,
)


@_validate.public_call("optx.ftml")
def ftml(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: ScalarOrSchedule = 0.6,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """FTML, Follow the Moving Leader (Zheng and Kwok, 2017), as MXNet's.

    Update rule (MXNet's, t the 1-based update count)::

        v = b2 * v + (1 - b2) * g**2
        d_t = (1 - b1**t) / learning_rate * (sqrt(v / (1 - b2**t)) + eps)
        z = b1 * z + (1 - b1) * g - (d_t - b1 * d_{t-1}) * w
        w = -z / d_t

    The learning rate lives inside the state (`scale_by_ftml`), so this alias is that one
    transform. Defaults are MXNet 2.0's (1.x has the same betas and eps, lr 0.01 by default).
    MXNet's ``wd`` is coupled: ``chain(add_decayed_weights(wd), ftml(...))``. Not in Optax.

    Args:
      learning_rate: > 0.
      b1, b2, eps: as `scale_by_ftml`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.ftml(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([2.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Zheng and Kwok, 2017, Follow the Moving Leader in Deep Learning,
      http://proceedings.mlr.press/v70/zheng17a.html
    """
    return chain(scale_by_ftml(learning_rate, b1, b2, eps))

"""Schedule-Free SGD and AdamW: `schedule_free` around a momentum-free base optimizer."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams_access import rename_hyperparams
from optx._wrappers._schedule_free import schedule_free
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_rms


def _with_warmup(call: str, learning_rate: ScalarOrSchedule, warmup_steps: int | None) -> Any:
    """``learning_rate * min(count, warmup_steps) / warmup_steps`` (Optax's
    ``warmup_constant_schedule(0, learning_rate, warmup_steps)``), or the rate itself."""
    if warmup_steps is None:
        return learning_rate
    _validate.check_int(call, "warmup_steps", warmup_steps, low=1)
    if not callable(learning_rate):
        _validate.check_non_negative(call, "learning_rate", learning_rate)

    def schedule(count):
        peak = learning_rate(count) if callable(learning_rate) else learning_rate
        ramp = jnp.minimum(jnp.asarray(count, jnp.int32), warmup_steps).astype(jnp.float32)
        return peak * (ramp / warmup_steps)

    return schedule


@_validate.public_call("optx.schedule_free_sgd")
def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: int | None = None,
    b1: ScalarOrSchedule = 0.9,
    weight_decay: ScalarOrSchedule | None = None,
    weight_lr_power: ScalarOrSchedule = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-Free SGD (Defazio et al., 2024).

    Update rule (``y`` the params, ``gamma_t`` the learning rate after warmup; see
    `schedule_free`)::

        z = z - gamma_t * (g + weight_decay * y)
        x = (1 - c) * x + c * z,   c = max_lr**weight_lr_power / (sum of those weights)
        y = b1 * x + (1 - b1) * z

    ``schedule_free(chain(add_decayed_weights(weight_decay), sgd(lr)), None, b1, ...)``
    with ``lr`` ramped linearly from 0 over ``warmup_steps`` (Optax's
    ``warmup_constant_schedule(0, learning_rate, warmup_steps)``). Arguments and defaults
    are Optax's (``optax.contrib.schedule_free_sgd``); the averaging weights use the
    learning rate of the step they weight (Optax reads the warmup one step ahead for
    them; the two agree without warmup). Evaluate at `schedule_free_eval_params`.

    Args:
      learning_rate: >= 0, the peak rate; float, array or schedule (hyperparameter
        ``learning_rate``, shared by the steps and the weights).
      warmup_steps: length of the linear warmup (int >= 1), or None for none.
      b1: interpolation between ``x`` and ``z``, in (0, 1].
      weight_decay: coupled L2 (added to the gradient, so multiplied by the learning
        rate), or None for none.
      weight_lr_power: power of the learning rate in the averaging weights (>= 0).
      state_dtype: dtype of ``z`` (default: the params' dtype, at least float32).

    Raises:
      ValueError: bad hyperparameters, a ``warmup_steps`` that is not an int >= 1.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.schedule_free_sgd(0.1, warmup_steps=5)
      >>> y = jnp.array([3.0])
      >>> state = tx.init(y)
      >>> for _ in range(100):
      ...     updates, state = tx.update(2 * y, state, y)
      ...     y = optx.apply_updates(y, updates)
      >>> x = optx.schedule_free_eval_params(state, y)  # the weighted average of z
      >>> round(float(x[0]), 2)  # from 3.0, closing in as 1/t
      0.05

    References:
      Defazio et al., 2024, The Road Less Scheduled, https://arxiv.org/abs/2405.15682
    """
    lr = _with_warmup("optx.schedule_free_sgd", learning_rate, warmup_steps)
    base = scale_by_learning_rate(lr)
    if weight_decay is not None:
        base = chain(add_decayed_weights(weight_decay), base)
    return schedule_free(base, None, b1, weight_lr_power, state_dtype)


@_validate.public_call("optx.schedule_free_adamw")
def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    warmup_steps: int | None = None,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: ScalarOrSchedule = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    """Schedule-Free AdamW (Defazio et al., 2024).

    Update rule (``y`` the params, ``gamma_t`` the learning rate after warmup, ``t`` the
    1-based count; see `schedule_free`)::

        v = b2 * v + (1 - b2) * g**2
        z = z - gamma_t * (g / (sqrt(v / (1 - b2**t)) + eps) + weight_decay * y)
        x = (1 - c) * x + c * z,   c = max_lr**weight_lr_power / (sum of those weights)
        y = b1 * x + (1 - b1) * z

    ``schedule_free(chain(scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),
    add_decayed_weights(weight_decay), scale_by_learning_rate(lr)), None, b1, ...)``:
    AdamW without its first moment, whose role the interpolation takes. Arguments and
    defaults are Optax's (``optax.contrib.schedule_free_adamw``), as are the weights
    ``max_lr**2``; the paper's Algorithm 1 folds the bias correction ``sqrt(1 - b2**t)``
    into ``gamma_t`` and so into the weights too, which damps the first iterates further:
    build it with `schedule_free` and that schedule. With warmup the weights use the rate
    of the step they weight (Optax reads it one step ahead). Evaluate at
    `schedule_free_eval_params`.

    Args:
      learning_rate: >= 0, the peak rate; float, array or schedule (hyperparameter
        ``learning_rate``, shared by the steps and the weights).
      warmup_steps: length of the linear warmup (int >= 1), or None for none.
      b1: interpolation between ``x`` and ``z``, in (0, 1] (Adam's b1 has no other use).
      b2: decay of the second moment, in [0, 1).
      eps: >= 0, outside the square root.
      weight_decay: >= 0, decoupled, multiplied by the learning rate and taken at ``y``.
      weight_lr_power: power of the learning rate in the averaging weights (>= 0).
      state_dtype: dtype of ``z`` (default: the params' dtype, at least float32).

    Raises:
      ValueError: bad hyperparameters, a ``warmup_steps`` that is not an int >= 1.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.schedule_free_adamw(0.1, warmup_steps=10)
      >>> y = jnp.array([1.0, -2.0])
      >>> state = tx.init(y)
      >>> for _ in range(200):
      ...     updates, state = tx.update(2 * y, state, y)
      ...     y = optx.apply_updates(y, updates)
      >>> bool(jnp.abs(optx.schedule_free_eval_params(state, y)).max() < 0.05)
      True

    References:
      Defazio et al., 2024, The Road Less Scheduled, https://arxiv.org/abs/2405.15682
    """
    _validate.check_unit_interval("optx.schedule_free_adamw", "b2", b2)  # not scale_by_rms's decay
    lr = _with_warmup("optx.schedule_free_adamw", learning_rate, warmup_steps)
    base = chain(
        rename_hyperparams(
            scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True), {"decay": "b2"}
        ),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
    return schedule_free(base, None, b1, weight_lr_power, state_dtype)

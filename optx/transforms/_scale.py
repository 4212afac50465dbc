"""Scaling transforms: by a constant, a learning rate or a schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from optx import _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleState(NamedTuple):
    """State of `scale`, `scale_by_schedule` and `scale_by_learning_rate`.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


ScaleByScheduleState = ScaleState
ScaleByLearningRateState = ScaleState


def _scaler(call: str, name: str, value: ScalarOrSchedule, sign: float) -> GradientTransformation:
    specs: dict[str, Any] = {name: value}
    hyperparams = Hyperparams(call, **specs)

    def init(params):
        return ScaleState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        values = hyperparams.resolve(state.hyperparams, state.count)
        updates = _tree.scale_tree(sign * values[name], updates)
        return updates, ScaleState(values.count, values.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.scale")
def scale(step_size: ScalarOrSchedule) -> GradientTransformation:
    """Multiplies updates by ``step_size``.

    Update rule: ``u = step_size * g``.

    Args:
      step_size: a float, a scalar array or a schedule of the update count. It is held in
        the state as hyperparameter ``step_size``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale(-2.0)
      >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
      Array([-2., -2.], dtype=float32)
    """
    return _scaler("optx.scale", "step_size", step_size, 1.0)


@_validate.public_call("optx.scale_by_schedule")
def scale_by_schedule(step_size_fn: ScalarOrSchedule) -> GradientTransformation:
    """Multiplies updates by ``step_size_fn(count)``, ``count`` being the updates done so far.

    Update rule: ``u = step_size_fn(count) * g``.

    Args:
      step_size_fn: a schedule ``count -> scalar``.

    Raises:
      TypeError: ``step_size_fn`` is not callable (use `scale` for a constant).
    """
    if not callable(step_size_fn):
        raise TypeError(
            f"{_validate.current_call('optx.scale_by_schedule')}: step_size_fn must be a "
            f"schedule (a function of the step count), got {step_size_fn!r}; use optx.scale "
            "for a constant"
        )
    return _scaler("optx.scale_by_schedule", "step_size", step_size_fn, 1.0)


@_validate.public_call("optx.scale_by_learning_rate")
def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    """Multiplies updates by ``-learning_rate`` (or ``+learning_rate`` with ``flip_sign=False``).

    Update rule: ``u = -learning_rate * g``.

    The state holds the same arrays whether ``learning_rate`` is a float, an array or a
    schedule (unlike Optax, whose state changes with it), so a checkpoint restores into
    either; only the static `ScheduledFlags` differ. The value used for the latest
    update is read by ``optx.get_hyperparams(state)["learning_rate"]``.

    Args:
      learning_rate: a float ``>= 0``, a scalar array or a schedule.
      flip_sign: negate, turning a descent direction into a parameter update.

    Raises:
      ValueError: a negative learning rate.
    """
    return _scaler(
        "optx.scale_by_learning_rate", "learning_rate", learning_rate, -1.0 if flip_sign else 1.0
    )

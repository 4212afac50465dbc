"""Stochastic gradient descent with optional heavy-ball or Nesterov momentum."""

from __future__ import annotations

from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams import rename_hyperparams
from optx.transforms import scale_by_learning_rate, trace


@_validate.public_call("optx.sgd")
def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Stochastic gradient descent, with momentum if ``momentum`` is given.

    Update rule::

        t = momentum * t + g          (only when momentum is given)
        w = w - learning_rate * t     (nesterov: w - learning_rate * (g + momentum * t))

    ``chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))``. The
    learning rate is outside the momentum buffer (Optax, PyTorch); MXNet's SGD puts it
    inside, which differs under a schedule. Any value of ``momentum`` (0.0 included) keeps
    a buffer, so the state has the same structure for a float, an array or a schedule.

    Args:
      learning_rate: >= 0; float, scalar array or schedule. Hyperparameter
        ``learning_rate``.
      momentum: in [0, 1), or None for none. Hyperparameter ``momentum``.
      nesterov: Nesterov momentum.
      accumulator_dtype: dtype of the momentum buffer.

    Raises:
      ValueError: ``optx.sgd(-1.0)``: learning_rate must be >= 0.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.sgd(0.1, momentum=0.9)
      >>> params = jnp.array([1.0])
      >>> state = tx.init(params)
      >>> for _ in range(2):
      ...     updates, state = tx.update(jnp.array([1.0]), state, params)
      ...     params = optx.apply_updates(params, updates)
      >>> params
      Array([0.71], dtype=float32)

    References:
      Sutskever et al., 2013, On the importance of initialization and momentum in deep
      learning, http://proceedings.mlr.press/v28/sutskever13.html
    """
    _validate.check_non_negative("optx.sgd", "learning_rate", learning_rate)
    if momentum is None:
        if nesterov:
            raise ValueError("optx.sgd: nesterov=True needs a momentum, e.g. momentum=0.9")
        momentum_tx = identity()
    else:
        _validate.check_unit_interval("optx.sgd", "momentum", momentum)
        momentum_tx = rename_hyperparams(
            trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype),
            {"decay": "momentum"},
        )
    return chain(momentum_tx, scale_by_learning_rate(learning_rate))

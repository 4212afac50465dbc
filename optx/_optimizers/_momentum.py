"""Stochastic gradient descent with heavy-ball or Nesterov momentum, and MXNet's NAG."""

from __future__ import annotations

from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import add_decayed_weights, scale_by_learning_rate, trace


@_validate.public_call("optx.sgd")
def sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
    *,
    lr_inside_momentum: bool = False,
    weight_decay: ScalarOrSchedule | None = None,
    dampening: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """Stochastic gradient descent, with momentum if ``momentum`` is given.

    Update rule (``g`` includes ``weight_decay * w`` when ``weight_decay`` is given)::

        t = momentum * t + g          (only when momentum is given)
        w = w - learning_rate * t     (nesterov: w - learning_rate * (g + momentum * t))

    ``chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))``. The
    learning rate is outside the momentum buffer (Optax, PyTorch). With
    ``lr_inside_momentum=True`` it is inside, as in MXNet's SGD and NAG::

        m = momentum * m - learning_rate * (g + weight_decay * w)
        w = w + m                     (nesterov: w + momentum * m - learning_rate * g)

    i.e. ``chain(scale_by_learning_rate, trace)``. The two agree for a constant rate and
    differ under a schedule: with rates .1, .05, .025, g = 1 and momentum .9 from w = 0,
    MXNet's form ends at -0.391 and Optax's at -0.26275 (inside, a step keeps the rate it
    was taken with; outside, the whole buffer is rescaled by the current rate). Any value
    of ``momentum`` (0.0 included) keeps a buffer, so the state holds the same arrays for
    a float, an array or a schedule.

    Args:
      learning_rate: >= 0; float, scalar array or schedule. Hyperparameter
        ``learning_rate``.
      momentum: in [0, 1), or None for none. Hyperparameter ``momentum``.
      nesterov: Nesterov momentum.
      accumulator_dtype: dtype of the momentum buffer.
      lr_inside_momentum: keyword-only; MXNet's convention (see above).
      weight_decay: keyword-only; >= 0 or None. Coupled L2 decay added to the gradient
        before the momentum (MXNet's ``wd``, fastai's ``l2_reg``); needs params. For
        decoupled decay chain `add_decayed_weights` after the momentum instead.
      dampening: keyword-only; in [0, 1] or None (0). PyTorch's dampening: from the
        second update on ``t = momentum * t + (1 - dampening) * g`` (needs a momentum).

    torch.optim.SGD(lr, momentum, dampening, weight_decay, nesterov): use
    ``sgd(lr, momentum, nesterov, weight_decay=weight_decay, dampening=dampening)``
    (``momentum=None`` for torch's 0).

    Raises:
      ValueError: ``optx.sgd(-1.0)``: learning_rate must be >= 0; a dampening without a
        momentum.

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
    if momentum is None:
        if nesterov:
            raise ValueError("optx.sgd: nesterov=True needs a momentum, e.g. momentum=0.9")
        if dampening is not None:
            raise ValueError(
                f"optx.sgd: dampening={dampening!r} needs a momentum, e.g. momentum=0.9"
            )
        momentum_tx = identity()
    else:
        with shown_as({"decay": "momentum"}):
            momentum_tx = trace(
                momentum,
                nesterov=nesterov,
                accumulator_dtype=accumulator_dtype,
                dampening=dampening,
            )
        momentum_tx = rename_hyperparams(momentum_tx, {"decay": "momentum"})
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    if lr_inside_momentum:
        return chain(*decay, scale_by_learning_rate(learning_rate), momentum_tx)
    return chain(*decay, momentum_tx, scale_by_learning_rate(learning_rate))


@_validate.public_call("optx.nag")
def nag(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule = 0.9,
    weight_decay: ScalarOrSchedule | None = None,
    accumulator_dtype: Any = None,
    *,
    lr_inside_momentum: bool = True,
) -> GradientTransformation:
    """Nesterov accelerated SGD with MXNet's conventions (MXNet ``NAG``).

    Update rule (MXNet 1.9's kernel, ``g`` the gradient)::

        m = momentum * m - learning_rate * (g + weight_decay * w)
        w = w + momentum * m - learning_rate * (g + weight_decay * w)

    ``sgd(learning_rate, momentum, nesterov=True, lr_inside_momentum=True,
    weight_decay=weight_decay)``. The learning rate sits inside the momentum buffer as in
    MXNet; ``lr_inside_momentum=False`` gives Optax's and PyTorch's Nesterov SGD instead
    (equal for a constant rate; under a schedule MXNet's form differs). Defaults: MXNet
    1.x's learning rate (0.01) with MXNet 2.0's momentum (0.9).

    Args:
      learning_rate: >= 0.
      momentum: in [0, 1).
      weight_decay: >= 0 or None; coupled L2 (MXNet's ``wd``), needs params.
      accumulator_dtype: dtype of the momentum buffer.
      lr_inside_momentum: keyword-only, see above.

    References:
      Nesterov, 1983, A method for unconstrained convex minimization problem with the rate
      of convergence O(1/k^2).
      Sutskever et al., 2013, On the importance of initialization and momentum in deep
      learning, http://proceedings.mlr.press/v28/sutskever13.html
    """
    return sgd(
        learning_rate,
        momentum,
        nesterov=True,
        accumulator_dtype=accumulator_dtype,
        lr_inside_momentum=lr_inside_momentum,
        weight_decay=weight_decay,
    )

"""Sophia (Sophia-H by default): `scale_by_sophia`, decoupled weight decay, learning rate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_sophia


@_validate.public_call("optx.sophia")
def sophia(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.965,
    b2: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
    gamma: ScalarOrSchedule = 0.01,
    clip_threshold: ScalarOrSchedule | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
    *,
    convention: str = "optax",
) -> GradientTransformation:
    """Sophia (Liu et al., 2023): clipped steps preconditioned by a diagonal Hessian EMA.

    Update rule (see `scale_by_sophia` for the estimate ``h`` and the two conventions)::

        u = clip(m_hat / max(gamma * h, eps), clip_threshold)
        w = w - learning_rate * (u + weight_decay * w)

    ``chain(scale_by_sophia(...), add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate))``; argument names, order and defaults are
    Optax's ``optax.contrib.sophia``, and with ``convention="optax"`` the updates are too.

    Calling convention: ``update(grads, state, params, obj_fn=f)`` with ``f(params) ->
    scalar`` the loss of the current batch (``lambda p: loss(p, batch)``). Every
    ``update_interval``-th update calls Hutchinson's estimator, which costs one
    Hessian-vector product (a forward-over-reverse pass of ``f``); other updates do not
    call ``f``. Extra keyword arguments go to ``hessian_diagonal_fn``.

    Args:
      learning_rate: >= 0; float, array or schedule (hyperparameter ``learning_rate``).
      b1: decay of the gradient EMA, in [0, 1).
      b2: decay of the Hessian EMA per refresh, in [0, 1).
      eps: floor of the denominator, >= 0.
      weight_decay: decoupled weight decay, >= 0 (multiplied by the learning rate).
      weight_decay_mask: a tree of bools or a function of the params giving one; True
        where the decay applies.
      gamma: Hessian scale in the denominator (the paper's rho), > 0.
      clip_threshold: per-coordinate bound of the step before the learning rate, or None.
      update_interval: updates between Hessian refreshes (int >= 1).
      hessian_diagonal_fn: the estimator; default `hutchinson_estimator_diag_hessian`.
      mu_dtype: dtype of the gradient EMA.
      verbose: print the win rate every ``print_win_rate_every_n_steps`` updates.
      print_win_rate_every_n_steps: int >= 0, 0 for never.
      convention: ``"optax"`` (default) or ``"paper"`` (Algorithm 3: no bias correction,
        the refreshed estimate used at once), see `scale_by_sophia`.

    Raises:
      ValueError: bad hyperparameters (see `scale_by_sophia`); ``update`` without params
        or without ``obj_fn`` on a refresh.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> tx = optx.sophia(0.1, weight_decay=0.0)
      >>> w = jnp.zeros(2)
      >>> state = tx.init(w)
      >>> for _ in range(5):  # far from the minimum every step is clipped: learning_rate
      ...     u, state = tx.update(jax.grad(f)(w), state, w, obj_fn=f)
      ...     w = optx.apply_updates(w, u)
      >>> w.round(4)
      Array([0.5, 0.5], dtype=float32)

    References:
      Liu et al., 2023, Sophia: A Scalable Stochastic Second-order Optimizer for Language
      Model Pre-training, https://arxiv.org/abs/2305.14342
    """
    return chain(
        scale_by_sophia(
            b1,
            b2,
            eps,
            gamma,
            clip_threshold,
            update_interval,
            hessian_diagonal_fn,
            mu_dtype,
            verbose,
            print_win_rate_every_n_steps,
            convention=convention,
        ),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )

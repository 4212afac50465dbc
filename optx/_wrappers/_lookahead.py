"""Lookahead (slow and fast weights) over ordinary params, and Ranger = Lookahead(RAdam)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule, _accepting_extra_args, chain
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_radam


class LookaheadState(NamedTuple):
    """State of `lookahead`.

    Attributes:
      count: update calls so far.
      slow: the slow weights (float32 at least), a copy of the params at init.
      fast_state: the fast optimizer's state.
      hyperparams: holds ``slow_step_size``.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    slow: Any
    fast_state: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.lookahead")
def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int = 6,
    slow_step_size: ScalarOrSchedule = 0.5,
    reset_state: bool = False,
) -> GradientTransformation:
    """Lookahead: every ``sync_period`` steps, pull the weights toward slow weights.

    Update rule (the params are the fast weights; ``phi`` the slow weights in the state)::

        u, fast_state = fast.update(g, fast_state, w);   w_fast = w + u
        on steps k, 2k, ...:  phi = phi + slow_step_size * (w_fast - phi);  u = phi - w
                              (the params become the new slow weights)
        otherwise:            u as returned by fast

    Works with ordinary params: the slow weights live in the state (Optax instead needs a
    ``LookaheadParams`` pair built by the user), so it chains and trains like any
    optimizer. The fast optimizer's state is kept across synchronizations, as in the paper
    and fastai, unless ``reset_state`` (Optax's switch). Argument names and order are
    Optax's; defaults are fastai's (``k=6, alpha=0.5``; Optax has none); the paper uses
    ``k=5``.

    Args:
      fast_optimizer: the inner ("fast") optimizer.
      sync_period: k, steps between synchronizations (int >= 1).
      slow_step_size: the paper's alpha, in [0, 1]; float, array or schedule
        (hyperparameter ``slow_step_size``).
      reset_state: re-initialize the fast optimizer's state (from the synchronized params)
        at each synchronization.

    Raises:
      ValueError: bad arguments, or ``update`` called without params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.lookahead(optx.sgd(1.0), sync_period=2, slow_step_size=0.5)
      >>> w = jnp.zeros(1)
      >>> state = tx.init(w)
      >>> for _ in range(2):
      ...     u, state = tx.update(jnp.ones(1), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> w
      Array([-1.], dtype=float32)

    References:
      Zhang et al., 2019, Lookahead Optimizer: k steps forward, 1 step back,
      https://arxiv.org/abs/1907.08610
    """
    _validate.check_transformation("optx.lookahead", "fast_optimizer", fast_optimizer)
    call = "optx.lookahead"
    _validate.check_int(call, "sync_period", sync_period, low=1)
    hyperparams = Hyperparams(
        call,
        constraints={"slow_step_size": _constraints.CLOSED_UNIT_INTERVAL},
        slow_step_size=slow_step_size,
    )
    fast = fast_optimizer
    fast_update = _accepting_extra_args(fast.update)

    def init(params):
        slow = jax.tree.map(
            lambda p: jnp.array(p, dtype=_tree.wide_dtype(jnp.result_type(p)), copy=True), params
        )
        return LookaheadState(
            hyperparams.init_count(params), slow, fast.init(params), hyperparams.init(params)
        )

    def update(updates, state, params=None, **extra_args):
        _tree.require_params(call, params)
        _tree.check_structure(call, state.slow, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        fast_updates, fast_state = fast_update(updates, state.fast_state, params, **extra_args)
        count = h.count
        sync = (count % sync_period) == 0

        def one(u, p, s):
            wide = s.dtype
            w_fast = p.astype(wide) + u.astype(wide)
            a = h["slow_step_size"].astype(wide)
            new_slow = jnp.where(sync, s + a * (w_fast - s), s)
            synced = (new_slow - p.astype(wide)).astype(u.dtype)
            return jnp.where(sync, synced, u), new_slow

        new, slow = _tree.map_unzip(one, 2, fast_updates, params, state.slow)
        if reset_state:
            synced = jax.tree.map(lambda s, p: s.astype(p.dtype), slow, params)
            fresh = fast.init(synced)
            fast_state = jax.tree.map(lambda a, b: jnp.where(sync, a, b), fresh, fast_state)
        return new, LookaheadState(count, slow, fast_state, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.ranger")
def ranger(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.01,
    mask: Any = None,
    *,
    sync_period: int = 6,
    slow_step_size: ScalarOrSchedule = 0.5,
    threshold: ScalarOrSchedule = 5.0,
    softplus_beta: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Ranger: Lookahead around RAdam with decoupled weight decay, fastai's defaults.

    Update rule::

        fast step: w = w - learning_rate * (radam_direction + weight_decay * w)
        every sync_period steps: lookahead synchronization with alpha (see `lookahead`)

    ``lookahead(chain(scale_by_radam(b1, b2, eps, threshold=threshold,
    softplus_beta=softplus_beta), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate)), sync_period, slow_step_size)``. Defaults are fastai's
    ``ranger(p, lr, mom=0.95, wd=0.01, eps=1e-6)`` (``sqr_mom=0.99``, Lookahead ``k=6,
    alpha=0.5``, decoupled decay); fastai rectifies when ``rho_t > 5``, optx when
    ``rho_t >= 5`` (equal except exactly at the threshold). ``mask=None`` decays every
    leaf, as fastai's optimizer does; pass a mask (or use `optx.param_groups`) to spare
    biases and norm scales.

    Args:
      learning_rate: >= 0.
      b1, b2: RAdam's moment decays (fastai ``mom``, ``sqr_mom``).
      eps: >= 0, outside the root.
      weight_decay: >= 0, decoupled.
      mask: which leaves to decay (a bool tree or a function of the params), None for all.
      sync_period, slow_step_size: Lookahead's k and alpha (fastai's ``k``, ``alpha``).
      threshold, softplus_beta: as `optx.scale_by_radam`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.ranger(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.499], dtype=float32)

    References:
      Wright, 2019, Ranger optimizer, https://github.com/lessw2020/Ranger-Deep-Learning-Optimizer
      Liu et al., 2020, On the Variance of the Adaptive Learning Rate and Beyond,
      https://arxiv.org/abs/1908.03265
      Zhang et al., 2019, Lookahead Optimizer: k steps forward, 1 step back,
      https://arxiv.org/abs/1907.08610
    """
    fast = chain(
        scale_by_radam(b1, b2, eps, threshold=threshold, softplus_beta=softplus_beta),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
    return lookahead(fast, sync_period, slow_step_size)

"""Ensembles and hyperparameter sweeps: N train states stacked on a leading axis, one vmapped step.

Because every hyperparameter lives in the optimizer state (`optx.set_hyperparams`), one
optimizer object serves all members of a sweep: the states differ, the program does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx import _validate
from optx._core import GradientTransformation
from optx._hyperparams_access import set_hyperparams
from optx.train._donation import DonatingStep
from optx.train._state import TrainState
from optx.train._step import LossFn, StepFn, _check_step_args, make_step_body


def _as_key(rng: jax.Array | int) -> jax.Array:
    return jax.random.key(rng) if isinstance(rng, int) else rng


def stack_states(states: Sequence[Any]) -> Any:
    """Stacks pytrees (train states, params) leaf by leaf on a new leading axis.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> stacked = optx.train.stack_states([{"w": jnp.zeros(2)}, {"w": jnp.ones(2)}])
      >>> stacked["w"].shape
      (2, 2)
    """
    states = list(states)
    if not states:
        raise ValueError("optx.train.stack_states: got no states to stack")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def unstack_states(stacked: Any) -> list[Any]:
    """The members of a stacked pytree, as a list (the inverse of `stack_states`).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> [float(m["w"]) for m in optx.train.unstack_states({"w": jnp.arange(3.0)})]
      [0.0, 1.0, 2.0]
    """
    leaves = jax.tree.leaves(stacked)
    if not leaves:
        raise ValueError("optx.train.unstack_states: the tree has no leaves")
    n = jnp.shape(leaves[0])[0]
    return [jax.tree.map(lambda x, i=i: x[i], stacked) for i in range(n)]


@_validate.public_call("optx.train.sweep_states")
def sweep_states(
    params: Any,
    optimizer: GradientTransformation,
    *,
    rng: jax.Array | int = 0,
    model_state: Any = None,
    same_rng: bool = True,
    **hyperparams: Sequence[float] | jax.Array,
) -> TrainState:
    """N copies of one train state on a leading axis, each with its own hyperparameters.

    Builds ``TrainState.create(params, optimizer)``, stacks N copies and sets the named
    hyperparameters per member with `optx.set_hyperparams` (so they must not be driven by a
    schedule; to sweep a schedule's argument, vmap over a function that builds the optimizer
    and the step). Train with `make_sweep_step`; member ``i`` equals a separate run with
    those values.

    Args:
      params: the initial parameters, shared by every member.
      optimizer: the gradient transformation (its hyperparameters are the defaults).
      rng: a key or int seed.
      model_state: optional model state, shared.
      same_rng: every member uses ``rng`` (so members differ only in hyperparameters);
        False gives member ``i`` the key ``fold_in(rng, i)``.
      **hyperparams: name -> N values (all the same length N).

    Returns:
      A `TrainState` whose every leaf has a leading axis of size N.

    Raises:
      ValueError: no hyperparameters given, or lengths differ.
      KeyError: a name the optimizer state does not hold.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> states = optx.train.sweep_states(
      ...     {"w": jnp.zeros(3)}, optx.adam(1e-3), learning_rate=[1e-3, 1e-2])
      >>> optx.get_hyperparams(states.opt_state)["learning_rate"]
      Array([0.001, 0.01 ], dtype=float32)
    """
    call = "optx.train.sweep_states"
    if not hyperparams:
        raise ValueError(
            f"{call}: name at least one hyperparameter to sweep, e.g. learning_rate=[...]"
        )
    # Host values stay float64 until set_hyperparams, which derives exact 1 - b from them.
    values = {
        name: (v if isinstance(v, jax.Array) else np.asarray(v, np.float64)).reshape(-1)
        for name, v in hyperparams.items()
    }
    sizes = {name: int(v.shape[0]) for name, v in values.items()}
    n = next(iter(sizes.values()))
    if any(size != n for size in sizes.values()) or n == 0:
        raise ValueError(
            f"{call}: every swept hyperparameter needs the same number (> 0) of values, got {sizes}"
        )
    key = _as_key(rng)
    state = TrainState.create(params, optimizer, rng=key, model_state=model_state)
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), state)
    if not same_rng:
        stacked = stacked._replace(
            rng=jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
        )
    return stacked._replace(opt_state=set_hyperparams(stacked.opt_state, values))


@_validate.public_call("optx.train.ensemble_states")
def ensemble_states(
    init_fn: Callable[[jax.Array], Any],
    optimizer: GradientTransformation,
    num_members: int,
    *,
    rng: jax.Array | int = 0,
) -> TrainState:
    """Train states of an ensemble: ``num_members`` models from different initial keys.

    Member ``i`` has ``params = init_fn(k_i)`` and ``rng = d_i``, where
    ``k_i, d_i = split(fold_in(rng, i))``; it equals ``TrainState.create(init_fn(k_i),
    optimizer, rng=d_i)``. Train with `make_sweep_step`.

    Args:
      init_fn: ``key -> params``.
      optimizer: the gradient transformation shared by all members.
      num_members: int >= 1.
      rng: a key or int seed.

    Returns:
      A `TrainState` whose every leaf has a leading axis of size ``num_members``.

    Examples:
      >>> import jax, optx
      >>> init = lambda key: {"w": jax.random.normal(key, (3,))}
      >>> states = optx.train.ensemble_states(init, optx.sgd(0.1), 4)
      >>> states.params["w"].shape
      (4, 3)
    """
    _validate.check_int("optx.train.ensemble_states", "num_members", num_members, low=1)
    key = _as_key(rng)

    def member(i):
        init_key, rng_key = jax.random.split(jax.random.fold_in(key, i))
        return TrainState.create(init_fn(init_key), optimizer, rng=rng_key)

    return jax.jit(jax.vmap(member))(jnp.arange(num_members))  # one compile, not op by op


@_validate.public_call("optx.train.make_sweep_step")
def make_sweep_step(
    loss_fn: LossFn,
    optimizer: GradientTransformation,
    *,
    shared_batch: bool = True,
    has_aux: bool = False,
    has_state: bool = False,
    steps_per_call: int = 1,
    jit: bool = True,
    donate: bool = True,
) -> StepFn:
    """The train step vmapped over stacked states (ensembles, hyperparameter sweeps).

    ``step(states, batch) -> (states, metrics)`` runs every member in one call; the metrics
    have a leading member axis. With ``shared_batch`` (default) every member sees the same
    batch; otherwise the batch has a leading member axis too (bootstrap ensembles). Each
    member's result equals a separate run of `make_train_step` (float32 noise aside).

    Args:
      loss_fn, optimizer, has_aux, has_state, steps_per_call: as `make_train_step`.
      shared_batch: one batch for all members (True) or one per member (False).
      jit, donate: as `make_train_step`.

    Returns:
      ``step(states, batch) -> (states, metrics)``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> loss_fn = lambda p, b, rng: jnp.mean((b * p - 1.0) ** 2)
      >>> opt = optx.sgd(0.1)
      >>> states = optx.train.sweep_states(jnp.zeros([]), opt, learning_rate=[0.1, 0.2])
      >>> states, metrics = optx.train.make_sweep_step(loss_fn, opt)(states, jnp.ones(4))
      >>> states.params
      Array([0.2, 0.4], dtype=float32)
    """
    loss_fn = _check_step_args(
        "optx.train.make_sweep_step", loss_fn, optimizer, steps_per_call, has_state=has_state
    )
    body = make_step_body(
        loss_fn, optimizer, has_aux=has_aux, has_state=has_state, steps_per_call=steps_per_call
    )
    mapped = jax.vmap(body, in_axes=(0, None if shared_batch else 0))
    if not jit:
        return mapped
    if not donate:
        return jax.jit(mapped)
    return DonatingStep(jax.jit(mapped, donate_argnums=0), "optx.train.make_sweep_step")

"""How optx's type annotations read to a user's type checker: `mypy` checks this file.

Nothing here runs (pytest only imports it, for doctests). Each ``# type: ignore[code]``
below marks a mistake the annotations must catch; with ``warn_unused_ignores`` (see
``[tool.mypy]`` in pyproject.toml), mypy fails if one of them is no longer reported, and it
fails on any error in the correct uses.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import optx


class MLPParams(NamedTuple):
    w: jax.Array
    b: jax.Array


def correct_uses(params: dict[str, jax.Array], grads: dict[str, jax.Array]) -> jax.Array:
    # Hyperparameters: Python numbers, NumPy and JAX scalars, built-in schedules, lambdas.
    schedule = optx.schedules.warmup(optx.schedules.cosine_decay_schedule(1e-3, 100), 10)
    tx = optx.chain(
        optx.clip_by_global_norm(1.0),
        optx.adam(schedule, b1=np.float32(0.9), b2=jnp.asarray(0.999)),
        optx.sgd(lambda count: 0.1 * 0.99**count, momentum=0.9),
    )
    state = tx.init(params)
    updates, state = tx.update(grads, state, params, loss=jnp.zeros(()))
    state = optx.set_hyperparams(state, learning_rate=0.01)
    lr: jax.Array = optx.get_hyperparams(state)["learning_rate"]
    # apply_updates returns the params' own type, so indexing it type-checks.
    new_params = optx.apply_updates(params, updates)
    w: jax.Array = new_params["w"]
    # A built-in schedule takes a Python int (for plots) and returns a number.
    values = [float(schedule(i)) for i in range(3)]
    return w + lr + sum(values)


def params_of_every_container(tx: optx.GradientTransformation) -> None:
    tx.init(MLPParams(jnp.zeros(2), jnp.zeros(())))
    tx.init([jnp.zeros(2), (np.zeros(3), 1.0)])
    tx.init({"layer": {"kernel": jnp.zeros((2, 2)), "bias": None}})
    kept: MLPParams = optx.apply_updates(MLPParams(jnp.zeros(2), jnp.zeros(())), None)
    del kept


def decay(count: ArrayLike) -> jax.Array:
    """A user's schedule, annotated: a count wider than jax.Array (optx's take ints too)."""
    return 0.1 * 0.99 ** jnp.asarray(count)


def user_schedules() -> None:
    optx.sgd(decay)
    optx.schedules.warmup(decay, 10)


def mistakes_caught(tx: optx.GradientTransformation) -> None:
    tx.init(object())  # type: ignore[arg-type]  # not a pytree of arrays
    optx.sgd(learning_rate="0.1")  # type: ignore[arg-type]  # a string hyperparameter
    optx.adam(b1=[0.9, 0.99])  # type: ignore[arg-type]  # a list is no scalar
    state = tx.init(jnp.zeros(2))
    optx.set_hyperparams(state, learning_rate="fast")  # type: ignore[arg-type]
    optx.chain(optx.adam)  # type: ignore[arg-type]  # the factory, not a transformation

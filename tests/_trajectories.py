"""Trajectories of several optimizers in one jitted program, for the comparison suites.

Each jit of a new function costs an XLA compile (0.1 to 3 s on these CPUs), so the suites that
compare optx against Optax run every optimizer of a test in one ``lax.scan``: one compile per
test instead of two per optimizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import optax

import optx


def standard_promotion(tx: Any) -> optax.GradientTransformation:
    """``tx`` traced under standard dtype promotion (Optax relies on implicit promotion).

    The context applies while ``tx`` is traced, so the rest of a jitted program (optx's side
    included) keeps the suite's strict promotion.
    """

    def init(params):
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update(updates, state, params=None, **extra):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params, **extra)

    return optax.GradientTransformation(init, update)


def trajectories(
    txs: Mapping[str, Any], params: Any, grads: Any, with_updates: bool = False
) -> dict[str, Any]:
    """Each optimizer's params after every step (stacked), as NumPy, from one jitted scan.

    ``grads`` holds one gradient tree per step on a leading axis; ``params + updates`` is
    applied after each step. With ``with_updates``, each value is ``(params, updates)``.
    """

    def body(carry, g):
        new_carry, history = {}, {}
        for name, tx in txs.items():
            p, state = carry[name]
            updates, state = tx.update(g, state, p)
            p = jax.tree.map(lambda x, u: x + u, p, updates)
            new_carry[name] = (p, state)
            history[name] = (p, updates) if with_updates else p
        return new_carry, history

    @jax.jit
    def run(params, grads):
        start = {name: (params, tx.init(params)) for name, tx in txs.items()}
        return jax.lax.scan(body, start, grads)[1]

    return jax.tree.map(np.asarray, run(params, grads))


def ours_and_optax_on_loss(
    ours: Any, theirs: Any, loss: Any, params: Any, steps: int, **extra_args: Any
) -> tuple[Any, Any]:
    """optx's and Optax's iterates minimizing ``loss`` from ``params``, stacked per leaf.

    Both run in one jitted scan of ``steps`` steps, each on its own iterate; the gradient is
    ``jax.grad(loss)`` at that iterate and every update also receives ``extra_args`` (such
    as SAM's ``grad_fn`` or Sophia's ``obj_fn``). Optax is traced under standard promotion,
    which it relies on; optx under the suite's strict promotion.
    """

    def optax_step(p, state):
        with jax.numpy_dtype_promotion("standard"):
            updates, state = theirs.update(jax.grad(loss)(p), state, p, **extra_args)
            return optax.apply_updates(p, updates), state

    def body(carry, _):
        (p, s), (po, so) = carry
        updates, s = ours.update(jax.grad(loss)(p), s, p, **extra_args)
        carry = ((optx.apply_updates(p, updates), s), optax_step(po, so))
        return carry, (carry[0][0], carry[1][0])

    @jax.jit
    def run(params):
        with jax.numpy_dtype_promotion("standard"):
            optax_state = theirs.init(params)
        start = ((params, ours.init(params)), (params, optax_state))
        return jax.lax.scan(body, start, length=steps)[1]

    path, path_o = run(params)
    return jax.tree.map(np.asarray, path), jax.tree.map(np.asarray, path_o)

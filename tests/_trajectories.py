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

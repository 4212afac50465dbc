"""Stochastic gradient Langevin dynamics."""

from __future__ import annotations

from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_sgld


@_validate.public_call("optx.sgld")
def sgld(
    learning_rate: ScalarOrSchedule = 0.01,
    weight_decay: ScalarOrSchedule | None = None,
    key: Any = 0,
) -> GradientTransformation:
    """Stochastic gradient Langevin dynamics (Welling and Teh, 2011), MXNet's ``SGLD``.

    Update rule::

        w = w - learning_rate / 2 * (g + weight_decay * w) + sqrt(learning_rate) * N(0, 1)

    ``chain(add_decayed_weights(weight_decay), scale_by_sgld(learning_rate, key))``. The
    noise has variance ``learning_rate`` (standard deviation ``sqrt(learning_rate)``), as in
    MXNet. It is drawn from a key held in the state (from ``key``), or from the extra
    argument ``key`` of ``update`` when given: ``tx.update(g, state, params, key=k)``. The
    same key gives the same noise. Optax's ``noisy_sgd`` is a different algorithm (annealed
    noise added to the gradient).

    Args:
      learning_rate: >= 0; float, array or schedule.
      weight_decay: >= 0 or None; coupled L2 (the Gaussian prior), needs params.
      key: an int seed or a PRNG key.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.sgld(0.01)
      >>> state = tx.init(jnp.zeros(3))
      >>> u1, _ = tx.update(jnp.zeros(3), state, key=jax.random.key(1))
      >>> u2, _ = tx.update(jnp.zeros(3), state, key=jax.random.key(1))
      >>> bool((u1 == u2).all())
      True

    References:
      Welling and Teh, 2011, Bayesian Learning via Stochastic Gradient Langevin Dynamics,
      https://www.stats.ox.ac.uk/~teh/research/compstats/WelTeh2011a.pdf
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    return chain(*decay, scale_by_sgld(learning_rate, key))

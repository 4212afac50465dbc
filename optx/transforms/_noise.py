"""Gaussian gradient noise: annealed (Neelakantan et al.) and Langevin dynamics (SGLD).

Randomness is keyed and reproducible. Each state holds a PRNG key (raw ``uint32`` key
data, so states checkpoint as plain arrays) built from ``key`` at init and split at every
update. Passing an extra argument ``key`` to ``update`` (``tx.update(g, s, p, key=k)``)
uses that key instead and leaves the state's key unchanged, which suits training loops that
already thread a key. ``chain`` forwards the same extra ``key`` to every transform, so two
noise transforms in one chain would then draw identical noise: keep one per chain.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class AddNoiseState(NamedTuple):
    """State of `add_noise`: the PRNG key data."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    rng_key: jax.Array
    hyperparams: HyperparamsState


class ScaleBySgldState(NamedTuple):
    """State of `scale_by_sgld`: the PRNG key data."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    rng_key: jax.Array
    hyperparams: HyperparamsState


def _key_data(call: str, key: Any) -> jax.Array:
    """``uint32`` key data from an int seed, a typed key or raw key data."""
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key_data(jax.random.key(key))
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if dtype == jnp.uint32 and jnp.shape(key)[-1:] == (2,):
        return jnp.asarray(key)
    raise TypeError(
        f"{_validate.current_call(call)}: key must be an int seed or a PRNG key "
        f"(jax.random.key(0)), got {key!r}"
    )


def _typed(data: jax.Array) -> jax.Array:
    return jax.random.wrap_key_data(data)


def _step_key(call: str, state_key: jax.Array, extra_args: dict) -> tuple[jax.Array, jax.Array]:
    """The key to draw this update's noise from, and the state's next key data."""
    given = extra_args.get("key")
    if given is not None:
        return _typed(_key_data(call, given)), state_key
    next_key, sample_key = jax.random.split(_typed(state_key))
    return sample_key, jax.random.key_data(next_key)


def _normal_like(key: jax.Array, tree: Any) -> Any:
    """Standard normal noise shaped like ``tree``, float32 (or wider) per leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    noise = [jax.random.normal(k, jnp.shape(x), _tree.wide_dtype(x)) for k, x in zip(keys, leaves)]
    return jax.tree.unflatten(treedef, noise)


@_validate.public_call("optx.add_noise")
def add_noise(
    eta: ScalarOrSchedule = 0.01, gamma: ScalarOrSchedule = 0.55, key: Any = 0
) -> GradientTransformation:
    """Adds annealed Gaussian noise to the updates (Neelakantan et al., 2015).

    Update rule (t the 1-based update count)::

        u = g + sqrt(eta / t**gamma) * N(0, 1)

    The same algorithm and defaults as Optax's ``add_noise`` (variance ``eta / t**gamma``);
    the draws differ from Optax's. The noise comes from the state's key, or from an
    extra argument ``key`` when given (see the module notes): the same key gives the same
    noise.

    Args:
      eta: base variance, >= 0.
      gamma: annealing exponent, >= 0.
      key: an int seed or a PRNG key for the state.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.add_noise(eta=0.0)
      >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
      Array([1., 1.], dtype=float32)

    References:
      Neelakantan et al., 2015, Adding Gradient Noise Improves Learning for Very Deep
      Networks, https://arxiv.org/abs/1511.06807
    """
    call = "optx.add_noise"
    key_data = _key_data(call, key)
    hyperparams = Hyperparams(
        call,
        constraints={"eta": _constraints.NON_NEGATIVE, "gamma": _constraints.NON_NEGATIVE},
        eta=eta,
        gamma=gamma,
    )

    def init(params):
        key = _tree.place(key_data, _tree.replicated_sharding(params))
        return AddNoiseState(hyperparams.init_count(params), key, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        std = jnp.sqrt(h["eta"] / count.astype(h["eta"].dtype) ** h["gamma"])
        sample_key, next_key = _step_key(call, state.rng_key, extra_args)
        noise = _normal_like(sample_key, updates)

        def one(g, z):
            wide = _tree.wide_dtype(g)
            return (g.astype(wide) + std.astype(wide) * z.astype(wide)).astype(g.dtype)

        updates = jax.tree.map(one, updates, noise)
        return updates, AddNoiseState(count, next_key, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


@_validate.public_call("optx.scale_by_sgld")
def scale_by_sgld(learning_rate: ScalarOrSchedule = 0.01, key: Any = 0) -> GradientTransformation:
    """Langevin step: half a gradient step plus Gaussian noise of variance ``learning_rate``.

    Update rule (``lr`` is ``learning_rate``)::

        u = -(lr / 2) * g + sqrt(lr) * N(0, 1)

    This is the whole parameter update of stochastic gradient Langevin dynamics, sign
    included (it ends a chain; `optx.sgld` chains weight decay in front). MXNet's SGLD:
    ``w += -lr/2 * (g + wd*w) + N(0, sqrt(lr))`` (std ``sqrt(lr)``, variance ``lr``). With a
    loss that is a mean over a batch, the posterior's temperature is scaled by the batch
    and dataset sizes; scale the gradient accordingly for exact posterior sampling. Noise
    is keyed as in `add_noise`.

    Args:
      learning_rate: > 0, the step size (noise variance); float, array or schedule.
      key: an int seed or a PRNG key for the state.

    References:
      Welling and Teh, 2011, Bayesian Learning via Stochastic Gradient Langevin Dynamics,
      https://www.stats.ox.ac.uk/~teh/research/compstats/WelTeh2011a.pdf
    """
    call = "optx.scale_by_sgld"
    key_data = _key_data(call, key)
    hyperparams = Hyperparams(call, learning_rate=learning_rate)

    def init(params):
        key = _tree.place(key_data, _tree.replicated_sharding(params))
        return ScaleBySgldState(hyperparams.init_count(params), key, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params
        h = hyperparams.resolve(state.hyperparams, state.count)
        lr = h["learning_rate"]
        half, std = -0.5 * lr, jnp.sqrt(lr)
        sample_key, next_key = _step_key(call, state.rng_key, extra_args)
        noise = _normal_like(sample_key, updates)

        def one(g, z):
            wide = _tree.wide_dtype(g)
            u = half.astype(wide) * g.astype(wide) + std.astype(wide) * z.astype(wide)
            return u.astype(g.dtype)

        updates = jax.tree.map(one, updates, noise)
        return updates, ScaleBySgldState(h.count, next_key, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

"""Shared states and comparisons for the checkpoint tests."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from _train_util import init_params

import optx
from optx import train


def state(params=None, tx=None):
    params = init_params() if params is None else params
    return train.TrainState.create(params, tx or optx.adam(1e-2), rng=3)


def rich_state():
    rng = np.random.default_rng(0)
    params = {
        "dense": {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "b": jnp.zeros(2)},
        "emb": jnp.asarray(rng.normal(size=(4,)), jnp.bfloat16),
        "layers": [jnp.ones(2), jnp.arange(3.0)],
    }
    s = state(params, optx.adamw(1e-3, mu_dtype=jnp.bfloat16))
    keys = jax.random.split(s.rng, 2)
    host = np.linspace(0.0, 1.0, 3)  # float64 numpy stays numpy float64
    return s._replace(model_state={"count": jnp.int32(7), "keys": keys, "host": host, "f": 0.5})


def unkey(tree):
    def one(x):
        if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(one, tree)


def assert_same(a, b):
    """Same structure, dtypes and bits (PRNG keys by their key data)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert [getattr(x, "dtype", type(x)) for x in jax.tree.leaves(a)] == [
        getattr(x, "dtype", type(x)) for x in jax.tree.leaves(b)
    ]
    chex.assert_trees_all_equal(unkey(a), unkey(b))


def all_files(directory):
    """Every file under ``directory``, relative, sorted."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())

"""A small regression problem shared by the optx.train tests and the multi-process worker."""

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 16
FEATURES = 3
HIDDEN = 8


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (FEATURES, HIDDEN)) * 0.5,
        "b1": jnp.zeros((1, HIDDEN)),
        "w2": jax.random.normal(k2, (HIDDEN, 1)) * 0.5,
    }


def loss_fn(params, batch, rng):
    del rng
    hidden = jnp.tanh(batch["x"] @ params["w1"] + params["b1"])
    return jnp.mean(((hidden @ params["w2"])[:, 0] - batch["y"]) ** 2)


def batches(num_steps, seed=0, batch=BATCH):
    """``num_steps`` batches stacked on a leading axis, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_steps, batch, FEATURES)).astype(np.float32)
    y = (np.sin(2.0 * x[..., 0]) + 0.5 * x[..., 1] * x[..., 2]).astype(np.float32)
    return {"x": x, "y": y}


def take(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def max_abs_diff(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )

"""optx equals Optax where the algorithm is the same: relative 1e-6, float32, 100 steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

STEPS = 100


def _tree(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "dense": {"kernel": jax.random.normal(k1, (8, 4)), "bias": jax.random.normal(k2, (4,))},
        "scale": jax.random.normal(k3, (3, 2, 2)),
    }


def _trajectory(tx, params, key):
    @jax.jit
    def run(params):
        def body(carry, k):
            params, state = carry
            grads = _tree(k)  # random gradients, independent of params (no feedback loop)
            updates, state = tx.update(grads, state, params)
            params = jax.tree.map(lambda p, u: p + u, params, updates)
            return (params, state), params

        _, history = jax.lax.scan(body, (params, tx.init(params)), jax.random.split(key, STEPS))
        return history

    return run(params)


PAIRS = {
    "sgd": (optx.sgd(0.05), optax.sgd(0.05)),
    "sgd_momentum": (optx.sgd(0.05, 0.9), optax.sgd(0.05, 0.9)),
    "sgd_nesterov": (optx.sgd(0.05, 0.9, True), optax.sgd(0.05, 0.9, True)),
    "adam": (optx.adam(1e-2), optax.adam(1e-2)),
    "adam_nesterov": (optx.adam(1e-2, nesterov=True), optax.adam(1e-2, nesterov=True)),
    "adam_eps_root": (optx.adam(1e-2, eps_root=1e-8), optax.adam(1e-2, eps_root=1e-8)),
    "adamw": (optx.adamw(1e-2, weight_decay=0.05), optax.adamw(1e-2, weight_decay=0.05)),
    "rmsprop": (optx.rmsprop(1e-2), optax.rmsprop(1e-2)),
    "rmsprop_centered": (
        optx.rmsprop(1e-2, centered=True, momentum=0.9),
        optax.rmsprop(1e-2, centered=True, momentum=0.9),
    ),
    "rmsprop_bias_corrected": (
        optx.rmsprop(1e-2, bias_correction=True, eps_in_sqrt=False),
        optax.rmsprop(1e-2, bias_correction=True, eps_in_sqrt=False),
    ),
    "adagrad": (optx.adagrad(0.1), optax.adagrad(0.1)),
    "clip_adamw": (
        optx.chain(optx.clip_by_global_norm(1.0), optx.adamw(1e-2)),
        optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2)),
    ),
    "clip": (
        optx.chain(optx.clip(0.5), optx.sgd(0.1)),
        optax.chain(optax.clip(0.5), optax.sgd(0.1)),
    ),
    "ema": (
        optx.chain(optx.ema(0.9), optx.scale(-0.1)),
        optax.chain(optax.ema(0.9), optax.scale(-0.1)),
    ),
    "stddev": (
        optx.chain(optx.scale_by_stddev(0.9, initial_scale=1.0), optx.scale(-0.01)),
        optax.chain(optax.scale_by_stddev(0.9, initial_scale=1.0), optax.scale(-0.01)),
    ),
    "scheduled_sgd": (
        optx.sgd(lambda c: 0.1 * 0.97 ** c.astype(jnp.float32), 0.9),
        optax.sgd(lambda c: 0.1 * 0.97 ** c.astype(jnp.float32), 0.9),
    ),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_equals_optax(name):
    ours, theirs = PAIRS[name]
    key = jax.random.key(42)
    params = _tree(jax.random.key(7))
    got = _trajectory(ours, params, key)
    with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
        expected = _trajectory(theirs, params, key)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        # Relative 1e-6 over the whole trajectory of each leaf (elementwise relative error is
        # meaningless for coordinates that cross zero); elementwise, a few float32 ulps.
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), np.abs(a - b).max()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-6)

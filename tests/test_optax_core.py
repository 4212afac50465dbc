"""optx equals Optax where the algorithm is the same: relative 1e-6, float32, 100 steps.

optx runs in float32; the reference is Optax run in float64 on the same inputs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _trajectories import standard_promotion, trajectories

import optx

STEPS = 100


def _tree(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "dense": {"kernel": jax.random.normal(k1, (8, 4)), "bias": jax.random.normal(k2, (4,))},
        "scale": jax.random.normal(k3, (3, 2, 2)),
    }


def _gradients(seed=42):
    """STEPS random gradient trees, stacked on a leading axis (drawn once, outside jit)."""
    rng = np.random.default_rng(seed)
    template = _tree(jax.random.key(0))
    return jax.tree.map(
        lambda x: jnp.asarray(rng.normal(size=(STEPS, *x.shape)), jnp.float32), template
    )


GRADIENTS = _gradients()


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


def _to64(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tree)


def test_equals_optax():
    # Every pair of PAIRS; the failures are collected and named together.
    params = _tree(jax.random.key(7))
    got = trajectories({name: pair[0] for name, pair in PAIRS.items()}, params, GRADIENTS)
    # The reference is Optax's algorithm run in float64, so the comparison measures optx's
    # float32 error, not Optax's: Optax computes 1 - b2**t in float32 (1.3e-5 relative
    # error at t=1), which alone moves its float32 Adam trajectory by ~1e-6.
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        theirs = {name: pair[1] for name, pair in PAIRS.items()}
        expected = trajectories(theirs, _to64(params), _to64(GRADIENTS))
    failures = {}
    for name in sorted(PAIRS):
        for a, b in zip(jax.tree.leaves(got[name]), jax.tree.leaves(expected[name])):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            # Relative 1e-6 over the whole trajectory of each leaf (elementwise relative error
            # is meaningless for coordinates that cross zero); elementwise, a few float32 ulps.
            try:
                assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), np.abs(a - b).max()
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-6)
            except AssertionError as error:
                failures[name] = str(error)[:300]
    assert not failures, failures


def test_adam_float32_is_closer_to_float64_than_optax_float32():
    """optx computes 1 - b**t as -expm1(t*log1p(-(1-b))) with an exact 1 - b."""
    params = _tree(jax.random.key(7))
    both = trajectories(
        {"ours": optx.adam(1e-2), "theirs": standard_promotion(optax.adam(1e-2))},
        params,
        GRADIENTS,
    )
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        exact = trajectories({"exact": optax.adam(1e-2)}, _to64(params), _to64(GRADIENTS))["exact"]

    def error(tree):
        diffs = [
            np.asarray(a, np.float64) - b
            for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(exact))
        ]
        return np.sqrt(sum(np.sum(d * d) for d in diffs))

    assert error(both["ours"]) < 0.5 * error(both["theirs"])

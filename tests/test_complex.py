"""Complex params: every optimizer either follows Optax's complex rules or refuses them at init.

Optax's convention: the update direction is the gradient as JAX returns it, conjugated
(``jax.grad`` of a real loss of complex ``z`` gives ``conj(dL/dre + i dL/dim)``), second
moments are moments of ``|g|**2`` and norms are of ``|g|``. Second moments are stored real
(float32 for complex64), first moments complex. The registry (``Case.refuses_complex``)
names the optimizers whose rule needs a sign or an order of each value; they must refuse.
"""

import _fast
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import test_catalogue_adaptive_optax
import test_optax_core
from registry import CASES

import optx

ACCEPTING = [case for case in CASES if not case.refuses_complex]
REFUSING = [case for case in CASES if case.refuses_complex]
TARGET = jnp.asarray(np.linspace(-1.0, 1.0, 10) + 1j * np.linspace(0.5, 2.0, 10), jnp.complex64)


def _extra(case, key):
    return case.extra_args(key) if case.extra_args else {}


def _complex_loss(z):
    a = jnp.linspace(1.0, 10.0, z.shape[0])
    d = z - TARGET
    return 0.5 * jnp.sum(a * (d.real**2 + d.imag**2))


def _descent_direction(z):
    """The direction Optax's complex rules expect: the conjugate of what jax.grad returns."""
    return jnp.conj(jax.grad(_complex_loss)(z))


def _minimize(case, z):
    tx = case.make(**case.quadratic)

    def body(carry, key):
        z, state = carry
        updates, state = tx.update(_descent_direction(z), state, z, **_extra(case, key))
        return (optx.apply_updates(z, updates), state), None

    keys = jax.random.split(jax.random.key(0), case.quadratic_steps)
    return jax.lax.scan(body, (z, tx.init(z)), keys)[0]


def test_conjugated_gradient_is_a_descent_direction():
    # The convention the tests below rely on, checked on JAX itself: a small step along
    # -conj(jax.grad) lowers the loss by about lr * |grad|**2.
    z = jnp.zeros(10, jnp.complex64)
    d = _descent_direction(z)
    lr = 1e-3
    drop = _complex_loss(z) - _complex_loss(z - lr * d)
    np.testing.assert_allclose(float(drop), lr * float(jnp.sum(jnp.abs(d) ** 2)), rtol=2e-2)


@pytest.mark.slow  # every optimizer that accepts complex
def test_converges_on_complex_quadratic():
    # Every accepting case of the registry, each its own scan, all in one jitted program;
    # failures are collected and named together.
    minimizing = [case for case in ACCEPTING if case.quadratic is not None]
    for case in ACCEPTING:
        if case.quadratic is None:
            assert case.why_not_quadratic, case.name  # documented in the registry
    run = jax.jit(lambda z: {case.name: _minimize(case, z) for case in minimizing})
    results = run(jnp.zeros(10, jnp.complex64))
    start = float(_complex_loss(jnp.zeros(10, jnp.complex64)))
    failures = {}
    for name, (z, state) in results.items():
        try:
            assert float(_complex_loss(z)) < 1e-2 * start, "did not converge"
            assert z.dtype == jnp.complex64
            # Every state leaf is complex64 (first moments), or real: float32 (second moments,
            # scalars) or an integer/bool counter; never complex128 or float64.
            for leaf in jax.tree.leaves(state):
                allowed = (jnp.complex64, jnp.float32, jnp.int32, jnp.int8, jnp.bool_)
                assert leaf.dtype in allowed, leaf.dtype
        except AssertionError as error:
            failures[name] = str(error)[:300]
    assert not failures, failures


@pytest.mark.parametrize("case", _fast.cases(REFUSING, 1, lambda c: c.name))
def test_refuses_complex_at_init(case):
    tx = case.build()
    with pytest.raises(TypeError) as info:
        tx.init({"w": jnp.zeros(3, jnp.complex64)})
    message = str(info.value)
    assert f"{case.refuses_complex} does not support complex params" in message
    assert "complex64 at ['w']" in message
    assert "sign" in message or "order" in message  # says why: the rule needs a sign or order


@pytest.mark.parametrize("case", _fast.cases(REFUSING, 1, lambda c: c.name))
def test_refusing_optimizers_still_accept_real_params(case):
    tx = case.build()

    @jax.jit
    def one_update(params, key):
        return tx.update(params, tx.init(params), params, **_extra(case, key))[0]

    chex.assert_tree_all_finite(one_update({"w": jnp.ones(3)}, jax.random.key(0)))


# Pairs of the Optax comparison suites, run here on complex64 params and gradients.
_NOT_ON_COMPLEX = {
    # Optax's own rules are not the complex ones here, so there is nothing to match:
    "adadelta": "Optax's adadelta squares complex g (g**2, complex), not |g|**2",
    "adadelta_l2": "as adadelta",
    "sm3": "Optax's sm3 raises on complex params",
    "sm3_decay": "as sm3",
    "clip": "optx.clip refuses complex params (tested above); Optax's clip raises too",
}
PAIRS = {
    name: pair
    for name, pair in {**test_optax_core.PAIRS, **test_catalogue_adaptive_optax.PAIRS}.items()
    if name not in _NOT_ON_COMPLEX
}


def _complex_tree(rng, lead=()):
    def one(*shape):
        return jnp.asarray(
            rng.standard_normal((*lead, *shape)) + 1j * rng.standard_normal((*lead, *shape)),
            jnp.complex64,
        )

    return {"kernel": one(3, 4), "bias": one(4)}


def _trajectory(tx, params, grads):
    def body(carry, g):
        params, state = carry
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), params

    return jax.lax.scan(body, (params, tx.init(params)), grads)[1]


def _all_trajectories(params, grads):
    """Every pair's optx and Optax trajectories, traced into one program (one compile)."""
    got, expected = {}, {}
    for name, (ours, theirs) in PAIRS.items():
        got[name] = _trajectory(ours, params, grads)
        with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
            expected[name] = _trajectory(theirs, params, grads)
    return got, expected


@pytest.mark.slow  # every optimizer Optax has, on complex params
def test_equals_optax_on_complex():
    # Every pair of PAIRS, in one jitted program; failures are collected and named together.
    # Also the guard for the comparison: each trajectory moves in the imaginary direction, so
    # matching Optax is not a real-only coincidence.
    rng = np.random.default_rng(3)
    params, grads = _complex_tree(rng), _complex_tree(rng, lead=(8,))
    got, expected = jax.tree.map(np.asarray, jax.jit(_all_trajectories)(params, grads))
    failures = {}
    for name in sorted(PAIRS):
        try:
            chex.assert_trees_all_equal_dtypes(got[name], expected[name])
            chex.assert_trees_all_close(got[name], expected[name], rtol=1e-5, atol=1e-5)
            moved = got[name]["bias"][-1] - np.asarray(params["bias"])
            assert np.max(np.abs(moved.imag)) > 1e-4, "no imaginary movement"
        except AssertionError as error:
            failures[name] = str(error)[:300]
    assert not failures, failures


def test_adam_step_on_imaginary_gradient():
    # |g|**2 = 4 for g = 2j, so the first step is -lr * g / |g| = -0.1j (g * g = -4 gave
    # -0.1 - 5e-10j before).
    tx = optx.adam(0.1)
    params = jnp.zeros(1, jnp.complex64)
    updates, state = tx.update(jnp.array([2j], jnp.complex64), tx.init(params))
    np.testing.assert_allclose(np.asarray(updates), [-0.1j], atol=1e-6)
    assert state[0].nu.dtype == jnp.float32  # real second moment
    np.testing.assert_allclose(np.asarray(state[0].nu), [0.004], rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.float32])
def test_second_moments_are_real(dtype):
    params = {"w": jnp.zeros((2, 3), dtype)}
    real = jnp.float32
    for tx in (optx.adam(0.1), optx.rmsprop(0.1), optx.adagrad(0.1), optx.amsgrad(0.1)):
        state = tx.init(params)
        leaves = {
            str(path): leaf.dtype
            for path, leaf in jax.tree_util.tree_leaves_with_path(state)
            if getattr(leaf, "shape", ()) == (2, 3)
        }
        moments = [d for p, d in leaves.items() if "nu" in p or "sum_of_squares" in p]
        assert moments and all(d == real for d in moments), leaves
        firsts = [d for p, d in leaves.items() if ".mu" in p or "trace" in p]
        assert all(d == dtype for d in firsts), leaves


def test_clip_by_global_norm_uses_the_modulus():
    g = {"a": jnp.array([3 + 4j, 0j], jnp.complex64), "b": jnp.array([12j], jnp.complex64)}
    norm = float(np.sqrt(np.sum(np.abs(np.array([3 + 4j, 0, 12j])) ** 2)))  # 13
    tx = optx.clip_by_global_norm(1.0)
    updates, _ = tx.update(g, tx.init(g))
    chex.assert_trees_all_close(updates, jax.tree.map(lambda x: x / norm, g), rtol=1e-6)
    with jax.numpy_dtype_promotion("standard"):
        expected, _ = optax.clip_by_global_norm(1.0).update(g, None)
    chex.assert_trees_all_close(updates, expected, rtol=1e-6)


def test_clip_by_block_rms_uses_the_modulus():
    g = jnp.array([3 + 4j, -5j], jnp.complex64)  # rms = 5
    tx = optx.clip_by_block_rms(1.0)
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(updates), np.asarray(g) / 5.0, rtol=1e-6)
    with jax.numpy_dtype_promotion("standard"):
        expected, _ = optax.clip_by_block_rms(1.0).update(g, None)
    np.testing.assert_allclose(np.asarray(updates), np.asarray(expected), rtol=1e-6)

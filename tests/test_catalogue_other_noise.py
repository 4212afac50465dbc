"""Keyed noise (add_noise, sgld): reproducible with a key, fresh with another, right variance."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

N = 200_000  # elements: the sample variance is within 1% of the truth with overwhelming odds


def _rng_key(state):
    """The key data of a noise state, alone or last in a chain."""
    return state.rng_key if hasattr(state, "rng_key") else state[-1].rng_key


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize(
    "make",
    [lambda **k: optx.add_noise(0.5, 0.55, **k), lambda **k: optx.sgld(0.1, **k)],
    ids=["add_noise", "sgld"],
)
def test_same_key_same_noise_other_key_other_noise(make):
    params = {"a": jnp.zeros(64), "b": jnp.zeros((4, 8))}
    grads = jax.tree.map(jnp.ones_like, params)
    tx = make(key=3)
    state = tx.init(params)
    # from the state's key
    u1, s1 = tx.update(grads, state, params)
    u1_again, _ = make(key=3).update(grads, make(key=3).init(params), params)
    chex.assert_trees_all_equal(u1, u1_again)
    u_other, _ = make(key=4).update(grads, make(key=4).init(params), params)
    assert not np.allclose(_leaves(u1)[0], _leaves(u_other)[0])
    # the state's key advances: the next draw is fresh
    u2, _ = tx.update(grads, s1, params)
    assert not np.allclose(_leaves(u1)[0], _leaves(u2)[0])
    # from an extra argument ``key``: reproducible, and the state's key is left alone
    k = jax.random.key(11)
    v1, t1 = tx.update(grads, state, params, key=k)
    v2, _ = tx.update(grads, state, params, key=k)
    chex.assert_trees_all_equal(v1, v2)
    chex.assert_trees_all_equal(_rng_key(t1), _rng_key(state))
    v3, _ = tx.update(grads, state, params, key=jax.random.key(12))
    assert not np.allclose(_leaves(v1)[0], _leaves(v3)[0])
    # leaves get independent noise
    assert not np.allclose(_leaves(v1)[0][:32], _leaves(v1)[1].reshape(-1))


def test_sgld_noise_variance_is_the_learning_rate():
    lr = 0.04
    tx = optx.sgld(lr)
    w = jnp.zeros(N)
    g = jnp.full(N, 2.0)
    u, _ = jax.jit(tx.update)(g, tx.init(w), w, key=jax.random.key(0))
    noise = np.asarray(u) + lr / 2 * 2.0  # remove the half gradient step
    assert abs(noise.mean()) < 5 * np.sqrt(lr / N)
    assert noise.var() == pytest.approx(lr, rel=0.02)


def test_sgld_weight_decay_is_coupled_into_the_half_step():
    lr, wd = 0.01, 0.5
    w = jnp.full(3, 2.0)
    key = jax.random.key(5)
    with_decay = optx.sgld(lr, weight_decay=wd)
    without = optx.sgld(lr)
    u1, _ = with_decay.update(jnp.ones(3), with_decay.init(w), w, key=key)
    u0, _ = without.update(jnp.ones(3), without.init(w), w, key=key)
    np.testing.assert_allclose(u1 - u0, -lr / 2 * wd * 2.0, rtol=1e-5)


def test_add_noise_variance_anneals_as_eta_over_t_to_the_gamma():
    eta, gamma = 0.3, 0.55
    tx = optx.add_noise(eta, gamma, key=jax.random.key(1))
    update = jax.jit(tx.update)
    state = tx.init(jnp.zeros(N))
    for t in (1, 2, 3):
        u, state = update(jnp.zeros(N), state)
        assert float(jnp.var(u)) == pytest.approx(eta / t**gamma, rel=0.02)


def test_noise_keeps_bfloat16_and_rejects_bad_keys():
    tx = optx.add_noise(0.1)
    p = jnp.zeros(4, jnp.bfloat16)
    u, _ = tx.update(jnp.ones(4, jnp.bfloat16), tx.init(p))
    assert u.dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="optx.add_noise: key"):
        optx.add_noise(0.1, key="zero")
    with pytest.raises(ValueError, match="optx.sgld: learning_rate must be >= 0"):
        optx.sgld(-1.0)

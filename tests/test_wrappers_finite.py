"""apply_if_finite, zero_nans, all_finite and dynamic loss scaling."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

PARAMS = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
GOOD = {"w": jnp.array([0.1, 0.2]), "b": jnp.array(-0.3)}
BAD = {"w": jnp.array([0.1, jnp.nan]), "b": jnp.array(jnp.inf)}


def test_non_finite_step_leaves_params_and_state_unchanged():
    tx = optx.apply_if_finite(optx.adam(0.1), max_consecutive_errors=2)
    update = jax.jit(tx.update)
    state = tx.init(PARAMS)
    updates, state = update(GOOD, state, PARAMS)
    params = optx.apply_updates(PARAMS, updates)
    updates, after = update(BAD, state, params)
    chex.assert_trees_all_equal(optx.apply_updates(params, updates), params)
    chex.assert_trees_all_equal(after.inner_state, state.inner_state)
    assert (int(after.notfinite_count), int(after.total_notfinite)) == (1, 1)
    assert not bool(after.last_finite)
    # A finite step resets the consecutive count, keeps the total and steps normally.
    updates, after = update(GOOD, after, params)
    expected, _ = optx.adam(0.1).update(GOOD, state.inner_state, params)
    chex.assert_trees_all_close(updates, expected, atol=1e-6)
    assert (int(after.notfinite_count), int(after.total_notfinite)) == (0, 1)


def test_gives_up_loudly_after_the_limit():
    tx = optx.apply_if_finite(optx.sgd(0.1), max_consecutive_errors=2)
    state = tx.init(PARAMS)
    for _ in range(2):
        _, state = tx.update(BAD, state, PARAMS)
    with pytest.raises(FloatingPointError, match=r"optx\.apply_if_finite: 3 consecutive"):
        tx.update(BAD, state, PARAMS)
    with pytest.raises(Exception, match=r"optx\.apply_if_finite: 3 consecutive") as info:
        jax.block_until_ready(jax.jit(tx.update)(BAD, state, PARAMS))
    assert isinstance(info.value, (FloatingPointError, jax.errors.JaxRuntimeError))
    # Under the limit nothing is raised, and a finite step in between resets the count.
    _, state = tx.update(GOOD, state, PARAMS)
    _, state = jax.jit(tx.update)(BAD, state, PARAMS)
    assert int(state.notfinite_count) == 1


def test_zero_nans_replaces_nans_and_records_them():
    tx = optx.chain(optx.zero_nans(), optx.sgd(1.0))
    updates, state = tx.update(BAD, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["w"], [-0.1, 0.0], rtol=1e-6)
    assert float(updates["b"]) == -np.inf  # infinities pass through
    assert bool(state[0].found_nan["w"]) and not bool(state[0].found_nan["b"])


def test_all_finite():
    assert bool(optx.all_finite(GOOD)) and not bool(optx.all_finite(BAD))
    assert bool(optx.all_finite({}))


def test_dynamic_loss_scale_policy():
    ls = optx.dynamic_loss_scale(4.0, growth_interval=3, min_scale=1.0)
    adjust = jax.jit(lambda s, f: s.adjust(f))
    scales = []
    for finite in (False, False, False, True, True, True, True):
        ls = adjust(ls, jnp.asarray(finite))
        scales.append(float(ls.loss_scale))
    assert scales == [2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert ls.loss_scale.dtype == jnp.float32 and ls.good_steps.dtype == jnp.int32
    with pytest.raises(ValueError, match="optx.dynamic_loss_scale: backoff_factor must be in"):
        optx.dynamic_loss_scale(backoff_factor=1.5)


def test_loss_scaling_recovers_float16_gradients_that_underflow():
    params = jnp.array([1.0, 2.0], jnp.float32)  # float32 params, float16 compute
    c = jnp.float16(1e-4)

    def loss(p):
        return (jnp.sum(p.astype(jnp.float16) * c) * c).astype(jnp.float32)

    # The float16 cotangent c * c = 1e-8 underflows to zero.
    np.testing.assert_array_equal(jax.grad(loss)(params), 0.0)
    ls = optx.dynamic_loss_scale(2.0**12)
    grads = ls.unscale(jax.grad(lambda p: ls.scale(loss(p)))(params))
    assert grads.dtype == jnp.float32
    np.testing.assert_allclose(grads, 1e-8, rtol=0.02)
    # A scale too large for float16 overflows: skip the step and shrink the scale.
    big = optx.dynamic_loss_scale(2.0**20)
    grads = big.unscale(jax.grad(lambda p: big.scale(loss(p)))(params))
    finite = optx.all_finite(grads)
    assert not bool(finite)
    tx = optx.apply_if_finite(optx.sgd(0.1), 5)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates, 0.0)
    assert float(big.adjust(finite).loss_scale) == 2.0**19


def test_apply_if_finite_exposes_inner_hyperparams_and_forwards_extra_args():
    tx = optx.apply_if_finite(optx.adam(0.1), 1)
    state = tx.init(PARAMS)
    assert "learning_rate" in optx.get_hyperparams(state)
    state = optx.set_hyperparams(state, learning_rate=0.0)
    updates, _ = tx.update(GOOD, state, PARAMS, loss=jnp.float32(1.0))
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, PARAMS))

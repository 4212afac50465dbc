"""accumulate_gradients (MultiSteps) and apply_every."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.normal(size=(16, 3)), jnp.float32)
Y = jnp.asarray(RNG.normal(size=16), jnp.float32)
PARAMS = {"w": jnp.zeros(3), "b": jnp.zeros([])}


def _loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


GRAD = jax.jit(jax.grad(_loss))


def _accumulated_run(tx, sizes, outer_steps, **kwargs):
    params, state = PARAMS, tx.init(PARAMS)
    update = jax.jit(tx.update)
    trajectory, flags = [], []
    for _ in range(outer_steps):
        start = 0
        for n in sizes:
            extra = {"num_samples": n} if kwargs.get("weighted") else {}
            grads = GRAD(params, X[start : start + n], Y[start : start + n])
            updates, state = update(grads, state, params, **extra)
            params = optx.apply_updates(params, updates)
            flags.append(bool(optx.has_updated(state)))
            start += n
        trajectory.append(params)
    return trajectory, flags, state


def _full_batch_run(tx, outer_steps):
    params, state = PARAMS, tx.init(PARAMS)
    trajectory = []
    for _ in range(outer_steps):
        updates, state = tx.update(GRAD(params, X, Y), state, params)
        params = optx.apply_updates(params, updates)
        trajectory.append(params)
    return trajectory


def test_four_micro_batches_equal_one_full_batch_step_of_adam():
    # The two gradients differ by float32 rounding (sum of 4 means vs one mean); Adam's
    # normalization scales that by lr on near-zero coordinates, so keep lr small.
    tx = optx.accumulate_gradients(optx.adam(0.01), every_k=4)
    got, flags, _ = _accumulated_run(tx, [4, 4, 4, 4], outer_steps=3)
    want = _full_batch_run(optx.adam(0.01), 3)
    chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-6)
    assert flags == [False, False, False, True] * 3


def test_unequal_micro_batches_weighted_by_samples_equal_full_batch():
    tx = optx.accumulate_gradients(optx.sgd(0.1, momentum=0.9), every_k=3)
    got, _, _ = _accumulated_run(tx, [2, 6, 8], outer_steps=2, weighted=True)
    want = _full_batch_run(optx.sgd(0.1, momentum=0.9), 2)
    chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-6)
    # Without the sample counts, the plain mean of micro-batch means differs.
    unweighted, _, _ = _accumulated_run(tx, [2, 6, 8], outer_steps=1)
    assert not np.allclose(unweighted[0]["w"], want[0]["w"], atol=1e-4)


def test_every_samples_counts_samples_not_batches():
    tx = optx.accumulate_gradients(optx.sgd(0.1), every_samples=8)
    _, flags, _ = _accumulated_run(tx, [2, 4, 2, 6, 2], outer_steps=1, weighted=True)
    assert flags == [False, False, True, False, True]


def test_zero_updates_and_unchanged_inner_state_between_steps():
    tx = optx.accumulate_gradients(optx.adam(0.1), every_k=3)
    state = tx.init(PARAMS)
    grads = GRAD(PARAMS, X, Y)
    updates, new = tx.update(grads, state, PARAMS)
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, PARAMS))
    chex.assert_trees_all_equal(new.inner_state, state.inner_state)
    assert int(new.micro_step) == 1 and not bool(optx.has_updated(new))
    # The inner schedule advances once per real step.
    sched = optx.accumulate_gradients(optx.sgd(lambda c: 1.0 + c.astype(jnp.float32)), every_k=2)
    s, sched_update = sched.init(PARAMS), jax.jit(sched.update)
    for _ in range(4):
        _, s = sched_update(grads, s, PARAMS)
    assert float(optx.get_hyperparams(s)["learning_rate"]) == 2.0


def test_accumulator_dtype_is_settable():
    tx = optx.accumulate_gradients(optx.sgd(0.1), every_k=2, accumulator_dtype=jnp.bfloat16)
    state = tx.init(PARAMS)
    assert {x.dtype for x in jax.tree.leaves(state.acc)} == {jnp.dtype(jnp.bfloat16)}
    updates, state = tx.update(GRAD(PARAMS, X, Y), state, PARAMS)
    updates, state = tx.update(GRAD(PARAMS, X, Y), state, PARAMS)
    np.testing.assert_allclose(updates["w"], -0.1 * GRAD(PARAMS, X, Y)["w"], rtol=1e-2)
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.float32)}
    default = optx.accumulate_gradients(optx.sgd(0.1), every_k=2).init(jnp.zeros(2, jnp.bfloat16))
    assert default.acc.dtype == jnp.float32


def test_accumulate_errors_and_has_updated_lookup():
    with pytest.raises(ValueError, match="optx.accumulate_gradients: give exactly one"):
        optx.accumulate_gradients(optx.sgd(0.1))
    with pytest.raises(ValueError, match="optx.accumulate_gradients: every_k must be >= 1"):
        optx.accumulate_gradients(optx.sgd(0.1), every_k=0)
    with pytest.raises(ValueError, match="optx.has_updated: the state holds 0"):
        optx.has_updated(optx.sgd(0.1).init(PARAMS))
    tx = optx.chain(optx.clip(1.0), optx.accumulate_gradients(optx.sgd(0.1), every_k=1))
    _, state = tx.update(GRAD(PARAMS, X, Y), tx.init(PARAMS), PARAMS)
    assert bool(optx.has_updated(state))
    with pytest.raises(ValueError, match=r"optx\.accumulate_gradients: the updates tree"):
        tx.update({"w": jnp.zeros(3)}, tx.init(PARAMS), PARAMS)


def test_apply_every_sums_k_updates():
    tx = optx.chain(optx.sgd(1.0), optx.apply_every(3))
    state = tx.init(jnp.zeros(1))
    emitted = []
    for g in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        updates, state = tx.update(jnp.array([g]), state)
        emitted.append(float(updates[0]))
    assert emitted == [0.0, 0.0, -6.0, 0.0, 0.0, -15.0]
    assert bool(optx.has_updated(state))

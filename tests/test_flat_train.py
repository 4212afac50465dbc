"""The trainer's flat mode: params and optimizer state as `optx.FlatParams`, the loss on the
ordinary tree; equal to per-leaf training on one device and under data parallel (ZeRO-1)."""

import functools

import chex
import jax
import pytest
from _train_problem import batches, init_params, loss_fn, take

import optx
from optx.train import TrainState, data_parallel, make_train_step

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 8
DATA = batches(STEPS, seed=1)
OPTIMIZERS = {
    "adam": lambda: optx.adam(1e-2),
    "clip_adamw": lambda: optx.chain(optx.clip_by_global_norm(0.1), optx.adamw(1e-2)),
    "lamb": lambda: optx.lamb(1e-2),
}


def _train(opt, *, flat):
    step = make_train_step(loss_fn, opt, steps_per_call=STEPS)
    state = TrainState.create(init_params(jax.random.key(0)), opt, flat=flat)
    return step(state, DATA)


CLIP_ADAM = optx.chain(optx.clip_by_global_norm(0.1), optx.adam(1e-2))


@functools.cache
def _clip_adam_reference():
    """Per-leaf training with CLIP_ADAM, shared by the data-parallel tests (a result)."""
    return _train(CLIP_ADAM, flat=False)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_flat_mode_equals_per_leaf(name):
    seen = []

    def checking_loss(params, batch, rng):
        seen.append(type(params))
        return loss_fn(params, batch, rng)

    opt = OPTIMIZERS[name]()
    state = TrainState.create(init_params(jax.random.key(0)), opt, flat=True)
    assert isinstance(state.params, optx.FlatParams)
    flat_step = make_train_step(checking_loss, opt, steps_per_call=STEPS, jit=False)
    ref_step = make_train_step(loss_fn, opt, steps_per_call=STEPS, jit=False)
    ref_start = TrainState.create(init_params(jax.random.key(0)), opt)
    # Both runs in one compiled call (one compile instead of two).
    both = jax.jit(lambda flat, ref, data: (flat_step(flat, data), ref_step(ref, data)))
    (flat_state, flat_metrics), (ref_state, ref_metrics) = both(state, ref_start, DATA)
    assert seen and all(t is type(init_params(jax.random.key(0))) for t in seen)
    assert isinstance(flat_state.params, optx.FlatParams)
    chex.assert_trees_all_close(flat_state.params.tree(), ref_state.params, atol=1e-6)
    chex.assert_trees_all_close(flat_metrics["loss"], ref_metrics["loss"], atol=1e-6)
    chex.assert_trees_all_close(flat_metrics["grad_norm"], ref_metrics["grad_norm"], atol=1e-6)


@pytest.mark.parametrize("shard_opt_state", [False, True])
def test_flat_mode_data_parallel_and_zero1(shard_opt_state):
    opt = CLIP_ADAM
    dp = data_parallel(loss_fn, opt, shard_opt_state=shard_opt_state)
    # ZeRO-1 splits a 1-D buffer evenly when its length divides: pad to the device count
    params = optx.FlatParams.from_tree(init_params(jax.random.key(0)), pad_to=dp.num_shards)
    state = dp.replicate(TrainState.create(params, opt))
    for i in range(STEPS):
        state, _ = dp(state, dp.shard_batch(take(DATA, i)))
        jax.block_until_ready(state)  # CPU collectives deadlock with many calls in flight
    mu = state.opt_state[1][0].mu
    assert isinstance(mu, optx.FlatParams)
    expected = jax.P("data") if shard_opt_state else jax.P()
    assert all(b.sharding.spec == expected for b in mu.buffers)
    ref_state, _ = _clip_adam_reference()
    got = dp.unreplicate(state).params
    chex.assert_trees_all_close(got.tree(), ref_state.params, atol=1e-5)


def test_flat_train_state_checkpoint(tmp_path):
    opt = optx.adam(1e-2)
    state, _ = _train(opt, flat=True)
    optx.train.save(tmp_path / "ckpt", state)
    target = TrainState.create(init_params(jax.random.key(0)), opt, flat=True)
    restored = optx.train.restore(tmp_path / "ckpt", target)
    assert restored.params.layout == state.params.layout
    chex.assert_trees_all_equal(restored, state)
    step = make_train_step(loss_fn, opt)
    step(restored, take(DATA, 0))  # the restored state trains on

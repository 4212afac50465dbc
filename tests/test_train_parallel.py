"""Data parallel on 4 CPU devices: every mode equals single-device full-batch training."""

import contextlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _compiles import CompileCount, counting_compiles
from _train_problem import batches, init_params, loss_fn, max_abs_diff, take

import optx
from optx.train import TrainState, data_parallel, make_train_step

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one

STEPS = 50
DATA = batches(STEPS, seed=1)
ADAM = optx.adam(1e-2)
CLIP_ADAM = optx.chain(optx.clip_by_global_norm(0.1), optx.adam(1e-2))


def _state(opt):
    return TrainState.create(init_params(jax.random.key(0)), opt)


def _reference(opt):
    """Single device, full batch: all 50 steps in one scanned call."""
    step = make_train_step(loss_fn, opt, steps_per_call=STEPS)
    state, metrics = step(_state(opt), DATA)
    return state, metrics


REFERENCE = {}


def _expected(opt, name):
    if name not in REFERENCE:
        REFERENCE[name] = _reference(opt)
    return REFERENCE[name]


def _run(dp, opt, steps_per_call=1):
    """The steps, and the XLA compiles after the first call (the state the first call
    returns must be placed as `replicate` placed the initial one: 0 expected)."""
    state = dp.replicate(_state(opt))
    compiles = CompileCount()
    for i in range(0, STEPS, steps_per_call):
        chunk = (
            take(DATA, i)
            if steps_per_call == 1
            else jax.tree.map(lambda a, i=i: a[i : i + steps_per_call], DATA)
        )
        batch = dp.shard_batch(chunk)
        with counting_compiles() if i else contextlib.nullcontext(CompileCount()) as counted:
            state, metrics = dp(state, batch)
            jax.block_until_ready(state)  # CPU collectives deadlock with many calls in flight
        compiles.count += counted.count
    return state, metrics, compiles.count


@pytest.mark.parametrize(
    "mode,steps_per_call", [("shard_map", 1), ("shard_map", 10), ("pmap", 1), ("jit", 1)]
)
def test_data_parallel_equals_single_device(mode, steps_per_call):
    expected, expected_metrics = _expected(ADAM, "adam")
    dp = data_parallel(loss_fn, ADAM, mode=mode, steps_per_call=steps_per_call)
    assert dp.num_shards == 4
    state, metrics, compiles = _run(dp, ADAM, steps_per_call)
    assert compiles == 0, f"mode={mode}: {compiles} XLA compiles after the first step"
    local = dp.unreplicate(state)
    assert max_abs_diff(local.params, expected.params) < 1e-5
    assert int(local.step) == STEPS
    last = jax.tree.map(lambda m: m[-1], metrics) if steps_per_call > 1 else metrics
    np.testing.assert_allclose(last["loss"], expected_metrics["loss"][-1], rtol=1e-4)
    np.testing.assert_allclose(last["grad_norm"], expected_metrics["grad_norm"][-1], rtol=1e-4)
    assert jnp.shape(last["loss"]) == ()  # metrics come once, not per device


def test_vmap_with_axis_name_equals_single_device():
    expected, _ = _expected(ADAM, "adam")
    body = make_train_step(loss_fn, ADAM, axis_name="batch", jit=False)
    step = jax.jit(
        jax.vmap(body, in_axes=(None, 0), out_axes=None, axis_name="batch"), donate_argnums=0
    )
    split = jax.tree.map(lambda a: a.reshape(STEPS, 4, -1, *a.shape[2:]), DATA)
    state = _state(ADAM)
    for i in range(STEPS):
        state, _ = step(state, take(split, i))
    assert max_abs_diff(state.params, expected.params) < 1e-5


@pytest.mark.parametrize("mode", ["shard_map", "jit"])
def test_zero1_with_global_norm_clipping_equals_single_device(mode):
    expected, expected_metrics = _expected(CLIP_ADAM, "clip_adam")
    assert float(expected_metrics["grad_norm"][0]) > 0.1  # the clip is active
    dp = data_parallel(loss_fn, CLIP_ADAM, mode=mode, shard_opt_state=True)
    state, _, compiles = _run(dp, CLIP_ADAM)
    assert compiles == 0  # the sharded optimizer state keeps its placement
    adam_state = state.opt_state[1][0]
    for leaf in jax.tree.leaves(adam_state.mu):  # each device holds a quarter of a moment
        assert leaf.addressable_shards[0].data.size * 4 == leaf.size
        assert not leaf.sharding.is_fully_replicated
    assert adam_state.count.sharding.is_fully_replicated
    assert max_abs_diff(dp.unreplicate(state.params), expected.params) < 1e-5
    chex.assert_trees_all_close(
        dp.unreplicate(state.opt_state), expected.opt_state, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("shard_opt_state", [False, True])
def test_grad_norm_off_in_data_parallel(shard_opt_state):
    expected, _ = _expected(CLIP_ADAM, "clip_adam")
    dp = data_parallel(loss_fn, CLIP_ADAM, grad_norm=False, shard_opt_state=shard_opt_state)
    state, metrics, _ = _run(dp, CLIP_ADAM)
    assert "grad_norm" not in metrics and "loss" in metrics
    assert max_abs_diff(dp.unreplicate(state.params), expected.params) < 1e-5


def test_model_state_and_aux_are_averaged_over_shards():
    def loss_with_state(params, model_state, batch, rng):
        loss = loss_fn(params, batch, rng)
        new = {"mean": jnp.mean(batch["x"], axis=0)}
        return loss, ({"loss": loss, "n": jnp.int32(batch["x"].shape[0])}, new)

    opt = optx.sgd(0.1)
    dp = data_parallel(loss_with_state, opt, has_aux=True, has_state=True)
    state = dp.replicate(
        TrainState.create(init_params(jax.random.key(0)), opt, model_state={"mean": jnp.zeros(3)})
    )
    state, metrics = dp(state, dp.shard_batch(take(DATA, 0)))
    np.testing.assert_allclose(
        dp.unreplicate(state).model_state["mean"], DATA["x"][0].mean(axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(metrics["aux"]["loss"], metrics["loss"], rtol=1e-6)
    assert int(metrics["aux"]["n"]) == DATA["x"].shape[1]  # integer aux is summed


def test_caller_state_survives_replicate():
    state = _state(ADAM)
    dp = data_parallel(loss_fn, ADAM)
    placed = dp.replicate(state)
    dp(placed, dp.shard_batch(take(DATA, 0)))
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(state))


def test_zero_shardings_rules():
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    tree = {
        "a": jnp.zeros((3, 8)),
        "b": jnp.zeros((5,)),
        "c": jnp.zeros([]),
        "d": jnp.zeros((8, 12)),
    }
    specs = jax.tree.map(lambda s: s.spec, optx.train.zero_shardings(tree, mesh))
    assert specs == {
        "a": jax.P(None, "data"),
        "b": jax.P(),
        "c": jax.P(),
        "d": jax.P(None, "data"),
    }
    with pytest.raises(ValueError, match="not an axis of the mesh"):
        optx.train.zero_shardings(tree, mesh, "model")


def test_argument_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        data_parallel(loss_fn, ADAM, mode="spmd")
    with pytest.raises(ValueError, match="shard_opt_state"):
        data_parallel(loss_fn, ADAM, mode="pmap", shard_opt_state=True)
    mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    with pytest.raises(ValueError, match="not an axis of the mesh"):
        data_parallel(loss_fn, ADAM, mesh=mesh)
    dp = data_parallel(loss_fn, ADAM, mesh=mesh, axis_name="batch")
    with pytest.raises(ValueError, match="does not split evenly over 4 local devices"):
        dp.shard_batch({"x": np.zeros((6, 3))})

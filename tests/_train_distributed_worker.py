"""Worker for tests/test_train_distributed.py: data-parallel training over 2 processes.

Run by ``optx.train.distributed.launch_local`` (never collected as a test: the work happens
only under ``__main__``). Each process feeds its half of every global batch; process 0
saves the final params of each mode to the .npz path given as the first argument.
"""

import os
import sys

STEPS = 8
MODES = {"shard_map": {"mode": "shard_map"}, "jit_zero": {"mode": "jit", "shard_opt_state": True}}


def optimizer():
    import optx

    return optx.chain(optx.clip_by_global_norm(0.1), optx.adam(1e-2))


def initial_state(opt):
    """The step-0 state of the shared problem, built in one jitted call."""
    import jax
    from _train_problem import init_params

    import optx

    return jax.jit(lambda: optx.train.TrainState.create(init_params(jax.random.key(0)), opt))()


def say_hello():
    """A function target for launch_local."""
    print(f"hello from {os.environ['OPTX_PROCESS_ID']} of {os.environ['OPTX_NUM_PROCESSES']}")


def _checkpoint_round_trip(dp, state, batch, part, out_path):
    """Save a state whose moments are split across both processes, restore it, step both."""
    import jax
    import numpy as np

    import optx

    path = out_path + ".ckpt"
    optx.train.save(path, state, asynchronous=True)  # every process writes its own shards
    optx.train.wait_until_finished()
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
    )
    restored = optx.train.restore(path, abstract)
    keys = jax.dtypes.prng_key
    plain = [
        jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, keys) else x
        for x in (*jax.tree.leaves(state), *jax.tree.leaves(restored))
    ]
    half = len(plain) // 2
    equal = jax.jit(
        lambda a, b: jax.numpy.all(
            jax.numpy.stack([jax.numpy.array_equal(x, y) for x, y in zip(a, b)])
        )
    )
    identical = bool(equal(plain[:half], plain[half:]))
    local = jax.tree.map(lambda a: a[part], batch)
    same_sharding = all(
        a.sharding == b.sharding for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored))
    )
    continued, _ = dp(restored, dp.shard_batch(local))
    jax.block_until_ready(continued)
    original, _ = dp(state, dp.shard_batch(local))
    jax.block_until_ready(original)
    a = dp.unreplicate(continued.params)
    b = dp.unreplicate(original.params)
    return {
        "ckpt/same_sharding": np.asarray(same_sharding),
        "ckpt/identical": np.asarray(identical),
        "ckpt/max_diff": np.asarray(max(float(np.max(np.abs(a[k] - b[k]))) for k in a)),
    }


def main(out_path):
    import optx

    info = optx.train.distributed.initialize()  # reads OPTX_* from launch_local

    import jax
    import numpy as np
    from _train_problem import batches, loss_fn, take

    assert info.num_processes == 2 and jax.process_count() == 2
    data = batches(STEPS, seed=3)
    part = optx.train.distributed.local_slice(data["x"].shape[1])
    opt = optimizer()
    saved = {"num_devices": np.asarray(len(jax.devices()))}
    # One compile for the initial state instead of one per eager op (same values).
    initial = initial_state(opt)
    for name, kwargs in MODES.items():
        dp = optx.train.data_parallel(loss_fn, opt, **kwargs)
        state = dp.replicate(initial)
        for i in range(STEPS):
            local = jax.tree.map(lambda a: a[part], take(data, i))
            state, metrics = dp(state, dp.shard_batch(local))
            jax.block_until_ready(state)
        params = dp.unreplicate(state.params)
        for key, value in params.items():
            saved[f"{name}/{key}"] = np.asarray(value)
        saved[f"{name}/loss"] = np.asarray(metrics["loss"])
        if kwargs.get("shard_opt_state"):
            saved.update(_checkpoint_round_trip(dp, state, take(data, 0), part, out_path))
    if info.process_id == 0:
        np.savez(out_path, **saved)
    optx.train.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])  # the script's folder (tests/) is on sys.path: _train_problem imports

# ruff: noqa: E501
# %% [markdown]
# # Scaling out: sweeps, ensembles, data parallel, several hosts
#
# The train step of `optx.train.make_train_step` is a pure function written against an
# optional named axis, so the same body runs
#
# * under `jax.vmap` over stacked train states: a learning-rate sweep or an ensemble
#   trained in **one call** (`sweep_states`, `ensemble_states`, `make_sweep_step`);
# * under `jax.shard_map` over devices: **data parallel** (`data_parallel`), with the
#   gradients averaged by `lax.pmean`; also as `jax.pmap` or `jax.jit` with a sharded batch;
# * over several processes (hosts) after `optx.train.distributed.initialize`.
#
# This machine has one CPU, so we ask XLA for 4 simulated CPU devices. That must happen
# before JAX starts its backend, so it is the very first thing the notebook does.

# %%
import os

flags = os.environ.get("XLA_FLAGS", "")
if "collective_call_terminate_timeout" not in flags:  # a hung CPU collective fails in 20 s
    flags += " --xla_cpu_collective_call_terminate_timeout_seconds=20"
os.environ["XLA_FLAGS"] = flags.strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

import json  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import optx  # noqa: E402
from optx import train  # noqa: E402

print(jax.devices())
assert len(jax.devices()) == 4

# %% [markdown]
# The problem: scikit-learn's 8x8 digits (shipped with the package) and a small MLP.

# %%
digits = load_digits()
x_all = (digits.data / 16.0).astype(np.float32)
y_all = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(y_all))
x_train, y_train = x_all[order[:1408]], y_all[order[:1408]]  # 11 batches of 128
x_test, y_test = x_all[order[1408:]], y_all[order[1408:]]
STEPS, BATCH = 11, 128


def epoch(e):
    idx = np.random.default_rng(e).permutation(len(y_train)).reshape(STEPS, BATCH)
    return {"x": x_train[idx], "y": y_train[idx]}


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (64, 32)) / 8.0,
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 10)) / np.sqrt(32),
        "b2": jnp.zeros(10),
    }


def logits_fn(params, x):
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def loss_fn(params, batch, rng):
    logp = jax.nn.log_softmax(logits_fn(params, batch["x"]))
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


def max_diff(a, b):
    return max(float(jnp.abs(u - v).max()) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


PARAMS0 = init_params(jax.random.key(0))

# %% [markdown]
# ## A learning-rate sweep in one call
#
# `sweep_states(params, optimizer, learning_rate=[...])` stacks one train state per value
# (the learning rate lives in the optimizer state, so it can differ per member without
# recompiling), and `make_sweep_step` is the train step under `jax.vmap`. Here 8 Adam
# learning rates train side by side, each epoch in one call.

# %%
lrs = np.geomspace(1e-4, 3e-1, 8)
opt = optx.adam(1e-3)
sweep = train.make_sweep_step(loss_fn, opt, steps_per_call=STEPS)
states = train.sweep_states(PARAMS0, opt, learning_rate=lrs)
start = time.perf_counter()
curves = []
for e in range(6):
    states, metrics = sweep(states, epoch(e))
    curves.append(np.asarray(metrics["loss"]))  # (members, steps)
print(f"8 runs x 6 epochs in {time.perf_counter() - start:.2f} s")
curves = np.concatenate(curves, axis=1)
final = curves[:, -STEPS:].mean(axis=1)
for lr_, loss_ in zip(lrs, final):
    print(f"lr {lr_:.1e}  final loss {loss_:.4f}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.5))
for lr_, curve in zip(lrs, curves):
    ax0.plot(curve, label=f"{lr_:.0e}")
ax0.set(yscale="log", xlabel="step", ylabel="loss", title="8 learning rates, trained together")
ax0.legend(fontsize=7, ncol=2)
ax1.semilogx(lrs, final, "o-")
ax1.set(xlabel="learning rate", ylabel="final loss", title="the sweep")
plt.tight_layout()
plt.show()

best = lrs[np.argmin(final)]
assert 1e-3 < best < 3e-1 and final.min() < 0.5 * final[0]

# %% [markdown]
# Each member equals a separate run with that learning rate (float32 noise aside):

# %%
i = 5
single_opt = optx.adam(float(lrs[i]))
single = train.make_train_step(loss_fn, single_opt, steps_per_call=STEPS)
alone = train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), single_opt)
for e in range(6):
    alone, _ = single(alone, epoch(e))
member = train.unstack_states(states)[i]
print(f"member {i} vs a separate run: max |diff| {max_diff(member.params, alone.params):.1e}")
assert max_diff(member.params, alone.params) < 1e-4

# %% [markdown]
# ## An ensemble
#
# `ensemble_states(init_fn, optimizer, n)` gives n members with different initial weights;
# the same vmapped step trains them all. Averaging their predicted probabilities is
# usually at least as good as the average member.

# %%
ens_opt = optx.adam(1e-2)
ensemble = train.ensemble_states(init_params, ens_opt, 5, rng=1)
ens_step = train.make_sweep_step(loss_fn, ens_opt, steps_per_call=STEPS)
for e in range(6):
    ensemble, _ = ens_step(ensemble, epoch(e))
probs = jax.vmap(lambda p: jax.nn.softmax(logits_fn(p, x_test)))(ensemble.params)
member_acc = np.asarray(jnp.mean(jnp.argmax(probs, -1) == y_test, axis=1))
ensemble_acc = float(jnp.mean(jnp.argmax(probs.mean(0), -1) == y_test))
print("members:", np.round(member_acc, 3), "| ensemble:", round(ensemble_acc, 3))
assert ensemble_acc >= member_acc.mean() - 0.01 and ensemble_acc > 0.9

# %% [markdown]
# ## Data parallel over 4 devices
#
# `data_parallel(loss_fn, optimizer)` runs the step under `jax.shard_map`: each device
# gets a quarter of the batch, computes its loss and gradients, `lax.pmean` averages them,
# and every device applies the same update to its replica. `dp.replicate` places the
# state, `dp.shard_batch` splits a batch over the devices.
#
# One rule for CPU devices: JAX's CPU collectives can deadlock when many multi-device calls
# are in flight at once (about 40 without a sync), so a host loop that uses them syncs
# each step, or every few steps (`jax.block_until_ready`). The `XLA_FLAGS` setting in the
# first cell makes a hung collective fail after 20 s instead of hanging. Accelerators do
# not need the sync.

# %%
opt = optx.chain(optx.clip_by_global_norm(1.0), optx.adam(1e-2))
dp = train.data_parallel(loss_fn, opt)
print("mode:", dp.mode, "| devices:", len(dp.devices), "| mesh:", dict(dp.mesh.shape))
state = dp.replicate(train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), opt))
data = epoch(0)
for s in range(STEPS):
    state, metrics = dp(state, dp.shard_batch({"x": data["x"][s], "y": data["y"][s]}))
    jax.block_until_ready(state)  # sync every step: CPU collectives need it
print("a parameter's sharding:", state.params["w1"].sharding)
print("a batch's sharding:   ", dp.shard_batch({"x": data["x"][0]})["x"].sharding.spec)

# the same steps on one device, full batches
one = train.make_train_step(loss_fn, opt, steps_per_call=STEPS)
ref, ref_metrics = one(train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), opt), data)
diff = max_diff(dp.unreplicate(state).params, ref.params)
print(f"data parallel vs single device after {STEPS} steps: max |diff| {diff:.1e}")
assert diff < 1e-5
assert abs(float(metrics["loss"]) - float(ref_metrics["loss"][-1])) < 1e-5

# %% [markdown]
# The same step runs as `jax.jit` with the batch sharded by `NamedSharding` (the compiler
# partitions it), and with ZeRO stage 1 (`shard_opt_state=True`): each optimizer-state
# leaf is split over the devices along a dimension divisible by 4, so each device holds a
# quarter of Adam's moments. The results are the same.

# %%
for kwargs in ({"mode": "jit"}, {"mode": "shard_map", "shard_opt_state": True}):
    dp2 = train.data_parallel(loss_fn, opt, **kwargs)
    st = dp2.replicate(train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), opt))
    for s in range(STEPS):
        st, _ = dp2(st, dp2.shard_batch({"x": data["x"][s], "y": data["y"][s]}))
        jax.block_until_ready(st)
    d = max_diff(dp2.unreplicate(st).params, ref.params)
    print(f"{kwargs}: max |diff| {d:.1e}")
    assert d < 1e-5
adam_mu = jax.tree.leaves(st.opt_state[1])[1]  # a first-moment leaf of the ZeRO-1 run
print("ZeRO-1 moment leaf", adam_mu.shape, "sharded as", adam_mu.sharding.spec)

# %% [markdown]
# ## Several hosts
#
# On a cluster, every host runs the same script. `optx.train.distributed.initialize()`
# connects them (it calls `jax.distributed.initialize`, reading the coordinator address,
# the number of processes and this process's id from `OPTX_COORDINATOR`,
# `OPTX_NUM_PROCESSES` and `OPTX_PROCESS_ID`, or from its arguments; with none set it does
# nothing, so the script also runs alone). After that `jax.devices()` lists every host's
# devices, the default mesh of `data_parallel` spans them all, and each process feeds its
# own rows of the global batch (`distributed.local_slice`); `dp.shard_batch` assembles the
# global array. For example, on two machines:
#
# ```bash
# # on host 0 (10.0.0.1)                        # on host 1
# OPTX_COORDINATOR=10.0.0.1:1234 \              OPTX_COORDINATOR=10.0.0.1:1234 \
# OPTX_NUM_PROCESSES=2 OPTX_PROCESS_ID=0 \      OPTX_NUM_PROCESSES=2 OPTX_PROCESS_ID=1 \
#   python train.py                               python train.py
# ```
#
# `distributed.launch_local(script, n)` starts n such processes on this machine over
# loopback (each with its own CPU devices), with a hard deadline, and kills only the
# processes it started. It is how the multi-host path is tested; here 2 processes with 2
# devices each train a linear model data-parallel over the 4 devices:

# %%
worker = textwrap.dedent("""
    import optx

    info = optx.train.distributed.initialize()  # reads the OPTX_* variables
    import jax
    import jax.numpy as jnp
    import numpy as np

    def loss_fn(params, batch, rng):
        return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2)

    rng = np.random.default_rng(0)  # every process knows the global data here
    x = rng.normal(size=(16, 8, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32)
    opt = optx.sgd(0.1)
    dp = optx.train.data_parallel(loss_fn, opt)
    state = dp.replicate(optx.train.TrainState.create({"w": jnp.zeros(3)}, opt))
    rows = optx.train.distributed.local_slice(8)  # this process's rows of each batch
    for i in range(16):
        state, metrics = dp(state, dp.shard_batch({"x": x[i, rows], "y": y[i, rows]}))
        jax.block_until_ready(state)
    w = np.asarray(dp.unreplicate(state.params)["w"])
    print(f"process {info.process_id}/{info.num_processes} sees {len(jax.devices())} devices;",
          "w =", w.round(5).tolist())
    optx.train.distributed.shutdown()
""")
with tempfile.TemporaryDirectory() as tmp:
    script = Path(tmp) / "train.py"
    script.write_text(worker)
    start = time.perf_counter()
    results = train.distributed.launch_local(script, 2, devices_per_process=2, deadline_s=90)
    print(f"2 processes finished in {time.perf_counter() - start:.1f} s")
lines = [next(ln for ln in r.output.splitlines() if ln.startswith("process")) for r in results]
print("\n".join(lines))
assert [r.returncode for r in results] == [0, 0]
assert "sees 4 devices" in lines[0] and lines[0].split("w =")[1] == lines[1].split("w =")[1]

# %% [markdown]
# The two processes end with the same weights, and they equal a single process training on
# the full batches:

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 8, 3)).astype(np.float32)
y = x @ np.array([1.0, -2.0, 0.5], np.float32)
lin_opt = optx.sgd(0.1)
lin_step = train.make_train_step(
    lambda p, b, r: jnp.mean((b["x"] @ p["w"] - b["y"]) ** 2), lin_opt, steps_per_call=16
)
lin, _ = lin_step(train.TrainState.create({"w": jnp.zeros(3)}, lin_opt), {"x": x, "y": y})
multi = np.array(json.loads(lines[0].split("w =")[1]))
print("single process:", np.asarray(lin.params["w"]).round(5).tolist())
np.testing.assert_allclose(multi, lin.params["w"], atol=1e-4)

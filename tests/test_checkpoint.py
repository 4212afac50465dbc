"""optx.train.save / restore: round trips, verification, atomic writes, resume across processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _train_util import init_params, make_step, regression_batches

import optx
from optx import train

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _state(params=None, tx=None):
    params = init_params() if params is None else params
    return train.TrainState.create(params, tx or optx.adam(1e-2), rng=3)


def _rich_state():
    rng = np.random.default_rng(0)
    params = {
        "dense": {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "b": jnp.zeros(2)},
        "emb": jnp.asarray(rng.normal(size=(4,)), jnp.bfloat16),
        "layers": [jnp.ones(2), jnp.arange(3.0)],
    }
    state = _state(params, optx.adamw(1e-3, mu_dtype=jnp.bfloat16))
    keys = jax.random.split(state.rng, 2)
    host = np.linspace(0.0, 1.0, 3)  # float64 numpy stays numpy float64
    return state._replace(model_state={"count": jnp.int32(7), "keys": keys, "host": host})


def _assert_same(a, b):
    def unkey(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert [x.dtype for x in jax.tree.leaves(a)] == [x.dtype for x in jax.tree.leaves(b)]
    chex.assert_trees_all_equal(jax.tree.map(unkey, a), jax.tree.map(unkey, b))


def test_round_trip_keeps_structure_dtypes_keys_and_bfloat16(tmp_path):
    state = _rich_state()
    path = tmp_path / "state.ckpt"
    train.save(path, state, metadata={"note": "hi", "step": 3})
    restored = train.restore(path, like=state)
    assert type(restored) is train.TrainState
    assert restored.params["emb"].dtype == jnp.bfloat16
    assert restored.opt_state[0].mu["dense"]["w"].dtype == jnp.bfloat16
    assert isinstance(restored.model_state["host"], np.ndarray)
    assert restored.model_state["host"].dtype == np.float64
    _assert_same(restored, state)
    assert train.read_metadata(path) == {"note": "hi", "step": 3}
    with open(path, "rb") as f:
        assert f.read(8) == b"OPTXCKPT"  # our own format, no pickle anywhere


def test_restore_without_like_gives_nested_containers(tmp_path):
    state = _rich_state()
    train.save(tmp_path / "s", state)
    tree = train.restore(tmp_path / "s")
    assert sorted(tree) == ["model_state", "opt_state", "params", "rng", "step"]
    np.testing.assert_array_equal(tree["params"]["layers"][1], state.params["layers"][1])
    assert isinstance(tree["params"]["layers"], list)
    assert jax.random.key_data(tree["rng"]).tolist() == jax.random.key_data(state.rng).tolist()
    train.save(tmp_path / "n", {"x": 1.5, "n": 2, "flag": True})
    assert train.restore(tmp_path / "n") == {"flag": True, "n": 2, "x": 1.5}


def test_optimizer_state_alone(tmp_path):
    tx = optx.sgd(0.1, momentum=0.9)
    opt_state = tx.init(init_params())
    _, opt_state = tx.update({"w": jnp.ones(4), "b": jnp.ones([])}, opt_state)
    train.save(tmp_path / "opt", opt_state)
    _assert_same(train.restore(tmp_path / "opt", like=tx.init(init_params())), opt_state)


MISMATCHES = [
    (lambda s: s._replace(params={**s.params, "w": jnp.zeros(5)}),
     r"\.params\['w'\]: checkpoint float32\[4\], like float32\[5\]"),
    (lambda s: s._replace(params={**s.params, "w": jnp.zeros(4, jnp.bfloat16)}),
     r"\.params\['w'\]: checkpoint float32\[4\], like bfloat16\[4\]$"),
    (lambda s: s._replace(params={**s.params, "z": jnp.zeros(1)}),
     r"first difference is leaf \d+: checkpoint \.opt_state.*like \.params\['z'\]"),
    (lambda s: s._replace(rng=jnp.zeros(2, jnp.uint32)),
     r"\.rng: checkpoint PRNG key threefry2x32\[\], like uint32\[2\]"),
]  # fmt: skip


@pytest.mark.parametrize("change,message", MISMATCHES)
def test_mismatch_names_the_first_differing_path(tmp_path, change, message):
    state = _state()
    train.save(tmp_path / "s", state)
    with pytest.raises(train.CheckpointError, match=message):
        train.restore(tmp_path / "s", like=change(state))


def test_truncated_corrupt_and_foreign_files_are_refused(tmp_path):
    state = _state()
    path = tmp_path / "s"
    train.save(path, state)
    raw = path.read_bytes()
    cases = {
        "truncated": (raw[:-3], r"is truncated: the header promises \d+ bytes of arrays"),
        "cut_header": (raw[:40], "is truncated: the header needs"),
        "flipped": (raw[:-1] + bytes([raw[-1] ^ 1]), "sha256 checksum"),
        "foreign": (b"\x80\x04pickle" + raw[11:], "not an optx checkpoint"),
    }  # fmt: skip
    for name, (content, message) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(train.CheckpointError, match=message):
            train.restore(bad, like=state)
        assert bad.read_bytes() == content  # nothing overwritten
    n = int.from_bytes(raw[8:16], "little")
    header = json.loads(raw[16 : 16 + n])
    header["version"] = 99
    new_header = json.dumps(header).encode()
    (tmp_path / "future").write_bytes(
        raw[:8] + len(new_header).to_bytes(8, "little") + new_header + raw[16 + n :]
    )
    with pytest.raises(train.CheckpointError, match="format version 99; this optx reads"):
        train.restore(tmp_path / "future")


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "s"
    train.save(path, _state())
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        train.save(path, _state(tx=optx.adam(0.5)))
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["s"]
    with pytest.raises(train.CheckpointError, match="JSON-serializable"):
        train.save(path, _state(), metadata={"f": object()})
    with pytest.raises(train.CheckpointError, match="cannot store a leaf of type str"):
        train.save(path, {"name": "x"})
    assert path.read_bytes() == before


def test_restore_places_arrays_with_the_like_sharding(tmp_path):
    mesh = jax.make_mesh((2,), ("d",), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.devices()[:2])  # fmt: skip
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
    like = {"w": jax.device_put(jnp.arange(4.0), sharding)}
    train.save(tmp_path / "s", {"w": jnp.arange(4.0) + 1})
    restored = train.restore(tmp_path / "s", like=like)
    assert restored["w"].sharding == sharding
    np.testing.assert_array_equal(restored["w"], np.arange(4.0) + 1)


# -- across processes ---------------------------------------------------------------------

WORKER = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
import optx
from optx import train
from _train_util import init_params, library_step, make_step, regression_batches

mode, ckpt, out = sys.argv[1:4]
tx = optx.adam(1e-2)
data = regression_batches(n=64, batch=16)
state = train.TrainState.create(init_params(), tx, rng=3)
if mode == "continue":
    step = library_step(tx)
    state = train.restore(ckpt, like=state)
    for batch in (data * 3)[int(state.step):]:
        state, _ = step(state, batch)
    train.save(out, state)
else:
    pause = float(sys.argv[4])

    class Slow(train.Callback):
        def after_batch(self):
            time.sleep(pause)

    ckpt_cb = train.Checkpoint(ckpt, every_n_steps=4, resume=True)
    loop = train.fit(state, make_step(tx), data, 15, callbacks=[ckpt_cb, Slow()])
    train.save(out, loop.state)
    print("resumed_from", ckpt_cb.resumed_from, flush=True)
"""


def _worker(tmp_path, *args):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), tests=str(TESTS)))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc, deadline=120):
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("worker timed out") from None
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.mark.slow  # spawns processes
def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    from _train_util import library_step

    tx = optx.adam(1e-2)
    step = library_step(tx)
    batches = regression_batches(n=64, batch=16) * 3  # N = 12 steps
    state = _state()
    for batch in batches[:5]:  # k = 5
        state, _ = step(state, batch)
    train.save(tmp_path / "k.ckpt", state)
    proc = _worker(tmp_path, "continue", tmp_path / "k.ckpt", tmp_path / "out.ckpt")
    for batch in batches[5:]:
        state, _ = step(state, batch)
    _finish(proc)
    resumed = train.restore(tmp_path / "out.ckpt", like=state)
    assert int(resumed.step) == 12
    _assert_same(resumed, state)


@pytest.mark.slow  # spawns processes
def test_sigkill_mid_run_resumes_from_the_last_checkpoint(tmp_path):
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "final.ckpt"
    proc = _worker(tmp_path, "train", ckpt, out, 0.1)
    deadline = time.monotonic() + 90
    try:
        while not ckpt.exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        time.sleep(0.3)  # let it train on past the first checkpoint
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the worker finished before it was killed"
    assert not out.exists()
    done = train.read_metadata(ckpt)["train_iter"]
    assert 0 < done < 60 and done % 4 == 0
    stdout = _finish(_worker(tmp_path, "train", ckpt, out, 0.0))
    assert f"resumed_from {done}" in stdout
    tx = optx.adam(1e-2)
    straight = train.fit(_state(), make_step(tx), regression_batches(n=64, batch=16), 15)
    final = train.restore(out, like=straight.state)
    assert int(final.step) == 60
    _assert_same(final, straight.state)


def test_a_state_saved_with_a_constant_rate_restores_into_a_scheduled_optimizer(tmp_path):
    params = {"w": jnp.arange(3.0)}
    constant = optx.adam(1e-3)
    state = constant.update({"w": jnp.ones(3)}, constant.init(params), params)[1]
    path = tmp_path / "adam.ckpt"
    optx.train.save(path, state)
    scheduled = optx.adam(optx.schedules.linear_schedule(1e-3, 0.0, 10))
    restored = optx.train.restore(path, like=scheduled.init(params))
    assert jax.tree.structure(restored) == jax.tree.structure(scheduled.init(params))
    chex.assert_trees_all_equal(jax.tree.leaves(restored), jax.tree.leaves(state))
    # The restored state drives the scheduled optimizer: the rate comes from the schedule at
    # the saved count (one update done), so the second update after restoring uses step 2.
    _, after = scheduled.update({"w": jnp.ones(3)}, restored, params)
    _, after = scheduled.update({"w": jnp.ones(3)}, after, params)
    assert float(optx.get_hyperparams(after)["learning_rate"]) == pytest.approx(1e-3 * 0.8)

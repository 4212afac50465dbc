"""Many processes: 2 local processes over loopback match single-process training.

Every launch has a hard deadline and kills only the processes it started.
"""

import os
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from _train_distributed_worker import MODES, STEPS, initial_state, optimizer, say_hello
from _train_problem import batches, loss_fn

import optx
from optx.train import distributed, make_train_step

HERE = Path(__file__).parent
DEADLINE_S = 120.0


@pytest.mark.slow  # spawns processes
def test_two_processes_match_single_process_training(tmp_path):
    out = tmp_path / "params.npz"
    start = time.monotonic()
    results = distributed.launch_local(
        HERE / "_train_distributed_worker.py",
        2,
        deadline_s=DEADLINE_S,
        args=[str(out)],
        devices_per_process=2,
    )
    assert time.monotonic() - start < DEADLINE_S + 10
    assert [r.returncode for r in results] == [0, 0]
    saved = np.load(out)
    assert int(saved["num_devices"]) == 4  # one global mesh over both processes
    opt = optimizer()
    step = make_train_step(loss_fn, opt, steps_per_call=STEPS)
    expected, metrics = step(initial_state(opt), batches(STEPS, seed=3))
    for mode in MODES:
        for name, value in expected.params.items():
            np.testing.assert_allclose(saved[f"{mode}/{name}"], value, atol=1e-5)
        np.testing.assert_allclose(saved[f"{mode}/loss"], metrics["loss"][-1], rtol=1e-4)
    # A checkpoint of a state whose optimizer moments are split across the two processes
    # restores with the same shardings and continues bit for bit.
    assert bool(saved["ckpt/same_sharding"]) and bool(saved["ckpt/identical"])
    assert float(saved["ckpt/max_diff"]) == 0.0
    # Each process wrote its own shards: orbax's per-process OCDBT stores, both with data.
    state_dir = Path(str(out) + ".ckpt") / "state"
    for process in (0, 1):
        assert any((state_dir / f"ocdbt.process_{process}" / "d").iterdir())
    assert sorted(p.name for p in (state_dir / "array_metadatas").iterdir()) == [
        "process_0",
        "process_1",
    ]


def _script(tmp_path, body):
    path = tmp_path / "worker.py"
    path.write_text(body)
    return path


@pytest.mark.slow  # spawns processes
def test_deadline_kills_hanging_processes(tmp_path):
    script = _script(tmp_path, "import time\ntime.sleep(600)\n")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"(?s)deadline of 1.5 s passed.*code -9.*code -9"):
        distributed.launch_local(script, 2, deadline_s=1.5)
    assert time.monotonic() - start < 10


@pytest.mark.slow  # spawns processes
def test_a_failing_process_stops_its_peers_at_once(tmp_path):
    body = (
        "import os, sys, time\n"
        "if os.environ['OPTX_PROCESS_ID'] == '1':\n"
        "    print('worker one fails'); sys.exit(3)\n"
        "time.sleep(600)\n"
    )
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"(?s)exit code 3.*worker one fails"):
        distributed.launch_local(_script(tmp_path, body), 2, deadline_s=60.0)
    assert time.monotonic() - start < 30


def test_child_environment(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_foo=1")
    monkeypatch.setenv("https_proxy", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "example.com")
    env = distributed.child_environment(2, 1, "127.0.0.1:1234", devices_per_process=2)
    assert env["XLA_FLAGS"] == "--xla_foo=1"
    assert "https_proxy" not in env and "NO_PROXY" not in env
    assert env["OPTX_COORDINATOR"] == "127.0.0.1:1234"
    assert (env["OPTX_NUM_PROCESSES"], env["OPTX_PROCESS_ID"]) == ("2", "1")
    assert (env["JAX_PLATFORMS"], env["JAX_NUM_CPU_DEVICES"]) == ("cpu", "2")
    assert os.environ["https_proxy"] == "http://proxy:3128"  # ours is untouched


def test_initialize_without_settings_runs_alone(monkeypatch):
    for name in ("OPTX_COORDINATOR", "OPTX_NUM_PROCESSES", "OPTX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() == distributed.ProcessInfo(0, 1)
    assert distributed.initialize(num_processes=1) == (0, 1)
    monkeypatch.setenv("OPTX_NUM_PROCESSES", "2")
    with pytest.raises(ValueError, match="coordinator_address, process_id not given"):
        distributed.initialize()
    with pytest.raises(ValueError, match=r"process_id must be in \[0, num_processes\)"):
        distributed.initialize("127.0.0.1:1", process_id=5)
    monkeypatch.setenv("OPTX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="OPTX_NUM_PROCESSES must be an int"):
        distributed.initialize()


def test_global_batch_and_local_slice():
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    batch = optx.train.distributed.global_batch({"x": np.arange(8.0)}, mesh)
    assert batch["x"].sharding.spec == jax.P("data")
    np.testing.assert_array_equal(batch["x"], np.arange(8.0))
    assert distributed.local_slice(8) == slice(0, 8)
    with pytest.raises(ValueError, match="does not split evenly"):
        distributed.local_slice(7, process_id=0, num_processes=2)


@pytest.mark.slow  # spawns processes
def test_function_target():
    results = distributed.launch_local(say_hello, 2, deadline_s=60.0)
    assert [r.output.strip() for r in results] == ["hello from 0 of 2", "hello from 1 of 2"]


def test_launch_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="num_processes must be an int >= 1"):
        distributed.launch_local(tmp_path / "x.py", 0)
    with pytest.raises(FileNotFoundError, match="no script"):
        distributed.launch_local(tmp_path / "missing.py", 1)
    with pytest.raises(ValueError, match="top level of an importable module"):
        distributed.launch_local(lambda: None, 1)

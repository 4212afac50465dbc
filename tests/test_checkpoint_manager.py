"""CheckpointManager: keeps the last N and the best, saves asynchronously, survives SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from _ckpt_util import assert_same, state
from _train_util import make_step, regression_batches

import optx
from optx import train

TESTS = Path(__file__).resolve().parent


def test_keeps_the_latest_and_the_best(tmp_path):
    s = state()
    losses = [5.0, 1.0, 3.0, 4.0, 2.0, 6.0]
    with train.CheckpointManager(tmp_path, max_to_keep=2, best_metric="loss") as manager:
        for step, loss in enumerate(losses):
            manager.save(step, s._replace(step=jnp.int32(step)), metrics={"loss": loss})
        manager.wait()
        assert manager.all_steps() == [1, 4, 5]  # the latest two and the best (loss 1.0)
        assert manager.best_step() == 1 and manager.latest_step() == 5
        assert int(manager.restore(1, s).step) == 1
        assert int(manager.restore(target=s).step) == 5
        assert manager.metrics(4) == {"loss": 2.0}
    high = train.CheckpointManager(tmp_path / "max", best_metric="acc", best_mode="max",
                                   max_to_keep=1, keep_best=2, asynchronous=False)  # fmt: skip
    for step, acc in enumerate([0.1, 0.9, 0.5, 0.2]):
        high.save(step, s, metrics={"acc": acc})
    assert high.all_steps() == [1, 2, 3]
    with pytest.raises(train.CheckpointError, match="step 3 exists|exists; pass force=True"):
        high.save(3, s)
    with pytest.raises(train.CheckpointError, match="no checkpoint in"):
        train.CheckpointManager(tmp_path / "empty").restore(target=s)
    with pytest.raises(ValueError, match="max_to_keep must be an int >= 1 or None, got 0"):
        train.CheckpointManager(tmp_path, max_to_keep=0)
    with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
        high.save(-1, s)


def test_an_async_save_overlapped_with_donating_steps_equals_a_sync_save(tmp_path):
    tx = optx.adam(1e-2)
    step = make_step(tx, donate=True)
    data = regression_batches(n=64, batch=16)
    s = state(tx=tx)
    for batch in data[:2]:
        s, _ = step(s, batch)
    sync = train.CheckpointManager(tmp_path / "sync", asynchronous=False)
    sync.save(2, s)
    expected = train.restore(tmp_path / "sync" / "2", s)
    manager = train.CheckpointManager(tmp_path / "async")
    manager.save(2, s)  # returns once copied to host; the steps below donate s
    for batch in data[2:]:
        s, _ = step(s, batch)
    assert int(s.step) == 4
    manager.wait()
    assert_same(manager.restore(2, expected), expected)  # bit for bit, dtypes and structure
    assert (tmp_path / "sync" / "2" / "optx.json").read_bytes() == (
        tmp_path / "async" / "2" / "optx.json"
    ).read_bytes()


def _launch(root):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    return subprocess.Popen(
        [sys.executable, str(TESTS / "_ckpt_kill_worker.py"), str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _failed(launcher):
    launcher.kill()
    return launcher.communicate(timeout=30)[1][-2000:]


@pytest.mark.slow
def test_sigkill_during_saves_leaves_the_latest_committed_and_no_growing_temporaries(tmp_path):
    # One launcher process imports JAX once and forks a fresh worker process per run (see
    # _ckpt_kill_worker.py); each worker is killed with SIGKILL during its second save.
    rng = np.random.default_rng(0)
    resumed, pid = [], None
    launcher = _launch(tmp_path)
    try:
        for _ in range(10):
            launcher.stdin.write("run\n")
            launcher.stdin.flush()
            deadline = time.monotonic() + 60
            begins = 0
            while begins < 2:  # kill during the second save (or just after it started)
                line = launcher.stdout.readline()
                assert line and not line.startswith("exited"), (line, _failed(launcher))
                assert time.monotonic() < deadline, "the worker is too slow"
                if line.startswith("pid"):
                    pid = int(line.split()[1])
                if line.startswith("resumed"):
                    resumed.append(line.split())
                begins += line.startswith("begin")
            time.sleep(rng.uniform(0.0, 0.08))
            os.kill(pid, signal.SIGKILL)  # a worker this test started (through the launcher)
            line = launcher.stdout.readline()
            while line.startswith("begin"):  # a save that began before the kill landed
                line = launcher.stdout.readline()
            assert line.split() == ["exited", str(-signal.SIGKILL)], (line, _failed(launcher))
            pid = None
            leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".optx-")]
            assert len(leftovers) <= 1, leftovers  # the next save or restore removes it
            assert len([p for p in tmp_path.iterdir() if p.name.isdigit()]) <= 3
    finally:
        if pid is not None:  # a failed check left our worker running
            os.kill(pid, signal.SIGKILL)
        launcher.kill()
        launcher.communicate(timeout=30)
    assert len(resumed) == 9  # every run after the first resumed
    assert all(words[2] == "ok" for words in resumed), resumed
    latest = train.CheckpointManager(tmp_path).latest_step()
    like = {"step": jnp.int32(0), "w": jnp.zeros((256, 1024))}
    restored = train.restore(tmp_path / str(latest), like)
    assert int(restored["step"]) == latest and float(restored["w"][0, 0]) == latest
    assert latest >= 10  # every run committed at least its first save

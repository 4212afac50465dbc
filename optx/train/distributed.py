"""Training over several processes (hosts): initialization, global batches, a local launcher.

The same data-parallel step (`optx.train.data_parallel`) runs on many processes once
`initialize` has connected them: the default mesh spans ``jax.devices()`` (every process's
devices), each process feeds its own part of the batch, and `global_batch` assembles the
global array. `launch_local` starts N fresh local processes over loopback to test this on
one machine.

A worker script::

    import optx
    info = optx.train.distributed.initialize()  # reads OPTX_* env vars; no-op if unset
    dp = optx.train.data_parallel(loss_fn, opt)
    state = dp.replicate(optx.train.TrainState.create(params, opt))  # same on every process
    for local_batch in my_part_of_the_data(info.process_id, info.num_processes):
        state, metrics = dp(state, dp.shard_batch(local_batch))
        jax.block_until_ready(state)

and a test: ``optx.train.distributed.launch_local("worker.py", 2, deadline_s=120)``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from optx.train._parallel import batch_spec

ENV_COORDINATOR = "OPTX_COORDINATOR"
"""Environment variable read by `initialize`: the coordinator's ``host:port``."""
ENV_NUM_PROCESSES = "OPTX_NUM_PROCESSES"
"""Environment variable read by `initialize`: the number of processes."""
ENV_PROCESS_ID = "OPTX_PROCESS_ID"
"""Environment variable read by `initialize`: this process's id in ``[0, num_processes)``."""

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "grpc_proxy", "no_proxy")
_DEVICE_COUNT_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


class ProcessInfo(NamedTuple):
    """Which process this is.

    Attributes:
      process_id: this process's index, ``jax.process_index()``.
      num_processes: ``jax.process_count()``.
    """

    process_id: int
    num_processes: int


class ProcessResult(NamedTuple):
    """The outcome of one process started by `launch_local`.

    Attributes:
      process_id: the id the process was given.
      returncode: its exit code (negative: killed by that signal).
      output: its stdout and stderr, interleaved.
    """

    process_id: int
    returncode: int
    output: str


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"optx.train.distributed.initialize: environment variable {name} must be an "
            f"int, got {value!r}"
        ) from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    initialization_timeout: int = 300,
    heartbeat_timeout_seconds: int = 100,
) -> ProcessInfo:
    """Connects this process to the others with ``jax.distributed.initialize``.

    Each argument left None is read from the environment: ``OPTX_COORDINATOR``
    (``host:port`` of process 0), ``OPTX_NUM_PROCESSES``, ``OPTX_PROCESS_ID`` (set by
    `launch_local`). If neither a coordinator nor a process count is found anywhere, or
    the count is 1, nothing is initialized and the process runs alone, so one script
    serves both single- and multi-process runs. Call it before anything else touches JAX
    (the backend must not have started). On CPU, JAX uses gloo collectives.

    Args:
      coordinator_address: ``"host:port"`` of the coordinator (process 0 listens there).
      num_processes: the number of processes, >= 1.
      process_id: this process's index in ``[0, num_processes)``.
      local_device_ids: restrict this process to these local devices.
      initialization_timeout: seconds to wait for all processes to connect.
      heartbeat_timeout_seconds: seconds after which a silent peer is declared dead.

    Returns:
      A `ProcessInfo` (``process_id``, ``num_processes``).

    Raises:
      ValueError: only some of the three settings are known, or they are inconsistent.
    """
    call = "optx.train.distributed.initialize"
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR) or None
    if num_processes is None:
        num_processes = _env_int(ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _env_int(ENV_PROCESS_ID)
    if coordinator_address is None and num_processes is None:
        return ProcessInfo(jax.process_index(), jax.process_count())
    if num_processes == 1 and not process_id:
        return ProcessInfo(0, 1)
    missing = [
        name
        for name, value in (
            ("coordinator_address", coordinator_address),
            ("num_processes", num_processes),
            ("process_id", process_id),
        )
        if value is None
    ]
    if missing:
        raise ValueError(
            f"{call}: {', '.join(missing)} not given and not set in the environment "
            f"({ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}); pass all three or none"
        )
    num_processes, process_id = int(num_processes or 0), int(process_id or 0)
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(
            f"{call}: process_id must be in [0, num_processes), got process_id={process_id}, "
            f"num_processes={num_processes}"
        )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=initialization_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout_seconds,
    )
    return ProcessInfo(jax.process_index(), jax.process_count())


def shutdown() -> None:
    """Disconnects from the other processes (``jax.distributed.shutdown``); safe to repeat."""
    jax.distributed.shutdown()


def global_batch(
    local_batch: Any, mesh: Mesh, axis_name: Any = "data", *, batch_axis: int = 0
) -> Any:
    """The global batch, split over ``axis_name``, from each process's local part.

    Every process passes its own examples (the same shapes on every process); the result is
    a global ``jax.Array`` whose axis ``batch_axis`` concatenates the processes' parts in
    process order. With one process it simply shards the batch over the mesh.

    Args:
      local_batch: this process's part, a pytree of arrays.
      mesh: the global mesh.
      axis_name: the data axis of the mesh.
      batch_axis: which axis of each leaf indexes examples.

    Returns:
      The pytree of global arrays (``jax.make_array_from_process_local_data``).
    """
    sharding = NamedSharding(mesh, batch_spec(axis_name, batch_axis))
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )


def local_slice(
    size: int, process_id: int | None = None, num_processes: int | None = None
) -> slice:
    """The part ``[start, stop)`` of a global batch of ``size`` examples this process feeds.

    Examples:
      >>> import optx
      >>> optx.train.distributed.local_slice(8, process_id=1, num_processes=2)
      slice(4, 8, None)
    """
    pid = jax.process_index() if process_id is None else process_id
    count = jax.process_count() if num_processes is None else num_processes
    if size % count:
        raise ValueError(
            f"optx.train.distributed.local_slice: a batch of {size} does not split evenly over "
            f"{count} processes"
        )
    per = size // count
    return slice(pid * per, (pid + 1) * per)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (for a local coordinator)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def child_environment(
    num_processes: int, process_id: int, coordinator: str, devices_per_process: int = 1
) -> dict[str, str]:
    """The environment `launch_local` gives a worker.

    A copy of this one without proxy variables (the coordinator is on loopback; JAX warns
    that they can hang ``jax.distributed.initialize``) and without
    a forced host device count in ``XLA_FLAGS`` (each worker gets ``devices_per_process``
    CPU devices via ``JAX_NUM_CPU_DEVICES``), on the CPU platform, with the ``OPTX_*``
    variables `initialize` reads.
    """
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    flags = _DEVICE_COUNT_FLAG.sub("", env.get("XLA_FLAGS", "")).split()
    env["XLA_FLAGS"] = " ".join(flags)
    env["JAX_PLATFORMS"] = "cpu"
    env["JAX_NUM_CPU_DEVICES"] = str(devices_per_process)
    env[ENV_COORDINATOR] = coordinator
    env[ENV_NUM_PROCESSES] = str(num_processes)
    env[ENV_PROCESS_ID] = str(process_id)
    return env


def _command(target: str | os.PathLike | Callable[[], Any], args: Sequence[str]) -> list[str]:
    if callable(target):
        module = getattr(target, "__module__", None)
        name = getattr(target, "__qualname__", "")
        if module in (None, "__main__") or "<" in name:
            raise ValueError(
                "optx.train.distributed.launch_local: a function target must be defined at "
                f"the top level of an importable module, got {target!r}; pass a script path"
            )
        path = [p for p in sys.path if p]
        code = (
            f"import sys; sys.path[:0] = {path!r}; import importlib; "
            f"importlib.import_module({module!r}).{name}()"
        )
        return [sys.executable, "-c", code, *args]
    script = Path(target)
    if not script.is_file():
        raise FileNotFoundError(f"optx.train.distributed.launch_local: no script at {script}")
    return [sys.executable, str(script), *args]


def _kill(proc: subprocess.Popen) -> None:
    """Kills a process we started and its session (its own children), nothing else."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session launch_local created for it
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()
    proc.wait()


def launch_local(
    target: str | os.PathLike | Callable[[], Any],
    num_processes: int = 2,
    *,
    deadline_s: float = 120.0,
    args: Sequence[str] = (),
    devices_per_process: int = 1,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> list[ProcessResult]:
    """Runs ``target`` in ``num_processes`` fresh local processes connected over loopback.

    For testing multi-process code on one machine. Each process is a new Python
    interpreter (``target`` is a script path, or a top-level function of an importable
    module) whose environment is `child_environment`: ``OPTX_COORDINATOR`` points at a free
    loopback port, ``OPTX_NUM_PROCESSES`` and ``OPTX_PROCESS_ID`` are set (so the worker
    just calls `initialize()`), proxies and forced device counts are removed, and JAX runs
    on ``devices_per_process`` CPU devices.

    The launcher enforces a hard deadline: when it passes, or as soon as one process fails
    (its peers would otherwise wait for it until the heartbeat timeout), every process it
    started is killed, with its own session, and nothing else. It always returns or
    raises within about ``deadline_s`` seconds.

    Args:
      target: a script path, or an importable top-level function taking no arguments.
      num_processes: int >= 1.
      deadline_s: seconds before everything still running is killed.
      args: extra command-line arguments for every process.
      devices_per_process: CPU devices each process sees.
      env: extra environment variables for every process.
      check: raise if a process failed or the deadline passed (default); else return.

    Returns:
      One `ProcessResult` per process, in process-id order.

    Raises:
      TimeoutError: the deadline passed (with ``check``); the message holds the outputs.
      RuntimeError: a process exited with a non-zero code (with ``check``).
    """
    call = "optx.train.distributed.launch_local"
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"{call}: num_processes must be an int >= 1, got {num_processes!r}")
    if not deadline_s > 0:
        raise ValueError(f"{call}: deadline_s must be > 0, got {deadline_s!r}")
    command = _command(target, [str(a) for a in args])
    coordinator = f"127.0.0.1:{free_port()}"
    procs: list[subprocess.Popen] = []
    logs = []
    timed_out = False
    try:
        for pid in range(num_processes):
            child_env = child_environment(num_processes, pid, coordinator, devices_per_process)
            child_env.update(env or {})
            log = tempfile.TemporaryFile()
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    command,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        end = time.monotonic() + deadline_s
        while True:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break
            if time.monotonic() > end:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        for proc in procs:
            _kill(proc)
    results = []
    for pid, (proc, log) in enumerate(zip(procs, logs)):
        log.seek(0)
        results.append(ProcessResult(pid, proc.returncode, log.read().decode(errors="replace")))
        log.close()
    if check and (timed_out or any(r.returncode != 0 for r in results)):
        report = "\n".join(
            f"--- process {r.process_id} (exit code {r.returncode}) ---\n{r.output[-4000:]}"
            for r in results
        )
        if timed_out:
            raise TimeoutError(
                f"{call}: the deadline of {deadline_s:g} s passed; killed all\n{report}"
            )
        raise RuntimeError(f"{call}: a process failed; killed the others\n{report}")
    return results


__all__ = [
    "ENV_COORDINATOR",
    "ENV_NUM_PROCESSES",
    "ENV_PROCESS_ID",
    "ProcessInfo",
    "ProcessResult",
    "child_environment",
    "free_port",
    "global_batch",
    "initialize",
    "launch_local",
    "local_slice",
    "shutdown",
]

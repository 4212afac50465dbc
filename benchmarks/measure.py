"""Measurements: compile time and memory of a compiled update, alternating timings, roofline.

Every function here takes already-built pytrees; `run.py` decides what to measure.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# Donating a state leaf that no output can reuse (a scalar placeholder, a buffer whose
# shape changes) makes JAX warn; the benchmark donates everything on purpose.
_DONATION_WARNING = "Some donated buffers were not usable"
_INSTRUCTION = re.compile(r"^\s+(?:ROOT )?%\S+ = ", re.MULTILINE)
_FUSED_COMPUTATION = re.compile(
    r"^%fused_computation\S* \(([^)]*)\) -> ([^{]*)\{\n(.*?)\n\}", re.MULTILINE | re.DOTALL
)
_NAME = re.compile(r"%[\w.\-]+|\bparam_[\d.]+")
_METADATA = re.compile(r", metadata=\{[^}]*\}")


def distinct_kernels(hlo_text: str) -> int:
    """How many fused computations differ once names are ignored.

    XLA:CPU compiles identical kernels once, so this, more than the number of fusions,
    drives compile time on trees whose leaves repeat a shape.
    """
    bodies = {
        _NAME.sub("%", _METADATA.sub("", "".join(match)))
        for match in _FUSED_COMPUTATION.findall(hlo_text)
    }
    return len(bodies)


@contextlib.contextmanager
def quiet_donation():
    """Silences JAX's warning about donated buffers that could not be reused."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DONATION_WARNING)
        yield


def copy_tree(tree: Any) -> Any:
    """A fresh copy of every array, so a donated copy does not delete a shared one."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def update_fn(tx: Any, apply_updates: Callable, *, standard_promotion: bool) -> Callable:
    """``f(params, state, grads) -> (params, state)``: one update applied to the params.

    ``standard_promotion`` traces under ``jax.numpy_dtype_promotion("standard")`` (Optax needs
    it when the caller runs JAX in strict mode; it changes nothing otherwise).
    """

    def f(params, state, grads):
        ctx = (
            jax.numpy_dtype_promotion("standard")
            if standard_promotion
            else contextlib.nullcontext()
        )
        with ctx:
            updates, state = tx.update(grads, state, params)
            return apply_updates(params, updates), state

    return f


def compile_stats(jitted: Callable, args: tuple) -> dict:
    """Compiles a fresh ``jax.jit`` function for ``args`` and reads its memory analysis.

    The jitted function's cache then holds the executable, so its first call does not
    compile again. Returns ``lower_s`` (trace + lower to StableHLO), ``compile_s`` (XLA),
    ``total_compile_s``, ``temp_bytes`` (buffers the executable allocates besides its
    arguments and outputs), ``argument_bytes``, ``output_bytes`` and ``alias_bytes``
    (outputs written into donated arguments) and ``hlo_instructions`` (in the optimized
    HLO, fusion bodies included) and ``distinct_kernels`` (`distinct_kernels`): two
    deterministic proxies for XLA compile time, which on a loaded machine varies by tens
    of percent.
    """
    t0 = time.perf_counter()
    lowered = jitted.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    mem = compiled.memory_analysis()
    hlo = compiled.as_text() or ""
    stats = {
        "lower_s": t1 - t0,
        "compile_s": t2 - t1,
        "total_compile_s": t2 - t0,
        "temp_bytes": int(mem.temp_size_in_bytes),
        "argument_bytes": int(mem.argument_size_in_bytes),
        "output_bytes": int(mem.output_size_in_bytes),
        "alias_bytes": int(mem.alias_size_in_bytes),
        "hlo_instructions": len(_INSTRUCTION.findall(hlo)),
        "distinct_kernels": distinct_kernels(hlo),
    }
    return stats


class Runner:
    """Calls ``fn(*carry, *fixed)`` ``calls`` times per timing, its output the next carry.

    ``fn`` returns the new carry as a tuple (or a single array). Only the carry is waited
    for, so a per-step loop of ``calls`` dispatches runs asynchronously, as a user's would.
    """

    def __init__(self, fn: Callable, carry: tuple, fixed: tuple = (), calls: int = 1):
        self.fn, self.carry, self.fixed, self.calls = fn, carry, fixed, calls
        self.times: list[float] = []

    def __call__(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        carry = self.carry
        for _ in range(self.calls):
            out = self.fn(*carry, *self.fixed)
            carry = out if isinstance(out, tuple) else (out,)
        jax.block_until_ready(carry)
        elapsed = time.perf_counter() - t0
        self.carry = carry
        if record:
            self.times.append(elapsed)


def alternate(runners: dict[str, Runner], reps: int, warmup: int) -> dict[str, dict[str, float]]:
    """Times the runners in turn (order rotated every repetition); median and min in ms."""
    names = list(runners)
    with quiet_donation():
        for _ in range(warmup):
            for name in names:
                runners[name](record=False)
        for rep in range(reps):
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                runners[name]()
    return {
        name: {
            "median_ms": 1e3 * statistics.median(r.times),
            "min_ms": 1e3 * min(r.times),
            "reps": len(r.times),
        }
        for name, r in runners.items()
    }


def streaming_bandwidth(n: int, reps: int, warmup: int) -> dict[str, float]:
    """Bytes/s of an in-place ``x = x + 0.5 * y`` over ``n`` float32s (reads 2, writes 1)."""
    x = jnp.ones((n,), jnp.float32)
    y = jnp.full((n,), 0.5, jnp.float32)
    f = jax.jit(lambda x, y: x + 0.5 * y, donate_argnums=0)
    timing = alternate({"stream": Runner(f, (x,), (y,))}, reps, warmup)["stream"]
    moved = 12 * n
    return {
        "elements": n,
        "bytes": moved,
        "median_ms": timing["median_ms"],
        "min_ms": timing["min_ms"],
        "bytes_per_s": moved / (timing["median_ms"] / 1e3),
    }

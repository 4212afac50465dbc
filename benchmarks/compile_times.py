"""Compile time of one jitted update for every optimizer of the test registry (issue 19, "Cost").

Reproduce (from the repository root)::

    python -m benchmarks.compile_times                       # every case, both trees
    python -m benchmarks.compile_times --only shampoo soap   # a subset (names of tests/registry.py)
    python -m benchmarks.compile_times --trees contract --reps 3 --top 10
    python -m benchmarks.compile_times --runtime             # also time per update

For every `Case` of ``tests/registry.py`` (``case.build()``, its ``extra_args``), the update
``(params, state, grads) -> (params + updates, state)`` is jitted from a fresh Python
function (so no trace or compile cache answers) and compiled with
``jax.jit(f).lower(...).compile()``, on two trees: the contract suite's params
(``tests/test_contract.py`` ``PARAMS``: a (3, 2) matrix and a (2,) vector) and
``benchmarks.trees.transformer(1/16)`` (196 leaves, ~1M params). Reported per tree:
trace + lower and XLA compile in *process CPU* seconds (steadier than wall time on a shared
machine; the minimum over ``--reps`` compiles), and the optimized HLO's instruction count
(fusion bodies included) and distinct fused kernels, two noise-free proxies. With
``--runtime``, the compiled update is also called ``--calls`` times per repetition and its
median wall and process-CPU milliseconds per update are reported.

Runs with the tests' strict dtype and rank promotion (the registry's settings are tuned for
it). Results go to ``benchmarks/results/compile_times.json`` (``--json`` to change) and a
Markdown table is printed, worst first.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import optx
from benchmarks import measure, trees

ROOT = Path(__file__).resolve().parents[1]
TREES = ("contract", "transformer")


def _registry() -> list[Any]:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from registry import CASES  # noqa: PLC0415  (tests/ is not a package)

    return list(CASES)


def tree_for(name: str, scale: float) -> tuple[dict, dict]:
    """(params, grads) of the named tree, float32, seeded."""
    if name == "contract":  # tests/test_contract.py's PARAMS
        params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}
        rng = np.random.default_rng(0)
        grads = {
            k: jnp.asarray(rng.standard_normal(v.shape), jnp.float32) for k, v in params.items()
        }
        return params, grads
    return trees.build(trees.transformer(scale))


def _fresh_update(tx: Any):
    """A new Python function each call, so neither JAX's trace cache nor its compile cache hits."""

    def f(params, state, grads, extra):
        updates, state = tx.update(grads, state, params, **extra)
        return optx.apply_updates(params, updates), state

    return f


def compile_once(tx: Any, args: tuple) -> dict[str, Any]:
    """Trace + lower and XLA compile of a fresh jitted update; CPU and wall seconds."""
    jitted = jax.jit(_fresh_update(tx))
    c0, w0 = time.process_time(), time.perf_counter()
    lowered = jitted.lower(*args)
    c1 = time.process_time()
    compiled = lowered.compile()
    c2, w2 = time.process_time(), time.perf_counter()
    hlo = compiled.as_text() or ""
    return {
        "lower_cpu_s": c1 - c0,
        "compile_cpu_s": c2 - c1,
        "total_cpu_s": c2 - c0,
        "total_wall_s": w2 - w0,
        "hlo_instructions": len(measure._INSTRUCTION.findall(hlo)),
        "distinct_kernels": measure.distinct_kernels(hlo),
        "compiled": compiled,
    }


def time_updates(compiled: Any, args: tuple, calls: int, reps: int) -> dict[str, float]:
    """Median ms per update (wall and process CPU) over ``reps`` runs of ``calls`` updates."""
    params, state, grads, extra = args
    wall, cpu = [], []
    for rep in range(reps + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        p, s = params, state
        for _ in range(calls):
            p, s = compiled(p, s, grads, extra)
        jax.block_until_ready((p, s))
        if rep:  # the first run warms up
            wall.append((time.perf_counter() - w0) / calls)
            cpu.append((time.process_time() - c0) / calls)
    return {"wall_ms": 1e3 * statistics.median(wall), "cpu_ms": 1e3 * statistics.median(cpu)}


def measure_case(case: Any, tree: str, args: argparse.Namespace) -> dict[str, Any]:
    params, grads = tree_for(tree, args.scale)
    tx = case.build()
    state = tx.init(params)
    extra = case.extra_args(jax.random.key(1)) if case.extra_args else {}
    call = (params, state, grads, extra)
    runs = [compile_once(tx, call) for _ in range(args.reps)]
    best = min(runs, key=lambda r: r["total_cpu_s"])
    row = {k: min(r[k] for r in runs) for k in ("lower_cpu_s", "compile_cpu_s", "total_cpu_s")}
    row["total_wall_s"] = best["total_wall_s"]
    row["hlo_instructions"] = best["hlo_instructions"]
    row["distinct_kernels"] = best["distinct_kernels"]
    if args.runtime:
        row.update(time_updates(best["compiled"], call, args.calls, args.runtime_reps))
    return row


def table(results: dict[str, dict[str, Any]], tree_names: list[str], top: int | None) -> str:
    """Markdown, worst first (by the largest compile time over the trees)."""
    order = sorted(
        results,
        key=lambda n: -max(results[n].get(t, {}).get("total_cpu_s", 0.0) for t in tree_names),
    )
    if top:
        order = order[:top]
    head = "| optimizer |"
    rule = "|---|"
    for t in tree_names:
        head += f" {t}: lower (s) | compile (s) | total (s) | HLO instr | kernels |"
        rule += "---|---|---|---|---|"
        if any("wall_ms" in results[n].get(t, {}) for n in order):
            head += " ms/update | CPU ms/update |"
            rule += "---|---|"
    lines = [head, rule]
    for name in order:
        line = f"| `{name}` |"
        for t in tree_names:
            r = results[name].get(t)
            if r is None or "error" in r:
                line += " - | - | - | - | - |" + (" - | - |" if "ms/update" in head else "")
                continue
            line += (
                f" {r['lower_cpu_s']:.2f} | {r['compile_cpu_s']:.2f} | {r['total_cpu_s']:.2f} |"
                f" {r['hlo_instructions']} | {r['distinct_kernels']} |"
            )
            if "wall_ms" in r:
                line += f" {r['wall_ms']:.3f} | {r['cpu_ms']:.3f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trees", nargs="*", default=list(TREES), choices=TREES)
    parser.add_argument("--only", nargs="*", default=None, help="registry case names")
    parser.add_argument("--reps", type=int, default=2, help="compiles per case (minimum kept)")
    parser.add_argument("--scale", type=float, default=1 / 16, help="of the transformer tree")
    parser.add_argument("--runtime", action="store_true", help="also time the update")
    parser.add_argument("--calls", type=int, default=10, help="updates per timing (--runtime)")
    parser.add_argument("--runtime-reps", type=int, default=5)
    parser.add_argument("--top", type=int, default=None, help="rows of the printed table")
    default_json = ROOT / "benchmarks" / "results" / "compile_times.json"
    parser.add_argument("--json", default=str(default_json))
    args = parser.parse_args(argv)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    cases = [c for c in _registry() if args.only is None or c.name in args.only]
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        results[case.name] = {}
        for tree in args.trees:
            try:
                row = measure_case(case, tree, args)
            except Exception as err:  # noqa: BLE001 - a case that cannot run on this tree
                row = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
            results[case.name][tree] = row
            shown = (
                f"{row['total_cpu_s']:.2f} s, {row['hlo_instructions']} HLO"
                if "error" not in row
                else row["error"]
            )
            print(f"{case.name:32s} {tree:12s} {shown}", flush=True)
    text = table(results, args.trees, args.top)
    print(text)
    meta = {
        "jax": jax.__version__,
        "machine": platform.machine(),
        "scale": args.scale,
        "reps": args.reps,
        "optx": str(Path(optx.__file__).resolve().parent),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()

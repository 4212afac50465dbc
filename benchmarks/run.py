"""Benchmark runner: optx against Optax, in one process, alternating, on three parameter trees.

Reproduce (from the repository root)::

    python -m benchmarks.run            # full: median of 21, writes BENCHMARKS.md
    python -m benchmarks.run --quick    # about 3 minutes, smaller arrays, same leaf counts

What is measured, per tree and optimizer, for optx and Optax:

- the update alone: ``(params, state, grads) -> (params + updates, state)``, jitted with
  params and state donated; warm-up calls, then repetitions alternating optx and Optax
  (order rotated), reported as median and min; the ratio is Optax / optx (> 1: optx faster);
- compile time: trace + lower, then XLA compile, of a fresh jit;
- temporaries: ``temp_size_in_bytes`` of the compiled executable's memory analysis, i.e.
  buffers besides the arguments and outputs (a param-sized one costs a write and page
  faults every step);
- roofline fraction: (argument + output bytes) / measured streaming bandwidth, divided by
  the measured time; the bandwidth comes from an in-place ``x += 0.5 * y`` timed in the
  same run;
- a full train step (loss, gradient, update) for the ``--step-optimizers``: optx's
  ``make_train_step`` with ``steps_per_call=1`` and ``=K`` (``lax.scan``), each with the
  default metrics (loss, gradient norm, hyperparameters) and with ``grad_norm=False`` (the
  loss only, the same work as the Optax loop), against a per-step Optax loop (jitted,
  donated); reported per step.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

import optx
from benchmarks import measure, optimizers, report, trees

ROOT = Path(__file__).resolve().parents[1]
PARAM_SIZED = 0.01  # a temp of >= 1% of the param bytes (and >= 64 KiB) counts as param-sized
SLOW_COMPILE_S = 2.0  # rows compiling slower than this stop after two compiles per library


def _leaf_bytes(tree: Any) -> list[int]:
    return [x.size * x.dtype.itemsize for x in jax.tree.leaves(tree)]


def bench_update(
    shapes: dict,
    name: str,
    reps: int,
    warmup: int,
    roofline_bps: float,
    *,
    compile_reps: int = 1,
    optax_first: bool = False,
) -> dict:
    """One row: the update of optimizer ``name`` on the tree ``shapes``, optx and Optax.

    Each library's update is compiled up to ``compile_reps`` times from a fresh function
    (two when a compile takes over ``SLOW_COMPILE_S``; the minimum is kept), the two
    libraries taking turns, ``optax_first`` choosing who starts
    (the first large compile in a process runs slower, so the runner alternates it).
    """
    pair = optimizers.PAIRS[name]
    params, grads = trees.build(shapes)
    row: dict[str, Any] = {"optimizer": name, "note": pair.note}
    param_bytes = trees.nbytes(params)
    row["param_bytes"] = param_bytes
    row["leaves"] = len(shapes)
    libs = {
        "optx": (optx, pair.optx, optx.apply_updates, False),
        "optax": (optax, pair.optax, optax.apply_updates, True),
    }
    order = ["optax", "optx"] if optax_first else ["optx", "optax"]
    setup, runners = {}, {}
    for lib in order:
        module, factory, apply, standard = libs[lib]
        tx = factory(module)
        p = measure.copy_tree(params)
        with jax.numpy_dtype_promotion("standard") if standard else contextlib.nullcontext():
            state = tx.init(p)
        setup[lib] = (tx, apply, standard, p, state)
    compiles = 0
    for rep in range(compile_reps):
        if rep >= 2 and max(row[lib]["total_compile_s"] for lib in order) > SLOW_COMPILE_S:
            break  # a long compile varies less, relative to itself, than a short one
        compiles += 1
        for lib in order:
            tx, apply, standard, p, state = setup[lib]
            f = measure.update_fn(tx, apply, standard_promotion=standard)  # fresh: no cache hit
            jitted = jax.jit(f, donate_argnums=(0, 1))
            with measure.quiet_donation():
                stats = measure.compile_stats(jitted, (p, state, grads))
            if lib in row:
                for key in ("lower_s", "compile_s", "total_compile_s"):
                    stats[key] = min(stats[key], row[lib][key])
            row[lib] = stats
            runners[lib] = measure.Runner(jitted, (p, state), (grads,))
    if pair.optx_baseline is not None:  # e.g. float32 moments against the row's bf16 ones
        tx = pair.optx_baseline(optx)
        p = measure.copy_tree(params)
        state = tx.init(p)
        f = jax.jit(measure.update_fn(tx, optx.apply_updates, standard_promotion=False),
                    donate_argnums=(0, 1))  # fmt: skip
        runners["optx_baseline"] = measure.Runner(f, (p, state), (grads,))
        row["optx_baseline"] = {"state_bytes": trees.nbytes(state)}
    for lib in order:
        stats, state = row[lib], setup[lib][4]
        stats["compile_reps"] = compiles
        stats["state_bytes"] = trees.nbytes(state)
        stats["param_sized_temp"] = stats["temp_bytes"] >= max(PARAM_SIZED * param_bytes, 2**16)
        moved = stats["argument_bytes"] + stats["output_bytes"]
        stats["bytes_moved_min"] = moved
        stats["roofline_ms"] = 1e3 * moved / roofline_bps
    timing = measure.alternate(runners, reps, warmup)
    for lib in runners:
        row[lib].update(timing[lib])
        if "roofline_ms" in row[lib]:
            row[lib]["roofline_fraction"] = row[lib]["roofline_ms"] / row[lib]["median_ms"]
    row["ratio"] = row["optax"]["median_ms"] / row["optx"]["median_ms"]
    row["ratio_min"] = row["optax"]["min_ms"] / row["optx"]["min_ms"]
    row["compile_ratio"] = row["optax"]["total_compile_s"] / row["optx"]["total_compile_s"]
    return row


def _loss(params: Any, batch: Any, rng: Any = None) -> jax.Array:
    """A cheap loss with an elementwise gradient, so the optimizer dominates the step."""
    del rng
    t = batch["t"]
    return sum(0.5 * jnp.mean(jnp.square(p - t)) for p in jax.tree.leaves(params))


def bench_step(shapes: dict, name: str, k: int, reps: int, warmup: int) -> dict:
    """Per-step cost of a full train step: optx K=1, optx K=k (scan), and an Optax loop."""
    pair = optimizers.PAIRS[name]
    params, _ = trees.build(shapes)
    row: dict[str, Any] = {"optimizer": name, "steps_per_call": k, "leaves": len(shapes)}
    runners = {}

    tx = pair.optx(optx)
    variants = [
        ("optx_k1", 1, True),
        (f"optx_k{k}", k, True),
        ("optx_k1_loss_only", 1, False),
        (f"optx_k{k}_loss_only", k, False),
    ]
    for label, spc, grad_norm in variants:
        step = optx.train.make_train_step(_loss, tx, steps_per_call=spc, grad_norm=grad_norm)
        state = optx.train.TrainState.create(measure.copy_tree(params), tx)
        batch = {"t": jnp.zeros((spc,) if spc > 1 else (), jnp.float32)}
        with measure.quiet_donation():
            stats = measure.compile_stats(step, (state, batch))
        fn = lambda s, b, step=step: (step(s, b)[0],)  # noqa: E731
        runners[label] = measure.Runner(fn, (state,), (batch,), calls=1 if spc > 1 else k)
        row[label] = {"compile_s": stats["total_compile_s"], "temp_bytes": stats["temp_bytes"]}

    otx = pair.optax(optax)

    def optax_step(p, s, batch):  # the usual loop body: the loss is returned for logging
        with jax.numpy_dtype_promotion("standard"):
            loss, grads = jax.value_and_grad(_loss)(p, batch)
            updates, s = otx.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

    p = measure.copy_tree(params)
    with jax.numpy_dtype_promotion("standard"):
        s = otx.init(p)
    batch = {"t": jnp.zeros((), jnp.float32)}
    jitted = jax.jit(optax_step, donate_argnums=(0, 1))
    with measure.quiet_donation():
        stats = measure.compile_stats(jitted, (p, s, batch))
    fn = lambda p, s, b: jitted(p, s, b)[:2]  # noqa: E731
    runners["optax_loop"] = measure.Runner(fn, (p, s), (batch,), calls=k)
    row["optax_loop"] = {"compile_s": stats["total_compile_s"], "temp_bytes": stats["temp_bytes"]}

    timing = measure.alternate(runners, reps, warmup)
    for label, t in timing.items():
        row[label].update({key: v / k for key, v in t.items() if key.endswith("_ms")})
        row[label]["per_step_median_ms"] = row[label].pop("median_ms")
        row[label]["per_step_min_ms"] = row[label].pop("min_ms")
    base = row["optax_loop"]["per_step_median_ms"]
    for label, *_ in variants:
        row["ratio" + label[len("optx") :]] = base / row[label]["per_step_median_ms"]
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="arrays x0.25, fewer leaves, 5 reps, train step on many_leaves only (<3 min)",
    )
    parser.add_argument(
        "--trees", nargs="+", default=list(trees.TREES), choices=[*trees.TREES, "tiny"]
    )
    parser.add_argument(
        "--optimizers", nargs="+", default=list(optimizers.DEFAULT), choices=list(optimizers.PAIRS)
    )
    parser.add_argument(
        "--step-optimizers", nargs="*", default=["adam"], choices=list(optimizers.PAIRS)
    )
    parser.add_argument("--steps-per-call", type=int, default=8)
    parser.add_argument("--scale", type=float, help="array-size factor (default 1, quick 0.25)")
    parser.add_argument("--reps", type=int, help="timed repetitions (default 21, quick 5)")
    parser.add_argument("--warmup", type=int, help="untimed calls first (default 3, quick 1)")
    parser.add_argument(
        "--compile-reps",
        type=int,
        help="most compiles per library and optimizer, min kept; after two, rows whose "
        f"compile took over {SLOW_COMPILE_S:g} s stop (default 5, quick 1)",
    )
    parser.add_argument("--json", type=Path, help="output JSON path")
    parser.add_argument("--md", type=Path, help="output Markdown path")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: rewrite --md (and the acceptance checks) from this JSON",
    )
    args = parser.parse_args(argv)
    if args.steps_per_call < 2:
        parser.error("--steps-per-call must be >= 2 (K=1 is always measured)")
    quick = args.quick
    args.scale = args.scale or (0.25 if quick else 1.0)
    args.reps = args.reps or (5 if quick else 21)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 3)
    args.compile_reps = args.compile_reps or (1 if quick else 5)
    args.step_trees = ["many_leaves", "tiny"] if quick else list(args.trees)
    tag = "quick" if quick else "full"
    args.json = args.json or ROOT / "benchmarks" / "results" / f"{tag}.json"
    args.md = args.md or (
        ROOT / "benchmarks" / "results" / "quick.md" if quick else ROOT / "BENCHMARKS.md"
    )
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs the benchmarks; writes the JSON and Markdown; returns the results."""
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        results["acceptance"] = report.acceptance(results)
        args.md.write_text(report.markdown(results, args.from_json))
        return results
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    started = time.time()
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "meta": {
            "command": command.strip(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "jax": jax.__version__,
            "optax": optax.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_average_start": os.getloadavg(),
            "scale": args.scale,
            "reps": args.reps,
            "warmup": args.warmup,
            "compile_reps": args.compile_reps,
        },
        "skipped": [],
        "trees": {},
    }
    n_stream = max(int(2**24 * args.scale), 1024)
    bw = measure.streaming_bandwidth(n_stream, args.reps, args.warmup)
    say(
        f"streaming x += 0.5*y on {n_stream} f32: {bw['median_ms']:.2f} ms, "
        f"{bw['bytes_per_s'] / 1e9:.1f} GB/s"
    )
    results["bandwidth"] = {"start": bw}
    for tree_name in args.trees:
        build = (
            trees.tiny
            if tree_name == "tiny"
            else (trees.QUICK if args.quick else trees.TREES)[tree_name]
        )
        shapes = build(args.scale)
        n = sum(int(jnp.prod(jnp.array(s))) if s else 1 for s in shapes.values())
        say(f"\n== {tree_name}: {len(shapes)} leaves, {n / 1e6:.2f}M params")
        entry: dict[str, Any] = {"leaves": len(shapes), "params": n, "updates": [], "steps": []}
        for name in args.optimizers:
            ok, why = optimizers.available(name, optx)
            if not ok:
                say(f"  skip {name}: {why}")
                results["skipped"].append({"tree": tree_name, "optimizer": name, "why": why})
                continue
            row = bench_update(
                shapes,
                name,
                args.reps,
                args.warmup,
                bw["bytes_per_s"],
                compile_reps=args.compile_reps,
                optax_first=len(entry["updates"]) % 2 == 1,
            )
            entry["updates"].append(row)
            say("  " + report.update_line(row))
        for name in args.step_optimizers if tree_name in args.step_trees else ():
            if not hasattr(optx, "train") or not hasattr(optx.train, "make_train_step"):
                say("  skip train step: optx.train.make_train_step does not exist yet")
                break
            row = bench_step(shapes, name, args.steps_per_call, args.reps, args.warmup)
            entry["steps"].append(row)
            say("  " + report.step_line(row))
        results["trees"][tree_name] = entry
    bw_end = measure.streaming_bandwidth(n_stream, args.reps, args.warmup)
    results["bandwidth"]["end"] = bw_end
    results["meta"]["load_average_end"] = os.getloadavg()
    results["meta"]["wall_s"] = time.time() - started
    results["acceptance"] = report.acceptance(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=float))
    args.md.write_text(report.markdown(results, args.json))
    say(f"\n{report.acceptance_text(results['acceptance'])}")
    say(f"wrote {args.json} and {args.md} in {results['meta']['wall_s']:.0f} s")
    return results


if __name__ == "__main__":
    main()

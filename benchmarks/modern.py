"""The modern optimizers (issue 19) against Adam: compile time, time per update, state size.

Reproduce (from the repository root)::

    python -m benchmarks.modern            # the transformer-like tree at 1/16 size
    python -m benchmarks.modern --scale 1  # full size (~17M params)

On the transformer-like tree of `benchmarks.trees` (~200 leaves of mixed shapes), each
optimizer's update ``(params, state, grads) -> (params + updates, state)`` is jitted with
params and state donated, compiled from a fresh function (trace + lower + XLA compile) and
timed alternately with optx's Adam in one process. An optimizer whose preconditioner is
refreshed every ``precondition_frequency`` steps is timed over a whole period (the
average per update, refresh included) and also at a refresh step alone. Results go to
``benchmarks/results/modern.json`` and the table in BENCHMARKS.md's "Modern optimizers"
section (printed; paste it in).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax

import optx
from benchmarks import measure, trees

ROOT = Path(__file__).resolve().parents[1]
FREQUENCY = 10

CONTENDERS = {
    "adam": lambda: optx.adam(1e-3),
    "adamw": lambda: optx.adamw(1e-3, weight_decay=1e-4),
    "muon": lambda: optx.muon(0.02),
    "schedule_free_adamw": lambda: optx.schedule_free_adamw(1e-3),
    "prodigy": lambda: optx.prodigy(1.0),
    "dadapt_adamw": lambda: optx.dadapt_adamw(1.0),
    "ademamix": lambda: optx.ademamix(1e-3),
    "simplified_ademamix": lambda: optx.simplified_ademamix(1e-3),
    "adopt": lambda: optx.adopt(1e-3),
    "adan": lambda: optx.adan(1e-3),
    "mars": lambda: optx.mars(1e-3),
    "asgd": lambda: optx.asgd(1e-3),
    "cautious(adamw)": lambda: optx.cautious(optx.adamw(1e-3)),
    "shampoo": lambda: optx.shampoo(1e-3, precondition_frequency=FREQUENCY),
    "soap": lambda: optx.soap(1e-3, precondition_frequency=FREQUENCY),
}


def bench(name: str, make, params, grads, reps: int) -> dict:
    tx = make()
    state = tx.init(measure.copy_tree(params))
    f = measure.update_fn(tx, optx.apply_updates, standard_promotion=False)
    jitted = jax.jit(f, donate_argnums=(0, 1))
    p = measure.copy_tree(params)
    with measure.quiet_donation():
        stats = measure.compile_stats(jitted, (p, state, grads))
    runner = measure.Runner(jitted, (p, state), (grads,), calls=FREQUENCY)
    stats["state_bytes"] = trees.nbytes(state)
    return {"name": name, **stats, "runner": runner}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1 / 16)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    shapes = trees.transformer(args.scale)
    params, grads = trees.build(shapes)
    names = [n for n in CONTENDERS if args.only is None or n in args.only or n == "adam"]
    rows = {}
    for name in names:
        rows[name] = bench(name, CONTENDERS[name], params, grads, args.reps)
        print(f"compiled {name}: {rows[name]['total_compile_s']:.2f} s", flush=True)
    timing = measure.alternate({n: r.pop("runner") for n, r in rows.items()}, args.reps, 2)
    adam = rows["adam"]
    adam_ms = timing["adam"]["median_ms"] / FREQUENCY
    lines = [
        f"Transformer-like tree, {len(shapes)} leaves, {trees.size(params):,} params "
        f"(scale {args.scale:g}); per update, averaged over {FREQUENCY} updates "
        f"(one refresh of the preconditioner where there is one); median of {args.reps}.",
        "",
        "| optimizer | compile (s) | vs Adam | ms / update | vs Adam | state (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        ms = timing[name]["median_ms"] / FREQUENCY
        row["ms_per_update"] = ms
        lines.append(
            f"| `{name}` | {row['total_compile_s']:.2f} | "
            f"{row['total_compile_s'] / adam['total_compile_s']:.2f}x | {ms:.3f} | "
            f"{ms / adam_ms:.2f}x | {row['state_bytes'] / 2**20:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "modern.json"
    meta = {"jax": jax.__version__, "machine": platform.machine(), "cpus": jax.device_count()}
    out.write_text(json.dumps({"meta": meta, "rows": rows, "table": text}, indent=1, default=str))


if __name__ == "__main__":
    main()

"""The flat path against per-leaf updates: optx, Optax, ``optx.flatten``, torch.optim.

Reproduce (from the repository root, on a quiet machine)::

    python -m benchmarks.flat                  # full sizes: 2**24 params, 10,000-leaf tree
    python -m benchmarks.flat --quick          # small arrays, same leaf counts but 10k
    python -m benchmarks.flat --scale 0.004 --reps 3 --many 64 --ten-thousand 500  # a smoke run

For each tree (one leaf of 2**24 params, the transformer-like tree, 2048 leaves, and a
10,000-leaf tree) and optimizer (``adam``, ``clip_by_global_norm(1.0)`` then ``adamw``),
in one process, alternating (order rotated), median and min of ``--reps``:

- ``optx``, ``optax``: the per-leaf update ``(params, state, grads) -> (params + updates,
  state)``, jitted with params and state donated;
- ``optx_flatten``, ``optax_flatten``: the same around ``optx.flatten`` / ``optax.flatten``
  (ravel per step, one vector);
- ``optx_flat``: ``optx.flat(tx)`` with per-leaf params and gradients (Optax-style loop);
- ``flatparams``: params, gradients and state as `optx.FlatParams` (update and apply);
- ``flat_step`` and ``optax_step``: a full train step (loss, gradient, update, apply,
  returning the loss as a loop that logs it does) with the params as `FlatParams` (the
  loss reads ``fp.tree()``) against the usual Optax loop;
  ``train_flat`` and ``train_per_leaf``: ``optx.train.make_train_step`` (``grad_norm=False``,
  one step per call) on ``TrainState.create(..., flat=True)`` and on per-leaf params; the
  step rows' ratio is ``optax_step / variant``;
- ``torch_fused``, ``torch_foreach``: ``torch.optim.Adam``/``AdamW`` with ``fused=True`` /
  ``foreach=True`` (after ``clip_grad_norm_`` for the clipped row), when torch is installed
  (a benchmark-only dependency; rows say ``torch not installed`` otherwise).

Compile time (trace + lower + XLA compile of a fresh jit) is reported for every JAX variant.
Ratios are ``optax / variant`` (> 1: the variant is faster), for runtime and compile time.
Per-leaf variants are skipped on trees above ``--max-per-leaf-leaves`` leaves (they did not
compile in 300 s at 10,000 leaves); the 10,000-leaf row checks that ``flatparams`` compiles
in under 60 s and runs. Results go to ``--out-json`` and a Markdown table to ``--out-md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx
from benchmarks import measure, trees

ROOT = Path(__file__).resolve().parents[1]
COMPILE_LIMIT_S = 60.0

OPTIMIZERS = {
    "adam": lambda lib: lib.adam(1e-3),
    "clip_adamw": lambda lib: lib.chain(
        lib.clip_by_global_norm(1.0), lib.adamw(1e-3, weight_decay=1e-4)
    ),
}


def _trees(many: int, ten_thousand: int) -> dict[str, Any]:
    return {
        "one_leaf": trees.one_leaf,
        "transformer": trees.transformer,
        "many_leaves": lambda scale: trees.many_leaves(scale, n_leaves=many),
        "ten_thousand": lambda scale: trees.many_leaves(scale, n_leaves=ten_thousand),
    }


TREES = _trees(2048, 10_000)


def _loss(params: Any, target: jax.Array) -> jax.Array:
    """A cheap loss with an elementwise gradient, so the optimizer dominates the step."""
    return sum(0.5 * jnp.mean(jnp.square(p - target)) for p in jax.tree.leaves(params))


def _standard() -> Any:
    return jax.numpy_dtype_promotion("standard")


def _jax_runner(fn: Any, carry: tuple, fixed: tuple, row: dict, label: str) -> measure.Runner:
    """``fn`` jitted with the carry donated; outputs past the carry (a step's loss) are
    computed, as a training loop that logs them would, and dropped outside ``jit``."""
    jitted = jax.jit(fn, donate_argnums=tuple(range(len(carry))))
    with measure.quiet_donation():
        stats = measure.compile_stats(jitted, (*carry, *fixed))
    row[label] = {
        "compile_s": stats["total_compile_s"],
        "temp_bytes": stats["temp_bytes"],
        "hlo_instructions": stats["hlo_instructions"],
    }
    n = len(carry)
    return measure.Runner(lambda *args: jitted(*args)[:n], carry, fixed)


def _update_runner(tx: Any, params: Any, grads: Any, row: dict, label: str, *, optax_: bool):
    apply = optax.apply_updates if optax_ else optx.apply_updates
    p = measure.copy_tree(params)
    with _standard() if optax_ else contextlib.nullcontext():
        state = tx.init(p)
    fn = measure.update_fn(tx, apply, standard_promotion=optax_)
    return _jax_runner(fn, (p, state), (grads,), row, label)


def _step_runners(name: str, params: Any, row: dict) -> dict[str, measure.Runner]:
    target = jnp.zeros((), jnp.float32)
    runners = {}
    tx = OPTIMIZERS[name](optx)
    fp = optx.FlatParams.from_tree(measure.copy_tree(params))

    def flat_step(fp, state, target):
        loss, grads = jax.value_and_grad(lambda f: _loss(f.tree(), target))(fp)
        updates, state = tx.update(grads, state, fp)
        return optx.apply_updates(fp, updates), state, loss

    runners["flat_step"] = _jax_runner(flat_step, (fp, tx.init(fp)), (target,), row, "flat_step")
    otx = OPTIMIZERS[name](optax)
    p = measure.copy_tree(params)
    with _standard():
        s = otx.init(p)

    def optax_step(p, s, target):
        with _standard():
            loss, grads = jax.value_and_grad(_loss)(p, target)
            updates, s = otx.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

    runners["optax_step"] = _jax_runner(optax_step, (p, s), (target,), row, "optax_step")
    for label, flat in (("train_flat", True), ("train_per_leaf", False)):
        train_step = optx.train.make_train_step(_loss, tx, grad_norm=False)
        state = optx.train.TrainState.create(measure.copy_tree(params), tx, flat=flat)
        with measure.quiet_donation():
            stats = measure.compile_stats(train_step, (state, target))
        row[label] = {"compile_s": stats["total_compile_s"], "temp_bytes": stats["temp_bytes"]}
        fn = lambda s, t, step=train_step: (step(s, t)[0],)  # noqa: E731
        runners[label] = measure.Runner(fn, (state,), (target,))
    return runners


class TorchRunner:
    """``calls`` torch optimizer steps per timing (the gradients stay fixed)."""

    def __init__(self, name: str, params: Any, grads: Any, mode: str):
        import torch  # noqa: PLC0415 - benchmark-only dependency

        self.torch = torch
        self.params = [
            torch.tensor(np.asarray(x)).requires_grad_(True) for x in jax.tree.leaves(params)
        ]
        for p, g in zip(self.params, jax.tree.leaves(grads)):
            p.grad = torch.tensor(np.asarray(g))
        flag = {"fused": True} if mode == "fused" else {"foreach": True}
        if name == "adam":
            self.opt = torch.optim.Adam(self.params, lr=1e-3, **flag)
            self.clip = False
        else:
            self.opt = torch.optim.AdamW(self.params, lr=1e-3, weight_decay=1e-4, **flag)
            self.clip = True
        self.times: list[float] = []

    def __call__(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        with self.torch.no_grad():
            if self.clip:
                self.torch.nn.utils.clip_grad_norm_(self.params, 1.0, foreach=True)
            self.opt.step()
        if record:
            self.times.append(time.perf_counter() - t0)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def bench(tree: str, shapes: dict, name: str, args: argparse.Namespace) -> dict:
    """One row: every variant of optimizer ``name`` on ``shapes``, timed in one alternation."""
    params, grads = trees.build(shapes)
    row: dict[str, Any] = {"tree": tree, "optimizer": name, "leaves": len(shapes)}
    row["params"] = trees.size(params)
    runners: dict[str, Any] = {}
    per_leaf = len(shapes) <= args.max_per_leaf_leaves
    if per_leaf:
        runners["optx"] = _update_runner(
            OPTIMIZERS[name](optx), params, grads, row, "optx", optax_=False
        )
        runners["optax"] = _update_runner(
            OPTIMIZERS[name](optax), params, grads, row, "optax", optax_=True
        )
        runners["optx_flatten"] = _update_runner(
            optx.flatten(OPTIMIZERS[name](optx)), params, grads, row, "optx_flatten", optax_=False
        )
        runners["optax_flatten"] = _update_runner(
            optax.flatten(OPTIMIZERS[name](optax)), params, grads, row, "optax_flatten", optax_=True
        )
    if per_leaf or args.flat_tx_many:
        runners["optx_flat"] = _update_runner(
            optx.flat(OPTIMIZERS[name](optx)), params, grads, row, "optx_flat", optax_=False
        )
    fp = optx.FlatParams.from_tree(params)
    flat_grads = optx.FlatParams.from_tree(grads, layout=fp.layout)
    runners["flatparams"] = _update_runner(
        OPTIMIZERS[name](optx), fp, flat_grads, row, "flatparams", optax_=False
    )
    row["flatparams"]["compiles_under_60s"] = row["flatparams"]["compile_s"] < COMPILE_LIMIT_S
    if per_leaf and not args.no_step:
        runners.update(_step_runners(name, params, row))
    if per_leaf and _torch_available() and not args.no_torch:
        for mode in ("fused", "foreach"):
            runners[f"torch_{mode}"] = TorchRunner(name, params, grads, mode)
            row[f"torch_{mode}"] = {}
    elif per_leaf:
        row["torch"] = "torch not installed" if not _torch_available() else "skipped"
    timing = measure.alternate(runners, args.reps, args.warmup)
    for label, t in timing.items():
        row[label].update(t)
    base, base_compile = "optax", "optax"
    for label in runners:
        if label in ("optax", "optax_step", "flat_step", "train_flat", "train_per_leaf"):
            continue
        if base not in runners:
            continue
        row[label]["ratio_vs_optax"] = row[base]["median_ms"] / row[label]["median_ms"]
        if "compile_s" in row[label]:
            compile_ratio = row[base_compile]["compile_s"] / row[label]["compile_s"]
            row[label]["compile_ratio_vs_optax"] = compile_ratio
    for label in ("flat_step", "train_flat", "train_per_leaf"):
        if label in runners:
            step_ratio = row["optax_step"]["median_ms"] / row[label]["median_ms"]
            row[label]["ratio_vs_optax_step"] = step_ratio
    return row


def markdown(rows: list[dict]) -> str:
    """One table: per row and variant, median ms, ratio to Optax, compile s and ratio."""
    lines = [
        "| tree | optimizer | variant | median ms | Optax / variant | compile s | "
        "Optax compile / variant |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        for label, stats in row.items():
            if not isinstance(stats, dict) or "median_ms" not in stats:
                continue
            ratio = stats.get("ratio_vs_optax", stats.get("ratio_vs_optax_step"))
            compile_ratio = stats.get("compile_ratio_vs_optax")
            lines.append(
                f"| {row['tree']} ({row['leaves']} leaves) | {row['optimizer']} | {label} | "
                f"{stats['median_ms']:.2f} | {'' if ratio is None else f'{ratio:.2f}'} | "
                f"{stats['compile_s']:.2f} | "
                f"{'' if compile_ratio is None else f'{compile_ratio:.2f}'} |"
                if "compile_s" in stats
                else f"| {row['tree']} ({row['leaves']} leaves) | {row['optimizer']} | {label} | "
                f"{stats['median_ms']:.2f} | {'' if ratio is None else f'{ratio:.2f}'} | | |"
            )
        if "torch" in row:
            lines.append(f"| {row['tree']} | {row['optimizer']} | torch | {row['torch']} | | | |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", nargs="+", default=list(TREES), choices=list(TREES))
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS))
    parser.add_argument("--scale", type=float, default=1.0, help="array size factor")
    parser.add_argument("--quick", action="store_true", help="scale 1/16, 7 reps")
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--many", type=int, default=2048, help="leaves of many_leaves")
    parser.add_argument("--ten-thousand", type=int, default=10_000, help="its leaf count")
    parser.add_argument("--max-per-leaf-leaves", type=int, default=4096)
    parser.add_argument("--flat-tx-many", action="store_true", help="optx.flat at 10k leaves")
    parser.add_argument("--no-step", action="store_true", help="skip the train-step rows")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out-json", default=str(ROOT / "benchmarks" / "results" / "flat.json"))
    parser.add_argument("--out-md", default=str(ROOT / "benchmarks" / "results" / "flat.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.reps = min(args.scale, 1 / 16), min(args.reps, 7)
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    rows = []
    for tree in args.trees:
        shapes = _trees(args.many, args.ten_thousand)[tree](args.scale)
        for name in args.optimizers:
            row = bench(tree, shapes, name, args)
            rows.append(row)
            print(markdown([row]), flush=True)
    meta = {"jax": jax.__version__, "devices": str(jax.devices()), "scale": args.scale}
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    Path(args.out_md).write_text(markdown(rows))
    return rows


if __name__ == "__main__":
    main()

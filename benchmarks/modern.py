"""The modern optimizers (issue 19) against Adam: compile time, time per update, state size.

Reproduce (from the repository root)::

    python -m benchmarks.modern            # the transformer-like tree at 1/16 size
    python -m benchmarks.modern --scale 1  # full size (~17M params)

On the transformer-like tree of `benchmarks.trees` (~200 leaves of mixed shapes), each
optimizer's update ``(params, state, grads) -> (params + updates, state)`` is jitted with
params and state donated, compiled from a fresh function (trace + lower + XLA compile) and
timed alternately with optx's Adam in one process. Every optimizer is timed over
``FREQUENCY`` consecutive updates, so one whose preconditioner (or Hessian estimate) is
refreshed every ``precondition_frequency`` (``update_interval``) steps is reported as the
average per update, one refresh included. A throwaway compile runs first, so the first
contender's compile time does not include JAX's one-time start-up.

The optimizers whose update needs the loss get the quadratic ``loss(p) = sum(p * g +
p**2 / 2)`` of the fixed gradients ``g``: `sophia` its Hessian-vector products
(``obj_fn``), `lbfgs` its line search (``value``, ``grad``, ``value_fn``) and `sam` (opaque
mode, the paper's SAM) the gradient at its adversarial point (``grad_fn``). Their time
includes those loss evaluations, which a training step pays for as well. Results go to
``benchmarks/results/modern.json`` and the table in BENCHMARKS.md's "Modern optimizers"
section (printed; paste it in).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp

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
    "schedule_free_sgd": lambda: optx.schedule_free_sgd(1.0),
    "sophia": lambda: optx.sophia(1e-3, update_interval=FREQUENCY),
    "lbfgs": lambda: optx.lbfgs(),
    "sam": lambda: optx.sam(
        optx.sgd(1e-3),
        optx.chain(optx.normalize_by_global_norm(), optx.sgd(0.05)),
        opaque_mode=True,
    ),
}

# What each optimizer's update needs besides (grads, state, params), built from the loss.
NEEDS_LOSS = {
    "sophia": lambda loss: {"obj_fn": loss},
    "lbfgs": lambda loss: {"value_fn": loss},
    "sam": lambda loss: {"grad_fn": lambda p, i: jax.grad(loss)(p)},
}


def quadratic_loss(grads):
    """``loss(p) = sum(p * g + p**2 / 2)``: its gradient at ``p = 0`` is ``grads``."""

    def loss(params):
        terms = jax.tree.map(lambda p, g: jnp.sum(p * g + 0.5 * p * p), params, grads)
        return sum(jax.tree.leaves(terms))

    return loss


def loss_update_fn(tx, extra, loss):
    """``f(params, state, grads)`` for an update that evaluates the loss (`NEEDS_LOSS`)."""

    def f(params, state, grads):
        kwargs = extra(loss)
        if "value_fn" in kwargs:
            value, grads = jax.value_and_grad(loss)(params)
            kwargs.update(value=value, grad=grads)
        updates, state = tx.update(grads, state, params, **kwargs)
        return optx.apply_updates(params, updates), state

    return f


def bench(name: str, make, params, grads, reps: int) -> dict:
    tx = make()
    state = tx.init(measure.copy_tree(params))
    if name in NEEDS_LOSS:
        f = loss_update_fn(tx, NEEDS_LOSS[name], quadratic_loss(grads))
    else:
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
    bench("adam", CONTENDERS["adam"], params, grads, args.reps)  # warm-up, discarded
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

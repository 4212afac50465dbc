"""What `optx._xla_cpu` buys on XLA:CPU: kernels and compile time with its tuning on and off.

For each optimizer and tree, one update ``(params, state, grads) -> (params, state)`` is
lowered from shapes alone (no arrays are allocated) and compiled with `optx._xla_cpu`'s
`pack_scalars` on and off.
Reported per case: the fusions in the compiled HLO, the distinct kernels among them
(`benchmarks.measure.distinct_kernels`: XLA:CPU compiles identical kernels once) and the HLO
instructions, all deterministic and unaffected by load, and the compile time (the minimum
over ``--reps`` compiles; on a shared machine take it as indicative only).

    python -m benchmarks.kernel_tuning                 # adam, adamw, sgd_momentum; 3 trees
    python -m benchmarks.kernel_tuning --reps 1 --trees one_leaf transformer
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

import optx
from benchmarks import measure, trees
from optx import _xla_cpu

OPTIMIZERS = {
    "adam": lambda: optx.adam(1e-3),
    "adamw": lambda: optx.adamw(1e-3, weight_decay=1e-4),
    "sgd_momentum": lambda: optx.sgd(1e-2, momentum=0.9),
}
_FUSION = re.compile(r"^\s+(?:ROOT )?%\S+ = \S+ fusion\(", re.MULTILINE)


CONFIGS = {"on": {"pack_scalars": True}, "off": {"pack_scalars": False}}


@contextlib.contextmanager
def tuning(enabled: dict[str, bool]) -> Iterator[None]:
    """Runs the block with `optx._xla_cpu`'s tuning set as given (traces inside it see it)."""
    before = dict(_xla_cpu._ENABLED)
    _xla_cpu._ENABLED.update(enabled)
    try:
        yield
    finally:
        _xla_cpu._ENABLED.update(before)


def _compile(name: str, tree: str, config: str) -> tuple[Any, float]:
    shapes = trees.TREES[tree](1.0)
    params = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
    tx = OPTIMIZERS[name]()
    state = jax.eval_shape(tx.init, params)
    f = measure.update_fn(tx, optx.apply_updates, standard_promotion=False)
    with tuning(CONFIGS[config]):
        t0 = time.perf_counter()
        compiled = jax.jit(f).lower(params, state, params).compile()
        return compiled, time.perf_counter() - t0


def measure_case(name: str, tree: str, reps: int, configs: list[str]) -> dict[str, dict]:
    """Fusions, distinct kernels, HLO instructions and compile time per configuration.

    The compiles alternate between the configurations (the order rotates every
    repetition), and the compile time is the minimum over ``reps`` compiles of each.
    """
    best = dict.fromkeys(configs, float("inf"))
    hlo = {}
    for rep in range(reps):
        for config in configs[rep % len(configs) :] + configs[: rep % len(configs)]:
            compiled, seconds = _compile(name, tree, config)
            best[config] = min(best[config], seconds)
            hlo[config] = compiled.as_text() or ""
    return {
        config: {
            "fusions": len(_FUSION.findall(hlo[config])),
            "kernels": measure.distinct_kernels(hlo[config]),
            "instructions": len(measure._INSTRUCTION.findall(hlo[config])),
            "compile_s": best[config],
        }
        for config in configs
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS))
    parser.add_argument("--trees", nargs="+", default=["one_leaf", "transformer", "many_leaves"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    print("| tree | optimizer | tuning | fusions | kernels | HLO instructions | compile s |")
    print("|---|---|---|---|---|---|---|")
    for tree in args.trees:
        for name in args.optimizers:
            for config, r in measure_case(name, tree, args.reps, args.configs).items():
                print(
                    f"| {tree} | {name} | {config} | {r['fusions']} | {r['kernels']} | "
                    f"{r['instructions']} | {r['compile_s']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""The optimizers benchmarked, each as a pair (optx factory, Optax factory) with equal settings.

An optimizer whose optx name does not exist yet is skipped by the runner with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp


class Pair(NamedTuple):
    """How to build one optimizer in both libraries (factories take the modules)."""

    optx: Callable[[Any], Any]
    optax: Callable[[Any], Any]
    needs: tuple[str, ...]  # optx names that must exist
    note: str = ""
    optx_baseline: Callable[[Any], Any] | None = None  # timed in the same alternation


def _clip_adamw(lib: Any) -> Any:
    return lib.chain(lib.clip_by_global_norm(1.0), lib.adamw(1e-3, weight_decay=1e-4))


PAIRS: dict[str, Pair] = {
    "sgd_momentum": Pair(
        lambda x: x.sgd(1e-2, momentum=0.9),
        lambda o: o.sgd(1e-2, momentum=0.9),
        ("sgd",),
    ),
    "adam": Pair(lambda x: x.adam(1e-3), lambda o: o.adam(1e-3), ("adam",)),
    "adamw": Pair(
        lambda x: x.adamw(1e-3, weight_decay=1e-4),
        lambda o: o.adamw(1e-3, weight_decay=1e-4),
        ("adamw",),
    ),
    "clip_adamw": Pair(
        _clip_adamw,
        _clip_adamw,
        ("chain", "clip_by_global_norm", "adamw"),
        "clip_by_global_norm(1.0) then adamw",
    ),
    "lion": Pair(
        lambda x: x.lion(1e-4, weight_decay=1e-3),
        lambda o: o.lion(1e-4, weight_decay=1e-3),
        ("lion",),
    ),
    "adafactor": Pair(
        lambda x: x.adafactor(1e-2),
        lambda o: o.adafactor(1e-2),
        ("adafactor",),
        "factored second moment, block-RMS clip, parameter scale",
    ),
    "lamb": Pair(
        lambda x: x.lamb(1e-3, weight_decay=1e-2),
        lambda o: o.lamb(1e-3, weight_decay=1e-2),
        ("lamb",),
    ),
    "adam_bf16": Pair(
        lambda x: x.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16),
        lambda o: o.adam(1e-3, mu_dtype=jnp.bfloat16),
        ("adam",),
        "optx: both moments bf16; Optax: mu bf16 only (it has no nu_dtype); optx float32 "
        "Adam timed in the same alternation for the bf16-vs-f32 check",
        optx_baseline=lambda x: x.adam(1e-3),
    ),
}

DEFAULT = tuple(PAIRS)


def available(name: str, optx_module: Any) -> tuple[bool, str]:
    """(True, "") when optx has every name ``name`` needs, else (False, reason)."""
    missing = [n for n in PAIRS[name].needs if not hasattr(optx_module, n)]
    if missing:
        return False, f"optx has no {', '.join(missing)} yet"
    return True, ""

"""Parameter trees the benchmarks run on: one big leaf, a transformer-like tree, many small leaves.

Each builder takes a ``scale`` in (0, 1] that shrinks the arrays; ``--quick`` also uses fewer
leaves (`QUICK`), since compile time grows with the leaf count. Values come from a seeded
NumPy generator; gradients are a fixed small multiple of noise so every step does the same
work.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def one_leaf(scale: float = 1.0) -> dict[str, tuple[int, ...]]:
    """One vector of 2**24 parameters (times ``scale``)."""
    return {"w": (max(int(2**24 * scale), 1024),)}


def transformer(scale: float = 1.0, blocks: int = 16) -> dict[str, tuple[int, ...]]:
    """A transformer-like tree: 16 blocks of 12 leaves plus embeddings, ~200 leaves, ~17M params.

    Mixed shapes as in a real model: (d, 3d) attention projections, (d, 4d) MLPs, (d,) biases
    and norm scales, a (vocab, d) embedding.
    """
    d = max(int(256 * scale**0.5) // 8 * 8, 8)
    vocab = max(int(16384 * scale**0.5) // 8 * 8, 8)
    shapes: dict[str, tuple[int, ...]] = {"embed": (vocab, d), "pos_embed": (512, d)}
    for i in range(blocks):
        b = f"block{i:02d}"
        shapes.update(
            {
                f"{b}.ln1.scale": (d,),
                f"{b}.ln1.bias": (d,),
                f"{b}.attn.qkv.w": (d, 3 * d),
                f"{b}.attn.qkv.b": (3 * d,),
                f"{b}.attn.out.w": (d, d),
                f"{b}.attn.out.b": (d,),
                f"{b}.ln2.scale": (d,),
                f"{b}.ln2.bias": (d,),
                f"{b}.mlp.in.w": (d, 4 * d),
                f"{b}.mlp.in.b": (4 * d,),
                f"{b}.mlp.out.w": (4 * d, d),
                f"{b}.mlp.out.b": (d,),
            }
        )
    shapes.update({"final_ln.scale": (d,), "final_ln.bias": (d,)})
    return shapes


def many_leaves(scale: float = 1.0, n_leaves: int = 2048) -> dict[str, tuple[int, ...]]:
    """2048 small leaves of mixed shapes, 2**24 parameters in all (times ``scale``)."""
    per_leaf = max(int(2**24 * scale) // n_leaves, 64)
    shapes = {}
    for i in range(n_leaves):
        kind = i % 3
        if kind == 0:
            shape: tuple[int, ...] = (per_leaf,)
        elif kind == 1:
            shape = (per_leaf // 64, 64)
        else:
            shape = (per_leaf // 256, 16, 16) if per_leaf >= 256 else (per_leaf // 16, 16)
        shapes[f"leaf{i:04d}"] = shape
    return shapes


TREES: dict[str, Callable[[float], dict[str, tuple[int, ...]]]] = {
    "one_leaf": one_leaf,
    "transformer": transformer,
    "many_leaves": many_leaves,
}

QUICK: dict[str, Callable[[float], dict[str, tuple[int, ...]]]] = {
    "one_leaf": one_leaf,
    "transformer": lambda scale: transformer(scale, blocks=4),
    "many_leaves": lambda scale: many_leaves(scale, n_leaves=256),
}
"""``--quick``: fewer leaves (compile time grows with them), so the run takes minutes."""


def tiny(scale: float = 1.0) -> dict[str, tuple[int, ...]]:
    """A tree of three small leaves, for the smoke test."""
    del scale
    return {"a": (8, 4), "b": (16,), "c": (2, 3, 4)}


def build(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> tuple[dict, dict]:
    """(params, grads) as float32 arrays of the given shapes."""
    rng = np.random.default_rng(seed)
    params = {
        k: jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.02) for k, s in shapes.items()
    }
    grads = {
        k: jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 1e-3) for k, s in shapes.items()
    }
    return params, grads


def size(tree) -> int:
    """Number of elements over all leaves."""
    return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(tree)))


def nbytes(tree) -> int:
    """Bytes over all array leaves."""
    return int(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree) if hasattr(x, "dtype")))

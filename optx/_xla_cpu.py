"""XLA:CPU compile-time tuning, kept out of the algorithms: the one place it lives.

Two measures, both value-preserving (the arithmetic is unchanged, only how XLA sees it):

- `pack_scalars` reads an update's runtime scalars (hyperparameters held in the state,
  bias corrections) back from one vector, so that XLA:CPU compiles one kernel for all
  same-shaped leaves and gathers the scalar prologue into one kernel;
- `scalars_vector` builds such a vector as ``sum(x_i * e_i)``, which fuses where a
  concatenate of runtime scalars is a kernel of its own.

`benchmarks/kernel_tuning.py` measures both (compile time and kernel count with and without
them); on GPU and TPU the same HLO compiles to the same fused kernels either way, so they
neither help nor hurt there.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_LEAVES_PER_SHAPE_TO_PACK = 64  # see pack_scalars
_FEW_LEAVES_TO_PACK = 16
# benchmarks/kernel_tuning.py turns these off to measure what each measure buys.
_ENABLED = {"pack_scalars": True, "scalars_vector": True}


def scalars_vector(scalars: Any) -> jax.Array:
    """The float32 scalars as one vector, written as ``sum(x_i * e_i)`` instead of a stack.

    Same values (every ``x_i`` is multiplied by exact ones and zeros), but elementwise
    arithmetic fuses into the kernel that reads the vector, where XLA:CPU compiles a
    concatenate of runtime scalars as a kernel of its own.
    """
    dtype = jnp.result_type(*scalars) if scalars else jnp.float32
    scalars = [jnp.asarray(x, dtype) for x in scalars]
    if not _ENABLED["scalars_vector"]:
        return jnp.stack(scalars)
    basis = np.eye(len(scalars), dtype=dtype)
    return sum(x * basis[i] for i, x in enumerate(scalars))


def pack_scalars(tree: Any, *scalars: Any) -> tuple[jax.Array, ...]:
    """The float32 ``scalars``, read back from one vector where that compiles fewer kernels.

    A compile-time measure, the values are unchanged. XLA:CPU compiles one kernel for all
    leaves of one shape only if their kernels take their operands in the same order, and
    with several runtime scalars (hyperparameters held in the state) it orders the first
    leaf's operands differently, one extra kernel per leaf shape: on a transformer-like
    tree Adam then compiles ~40% more kernels than with constants. Read from one vector
    the scalars are one operand and the order holds. The vector passes through an
    identity XLA does not fold (``reduce_precision`` to float32's own precision), else
    it would read each slice back to its source.

    On a small tree the vector also gathers the scalar arithmetic of the update's prologue
    (bias corrections, square roots, quotients) into one kernel, where XLA would compile
    each expensive scalar operation as a kernel of its own: one-leaf Adam compiles six
    kernels instead of eight (Optax: six).

    Reading a slice costs two instructions per scalar and kernel where a scalar operand
    costs one, and XLA copies the ``reduce_precision`` into every kernel that reads the
    vector, so the vector is used only where kernels outweigh instructions: on trees of
    at most `_FEW_LEAVES_TO_PACK` leaves, and where some shape repeats with at most
    `_LEAVES_PER_SHAPE_TO_PACK` leaves per shape (a transformer's ~14, not 2048 leaves of
    3 shapes, where it measured 3% slower).
    """
    dtype = jnp.result_type(*scalars)
    values = tuple(jnp.asarray(x, dtype) for x in scalars)
    if not _ENABLED["pack_scalars"]:
        return values
    shapes = [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]
    distinct = len(set(shapes))
    repeated = distinct < len(shapes) <= _LEAVES_PER_SHAPE_TO_PACK * distinct
    if not (repeated or len(shapes) <= _FEW_LEAVES_TO_PACK):
        return values
    finfo = jnp.finfo(dtype)
    vector = jax.lax.reduce_precision(jnp.stack(values, axis=-1), finfo.nexp, finfo.nmant)
    return tuple(vector[..., i] for i in range(len(values)))


def inverse_bias_corrections(resolved: Any, names: tuple[str, ...]) -> list[jax.Array]:
    """``1 / resolved.bias_correction(name)`` for each decay named, on one vector.

    The same values, computed on one `scalars_vector` so XLA:CPU emits one kernel for all
    the bias corrections instead of one per decay.
    """
    from optx._hyperparams import one_minus_power  # noqa: PLC0415 - _hyperparams imports _tree

    complements = [resolved.complement(name) for name in names]
    if not _ENABLED["scalars_vector"]:
        return [1 / one_minus_power(c, resolved.count) for c in complements]
    return list(1 / one_minus_power(scalars_vector(complements), resolved.count))

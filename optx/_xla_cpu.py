"""XLA:CPU compile-time tuning, kept out of the algorithms: the one place it lives.

`pack_scalars` reads an update's runtime scalars (hyperparameters held in the state, bias
corrections) back from one vector, so that XLA:CPU compiles one kernel for all same-shaped
leaves and gathers the scalar prologue into one kernel. It is value-preserving: the
arithmetic is unchanged, only how XLA sees it.

`benchmarks/kernel_tuning.py` measures it (kernels, HLO instructions and compile time with
and without; the numbers are in benchmarks/README.md). On GPU and TPU the same HLO compiles
to the same fused kernels either way, so it neither helps nor hurts there.

`after` orders two computations by a data dependency (an exact zero), where XLA would
otherwise copy a buffer or run them together: the train step uses it so that a donated
param is overwritten only after the metrics have read it, batched ``eigh`` calls so that
two never run at once. It costs one scalar operand per array; on GPU and TPU it changes
nothing else.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

_LEAVES_PER_SHAPE_TO_PACK = 64  # see pack_scalars
_FEW_LEAVES_TO_PACK = 16
_ENABLED = {"pack_scalars": True}  # benchmarks/kernel_tuning.py turns it off to measure it


def after(x: Any, previous: Any) -> Any:
    """``x`` (a tree) plus an exact zero computed from every leaf of ``previous``.

    Every array of ``x`` then depends on all of ``previous``, so XLA computes ``previous``
    first. `jax.lax.optimization_barrier` does not do that on XLA:CPU (it is expanded away
    before the thunks are scheduled, and copy insertion does not see it); a data dependency
    does. Two uses, both in `benchmarks/README.md`:

    - the train step's final write of a donated param waits for the metrics that read the
      param (the loss, the gradient norm, aux values): without the dependency XLA cannot
      prove the order and copies the whole param first (one param-sized copy per step);
    - batched ``eigh`` calls run one after the other: jaxlib's kernel blocks XLA's
      intra-op thread pool, and two of them started together deadlock on 2 threads.

    The zero is exact for any value of ``previous`` (NaN and infinities included), and XLA
    does not fold it. Leaves of ``x`` that are not inexact arrays are returned unchanged.
    """
    firsts = [jnp.ravel(jnp.asarray(a))[0] for a in jax.tree.leaves(previous) if jnp.size(a)]
    if not firsts:
        return x
    bounded = [jnp.clip(jnp.nan_to_num(jnp.real(f).astype(jnp.float32)), -1, 1) for f in firsts]
    zero = jnp.sum(jnp.stack(bounded)) * 0

    def one(a):
        if not (isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.inexact)):
            return a
        return a + zero.astype(a.dtype)

    return jax.tree.map(one, x)


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

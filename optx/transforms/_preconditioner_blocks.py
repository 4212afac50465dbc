"""Private helpers of the Kronecker-factored preconditioners (Shampoo, SOAP).

Blocking (a leaf cut into equal padded blocks stacked on a leading axis, so per-block work
is one batched op), one batched call for the same-shaped stacks of all leaves, dimension
merging, per-axis statistics and rotations of a stack of blocks, inverse matrix roots (eigh
or coupled Newton), and the placement of the factors: replicated on the params' mesh (each
device needs whole factors for the roots).
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx import _tree, _xla_cpu

_LETTERS = string.ascii_letters


# -- placement ---------------------------------------------------------------------------


def _named(x: Any) -> Any:
    sharding = getattr(jax.typeof(x), "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding) and sharding.mesh.axis_names:
        return sharding
    return None


def replicated(x: jax.Array) -> jax.Array:
    """``x`` constrained to be replicated on its mesh (resharded under Explicit axes)."""
    sharding = _named(x)
    if sharding is None:
        return x
    target = jax.sharding.NamedSharding(sharding.mesh, jax.P())
    if any(t == jax.sharding.AxisType.Explicit for t in sharding.mesh.axis_types):
        return jax.sharding.reshard(x, target)
    return jax.lax.with_sharding_constraint(x, target)


def gathered(x: jax.Array) -> jax.Array:
    """``x`` resharded to replicated when its type carries Explicit axes, else as is.

    Explicit axes refuse contractions over a sharded axis; under Auto axes propagation
    places the operands.
    """
    sharding = _named(x)
    if sharding is None or not any(
        t == jax.sharding.AxisType.Explicit for t in sharding.mesh.axis_types
    ):
        return x
    return jax.sharding.reshard(x, jax.sharding.NamedSharding(sharding.mesh, jax.P()))


def placed_like(x: jax.Array, ref: jax.Array) -> jax.Array:
    """``x`` resharded to ``ref``'s sharding when ``ref``'s type carries Explicit axes.

    Under Auto axes the sharding of an update is left to propagation (the tracer's type
    does not know it).
    """
    sharding = _named(ref)
    if sharding is None or not any(
        t == jax.sharding.AxisType.Explicit for t in sharding.mesh.axis_types
    ):
        return x
    return jax.sharding.reshard(x, sharding)


def replicated_zeros(param: Any, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Zeros of ``shape`` replicated on ``param``'s mesh (or placed as ``param`` is)."""
    return replicated(jnp.broadcast_to(_tree.zeros_reduced(param, (), dtype), shape))


def replicated_eyes(param: Any, batch: int, n: int, dtype: Any) -> jax.Array:
    """``batch`` identity matrices of size ``n``, replicated like `replicated_zeros`."""
    return replicated_zeros(param, (batch, n, n), dtype) + jnp.eye(n, dtype=dtype)[None]


# -- one batched call per shape ------------------------------------------------------------


def batched_by_shape(
    fn: Callable[..., Any],
    operands: Sequence[tuple[jax.Array, ...]],
    tags: Sequence[Hashable] | None = None,
    *,
    serial: bool = False,
) -> list[Any]:
    """``fn(tag, *operands[i])`` for every ``i``, one call per distinct shape and tag.

    Each ``operands[i]`` is a tuple of stacks sharing a leading axis (blocks, batch
    slices, or a single matrix as a stack of one); ``fn`` maps stacks to a pytree of
    stacks with the same leading axis, acting on each slice on its own (a vmapped eigh,
    inverse root or Newton-Schulz iteration). Entries whose stacks have the same trailing
    shapes and dtypes and the same tag are concatenated on the leading axis, ``fn`` runs
    once on them and its outputs are split back, so a tree with many same-shaped layers
    compiles one call per shape instead of one per leaf. ``tags`` (default all None)
    separate entries that need different ``fn`` settings (e.g. a root's exponent).

    ``serial`` makes each call's operands wait for the previous call's results
    (``optx._xla_cpu.after``), so no two calls run at the same time. A batched ``eigh``
    needs it on CPU: jaxlib's kernel splits its batch over XLA's intra-op thread pool and
    blocks until that work is done, and two of them started together on the pool's threads
    wait for each other for ever (with 2 threads, a Shampoo refresh of a transformer-like
    tree hung; tests/test_modern_shampoo.py runs one).
    """
    tags = [None] * len(operands) if tags is None else list(tags)
    groups: dict[Hashable, list[int]] = {}
    for i, (ops, tag) in enumerate(zip(operands, tags)):
        key = (tuple((a.shape[1:], jnp.dtype(a.dtype)) for a in ops), tag)
        groups.setdefault(key, []).append(i)
    out: list[Any] = [None] * len(operands)
    previous: Any = None
    for members in groups.values():
        width = len(operands[members[0]])
        stacked = [jnp.concatenate([operands[i][j] for i in members]) for j in range(width)]
        if serial and previous is not None:
            stacked = [_xla_cpu.after(a, previous) for a in stacked]
        result = previous = fn(tags[members[0]], *stacked)
        if len(members) == 1:
            out[members[0]] = result
            continue
        offsets = np.cumsum([operands[i][0].shape[0] for i in members])[:-1]
        pieces = jax.tree.map(lambda r: jnp.split(r, offsets), result)
        for k, i in enumerate(members):
            out[i] = jax.tree.map(lambda parts: parts[k], pieces, is_leaf=_is_list)
    return out


def _is_list(x: Any) -> bool:
    return isinstance(x, list)


# -- shapes ------------------------------------------------------------------------------


def block_layout(
    shape: tuple[int, ...], block_size: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per axis, the block length ``min(block_size, n)`` and the number of blocks."""
    block = tuple(min(block_size, n) for n in shape)
    counts = tuple(-(-n // b) for n, b in zip(shape, block))
    return block, counts


def to_blocks(x: jax.Array, block: tuple[int, ...], counts: tuple[int, ...]) -> jax.Array:
    """``x`` zero-padded to whole blocks and cut into a stack ``(num_blocks, *block)``."""
    k = x.ndim
    pad = [(0, c * b - n) for n, b, c in zip(x.shape, block, counts)]
    if any(p for _, p in pad):
        x = jnp.pad(x, pad)
    x = x.reshape(tuple(d for cb in zip(counts, block) for d in cb))
    x = x.transpose(tuple(range(0, 2 * k, 2)) + tuple(range(1, 2 * k, 2)))
    return x.reshape((math.prod(counts), *block))


def from_blocks(
    x: jax.Array, shape: tuple[int, ...], block: tuple[int, ...], counts: tuple[int, ...]
) -> jax.Array:
    """The inverse of `to_blocks`: the stack reassembled and the padding cut off."""
    k = len(shape)
    x = x.reshape((*counts, *block))
    x = x.transpose(tuple(i for a in range(k) for i in (a, k + a)))
    x = x.reshape(tuple(c * b for c, b in zip(counts, block)))
    if any(c * b != n for n, b, c in zip(shape, block, counts)):
        x = x[tuple(slice(0, n) for n in shape)]
    return x


def merged_shape(shape: tuple[int, ...], max_dim: int) -> tuple[int, ...]:
    """Adjacent axes merged left to right while their product stays <= ``max_dim``.

    ``(2, 3, 4)`` with ``max_dim=8`` gives ``(6, 4)``; an axis longer than ``max_dim`` is
    kept alone. A rank-0 shape stays ``()``.
    """
    out: list[int] = []
    for n in shape:
        if out and out[-1] * n <= max_dim:
            out[-1] *= n
        else:
            out.append(n)
    return tuple(out)


# -- per-axis statistics and rotations of a stack (leading axis = blocks) ------------------


def axis_statistic(x: jax.Array, axis: int) -> jax.Array:
    """``sum over all other axes of x x`` per block: ``(B, n_axis, n_axis)``, e.g. G G^T."""
    k = x.ndim - 1
    idx = _LETTERS[:k]
    other = idx.replace(idx[axis], "Z")
    spec = f"Y{idx},Y{other}->Y{idx[axis]}Z"
    return jnp.einsum(spec, x, x, precision=jax.lax.Precision.HIGHEST)


def along_axis(x: jax.Array, matrices: jax.Array, axis: int, *, transpose: bool) -> jax.Array:
    """``M @ x`` along ``axis`` per block (``M^T @ x`` with ``transpose``), M ``(B, n, n)``."""
    k = x.ndim - 1
    idx = _LETTERS[:k]
    out = idx.replace(idx[axis], "Z")
    m = f"Y{idx[axis]}Z" if transpose else f"YZ{idx[axis]}"
    return jnp.einsum(f"{m},Y{idx}->Y{out}", matrices, x, precision=jax.lax.Precision.HIGHEST)


# -- inverse roots -----------------------------------------------------------------------


def inverse_root_eigh(s: jax.Array, p: int, eps: jax.Array) -> jax.Array:
    """``(S + eps * lambda_max I)^(-1/p)`` of one PSD matrix by eigh; I where S = 0.

    Eigenvalues are clamped at 0 first (rounding makes a PSD matrix's smallest ones
    slightly negative).
    """
    w, v = jnp.linalg.eigh(s)
    w = jnp.maximum(w, 0.0)
    top = jnp.max(w)
    scaled = jnp.where(top > 0, w + eps.astype(w.dtype) * top, 1.0) ** (-1.0 / p)
    return (v * scaled[None, :]) @ v.T


def _top_eigenvalue(s: jax.Array, steps: int = 32) -> jax.Array:
    n = s.shape[-1]
    v = 1.0 + jnp.arange(n, dtype=s.dtype) / n  # not orthogonal to a PSD top eigenvector

    def body(_, v):
        w = s @ v
        return w / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(s.dtype).tiny)

    v = jax.lax.fori_loop(0, steps, body, v / jnp.linalg.norm(v))
    return v @ (s @ v)


def inverse_root_newton(s: jax.Array, p: int, eps: jax.Array, max_steps: int = 100) -> jax.Array:
    """``(S + eps * lambda I)^(-1/p)`` by the coupled Newton iteration; I where S = 0.

    ``lambda`` is the largest eigenvalue estimated by 32 power-iteration steps. The
    iteration (Guo and Higham, 2006; Anil et al., 2020, Algorithm 3) scales the matrix so
    its spectrum lies in (0, (p + 1) / 2], then runs ``M <- X^p M``, ``H <- H X`` with
    ``X = (1 + 1/p) I - M / p`` until ``max|M - I|`` stops falling or is below a tolerance
    (``1e-6`` in float32, ``1e-12`` in float64), at most ``max_steps`` times.
    """
    n = s.shape[-1]
    dtype = s.dtype
    eye = jnp.eye(n, dtype=dtype)
    top = jnp.maximum(_top_eigenvalue(s), 0.0)
    safe_top = jnp.where(top > 0, top, 1.0)
    a = jnp.where(top > 0, s, eye) + (eps.astype(dtype) * safe_top) * eye
    z = (1.0 + p) / (2.0 * safe_top * (1.0 + eps.astype(dtype)))
    tol = 1e-12 if dtype == jnp.float64 else 1e-6

    def error(m):
        return jnp.max(jnp.abs(m - eye))

    def cond(carry):
        i, _, _, err, improved = carry
        return (i < max_steps) & (err > tol) & improved

    def body(carry):
        i, m, h, err, _ = carry
        x = (1.0 + 1.0 / p) * eye - m / p
        m_new = jnp.linalg.matrix_power(x, p) @ m
        h_new = h @ x
        err_new = error(m_new)
        better = err_new < err
        m = jnp.where(better, m_new, m)
        h = jnp.where(better, h_new, h)
        return i + 1, m, h, jnp.where(better, err_new, err), better

    m0 = z * a
    h0 = z ** (1.0 / p) * eye
    carry = (jnp.int32(0), m0, h0, error(m0), jnp.bool_(True))
    h = jax.lax.while_loop(cond, body, carry)[2]
    return jnp.where(top > 0, h, eye)


def wide_of(param: Any) -> Any:
    """The statistics' dtype: float32 for bf16/f16/f32 params, float64 for float64."""
    return _tree.wide_dtype(jnp.result_type(param))

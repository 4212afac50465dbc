"""Private pytree maths shared by the transforms: counters, moments, norms, structure checks."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

INT32_MAX = jnp.iinfo(jnp.int32).max


def wide_dtype(dtype: Any) -> Any:
    """The dtype arithmetic runs in: float32 for narrower floats (bf16, f16), else ``dtype``.

    Written out because ``jnp.promote_types`` refuses bf16/f32 under strict promotion.
    """
    dtype = jnp.dtype(getattr(dtype, "dtype", dtype))
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:
        return jnp.dtype(jnp.float32)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return jnp.dtype(jnp.float32)
    return dtype


def scalar_dtype(tree: Any) -> Any:
    """The dtype of the per-update scalars (hyperparameters, norms, bias corrections).

    float64 when any leaf of ``tree`` is float64 or complex128 (x64 users get float64
    precision), else float32: never narrower than float32 (bf16 and f16 params keep float32
    hyperparameters). ``tree`` may be ``None`` (float32).
    """
    for leaf in jax.tree.leaves(tree):
        if jnp.result_type(leaf) in (jnp.float64, jnp.complex128):
            return jnp.dtype(jnp.float64)
    return jnp.dtype(jnp.float32)


def real_dtype(dtype: Any) -> Any:
    """The real dtype of a (possibly complex) dtype: float32 for complex64, etc."""
    dtype = jnp.dtype(getattr(dtype, "dtype", dtype))
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.finfo(dtype).dtype
    return dtype


def replicated_sharding(tree: Any) -> Any:
    """Where a scalar of the state of ``tree`` goes: replicated on the params' placement.

    The first concrete array leaf decides: a `NamedSharding` gives the same mesh with an
    empty partition spec (replicated, with the mesh's axis types); a committed single-device
    array gives its device. Uncommitted arrays, tracers (``init`` under ``jit``) and
    other shardings (``pmap``'s) give ``None``: the scalar is created where ``jnp.zeros``
    puts it, as the params were.
    """
    for leaf in jax.tree.leaves(tree):
        if not isinstance(leaf, jax.Array) or isinstance(leaf, jax.core.Tracer):
            continue
        sharding = leaf.sharding
        if isinstance(sharding, jax.sharding.NamedSharding):
            return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
        if isinstance(sharding, jax.sharding.SingleDeviceSharding) and leaf.committed:
            return sharding
        return None
    return None


def place(value: Any, sharding: Any) -> Any:
    """``value`` put on ``sharding`` (from `replicated_sharding`), or as it is for ``None``."""
    if sharding is None:
        return value
    return jax.device_put(value, sharding)


def zero_count(params: Any = None) -> jax.Array:
    """An int32 update counter set to zero, replicated where the params are."""
    return place(jnp.zeros([], jnp.int32), replicated_sharding(params))


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that saturates at the int32 maximum instead of wrapping to negative.

    Written as ``min(count, max - 1) + 1``: two scalar operations where a select takes
    three, which XLA compiles a little faster (every transform increments a counter).
    """
    count = jnp.asarray(count).astype(jnp.int32)
    return jax.lax.min(count, jnp.int32(INT32_MAX - 1)) + jnp.int32(1)


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros shaped and placed like ``tree`` (same sharding), in ``dtype`` or each leaf's."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype or jnp.result_type(x)), tree)


def moments_like(params: Any, dtype: Any = None, *, real: bool = False) -> Any:
    """Zero moments shaped and placed like ``params`` (same sharding), for an optimizer state.

    Args:
      params: the params (or gradients) the moments shadow.
      dtype: the moments' dtype; by default each leaf's, but at least float32 (a bf16 or
        f16 param gets float32 moments). For a complex leaf a real ``dtype`` is read as the
        complex dtype of that precision (float32 -> complex64), so a first moment (of ``g``
        itself) keeps the imaginary part.
      real: moments of a real quantity (``|g|**2``): a complex leaf (or complex ``dtype``)
        gets its real dtype, float32 for complex64, half the memory of a complex buffer.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> optx.moments_like({"w": jnp.ones(2, jnp.bfloat16)})["w"].dtype
      dtype('float32')
    """

    def one(p):
        wide = wide_dtype(jnp.result_type(p)) if dtype is None else jnp.dtype(dtype)
        if real:
            wide = real_dtype(wide)
        elif jnp.iscomplexobj(p) and not jnp.issubdtype(wide, jnp.complexfloating):
            wide = jnp.dtype(jnp.complex128 if wide == jnp.float64 else jnp.complex64)
        return jnp.zeros_like(p, dtype=wide)

    return jax.tree.map(one, params)


def zeros_reduced(param: Any, kept_axes: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """Zeros shaped like ``param`` along ``kept_axes`` only, sharded as ``param`` is along them.

    For state with a reduced shape (Adafactor's row/column statistics, SM3's per-axis
    accumulators, per-leaf scalars): the result has shape ``param.shape[a] for a in
    kept_axes`` and the partition spec of ``param`` with the dropped axes removed, on the
    param's mesh (``kept_axes=()`` gives a scalar replicated on that mesh). A committed
    single-device param gives its device. Under ``jit`` an Explicit-axis param (its type
    carries its sharding) gives the same spec on the abstract mesh; other tracers and
    uncommitted arrays give zeros placed where ``jnp.zeros`` puts them.

    Args:
      param: the param the state shadows (an array or tracer).
      kept_axes: the axes of ``param`` the state keeps, in order.
      dtype: the state's dtype.

    Returns:
      The zeros array.
    """
    full_shape = jnp.shape(param)
    shape = tuple(full_shape[a] for a in kept_axes)
    if isinstance(param, jax.core.Tracer):
        sharding = getattr(jax.typeof(param), "sharding", None)
        explicit = isinstance(sharding, jax.sharding.NamedSharding) and any(
            t == jax.sharding.AxisType.Explicit for t in sharding.mesh.axis_types
        )
        if not explicit:
            return jnp.zeros(shape, dtype)
        return jnp.zeros(
            shape, dtype, out_sharding=_reduced_named(sharding, len(full_shape), kept_axes)
        )
    sharding = getattr(param, "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding):
        return jnp.zeros(shape, dtype, device=_reduced_named(sharding, len(full_shape), kept_axes))
    if isinstance(sharding, jax.sharding.SingleDeviceSharding) and param.committed:
        return jnp.zeros(shape, dtype, device=sharding)
    return jnp.zeros(shape, dtype)


def _reduced_named(sharding: Any, ndim: int, kept_axes: tuple[int, ...]) -> Any:
    spec = tuple(sharding.spec) + (None,) * (ndim - len(sharding.spec))
    reduced = jax.sharding.PartitionSpec(*(spec[a] for a in kept_axes))
    return jax.sharding.NamedSharding(sharding.mesh, reduced, memory_kind=sharding.memory_kind)


def cast(tree: Any, dtype: Any) -> Any:
    """Casts every leaf to ``dtype`` (no-op for None or for leaves already in it)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x if x.dtype == dtype else x.astype(dtype), tree)


def ema_leaf(complement: jax.Array, buf: jax.Array, x: jax.Array, wide: Any) -> jax.Array:
    """One leaf of an EMA: ``decay * buf + (1 - decay) * x`` in ``wide``, stored as ``buf``.

    ``complement`` is ``1 - decay`` (`optx.Resolved.complement`, exact). Computed as
    ``buf + (1 - decay) * (x - buf)``: equal in exact arithmetic, within an ulp in float32,
    and one scalar operand instead of two. `optx.Resolved.moment` maps it over a tree; a
    transform whose average is of a derived quantity (a gradient difference, a corrected
    gradient) calls it inside its per-leaf function.
    """
    b = buf.astype(wide)
    return (b + complement.astype(wide) * (x.astype(wide) - b)).astype(buf.dtype)


def squared_norm(x: jax.Array, dtype: Any = None) -> jax.Array:
    """``sum(|x|**2)`` of one leaf as a real scalar (float32, or float64 for 64-bit leaves).

    Complex leaves contribute ``re**2 + im**2``, as Optax's norms do.
    """
    x = jnp.asarray(x)
    dtype = dtype or scalar_dtype(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        return jnp.sum(jnp.square(x.real.astype(dtype)) + jnp.square(x.imag.astype(dtype)))
    return jnp.sum(jnp.square(x.astype(dtype)))


def abs_sq(x: jax.Array) -> jax.Array:
    """``|x|**2`` elementwise: ``x * x`` for real ``x``, ``re**2 + im**2`` (real) for complex."""
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        return jnp.square(x.real) + jnp.square(x.imag)
    return x * x


def global_norm(tree: Any) -> jax.Array:
    """The L2 norm of all leaves together: a real scalar in `scalar_dtype` of ``tree``."""
    leaves = jax.tree.leaves(tree)
    dtype = scalar_dtype(tree)
    if not leaves:
        return jnp.zeros([], dtype)
    return jnp.sqrt(sum(squared_norm(x, dtype) for x in leaves))


def scale_tree(factor: jax.Array, tree: Any) -> Any:
    """Multiplies every leaf by a scalar, keeping each leaf's dtype."""

    def one(x):
        wide = wide_dtype(x)
        return (x.astype(wide) * jnp.asarray(factor).astype(wide)).astype(x.dtype)

    return jax.tree.map(one, tree)


def describe_mismatch(expected: Any, got: Any) -> str:
    """A short text naming the first path where two pytrees differ in structure."""
    expected_paths = {jax.tree_util.keystr(p): leaf for p, leaf in _paths(expected)}
    got_paths = {jax.tree_util.keystr(p): leaf for p, leaf in _paths(got)}
    missing = [p for p in expected_paths if p not in got_paths]
    extra = [p for p in got_paths if p not in expected_paths]
    parts = []
    if missing:
        parts.append(f"missing {_listed(missing)}")
    if extra:
        parts.append(f"unexpected {_listed(extra)}")
    if not parts:
        return (
            f"same paths but different node types: expected {jax.tree.structure(expected)}, "
            f"got {jax.tree.structure(got)}"
        )
    return "; ".join(parts)


def check_structure(call: str, expected: Any, got: Any, *, what: str = "updates") -> None:
    """Raises ValueError naming ``call`` and the differing paths when structures differ.

    Runs at trace time only (structures are static), so it costs nothing in a jitted step.
    """
    structure_expected: Any = jax.tree.structure(expected)  # jaxlib's PyTreeDef is untyped
    if structure_expected == jax.tree.structure(got):
        shapes_expected = [jnp.shape(x) for x in jax.tree.leaves(expected)]
        shapes_got = [jnp.shape(x) for x in jax.tree.leaves(got)]
        if shapes_expected == shapes_got:
            return
        for (path, e), g in zip(_paths(expected), jax.tree.leaves(got)):
            if jnp.shape(e) != jnp.shape(g):
                raise ValueError(
                    f"{call}: {what} at {jax.tree_util.keystr(path)} has shape {jnp.shape(g)} "
                    f"but the state was built for shape {jnp.shape(e)}; call init again on "
                    "the current params"
                )
    raise ValueError(
        f"{call}: the {what} tree does not match the tree the state was built for "
        f"({describe_mismatch(expected, got)}); pass updates shaped like the params given "
        "to init"
    )


def require_params(call: str, params: Any) -> None:
    """Raises ValueError when a transform that needs ``params`` was not given them."""
    if params is None:
        raise ValueError(
            f"{call}: update() needs the current params; call tx.update(grads, state, params)"
        )


def _paths(tree: Any):
    return jax.tree_util.tree_flatten_with_path(tree)[0]


def _listed(paths: list[str], most: int = 3) -> str:
    shown = ", ".join(p or "<root>" for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def structure(tree: Any) -> Any:
    """``jax.tree.structure(tree)``, typed ``Any`` (jaxlib ships no stub for ``PyTreeDef``)."""
    return jax.tree.structure(tree)


def flatten_up_to(treedef: Any, tree: Any) -> list[Any]:
    """``treedef.flatten_up_to(tree)``: the subtrees of ``tree`` at ``treedef``'s leaves."""
    return treedef.flatten_up_to(tree)


def map_unzip(fn, n: int, tree: Any, *rest: Any) -> tuple[Any, ...]:
    """Maps ``fn`` (returning an n-tuple per leaf) over trees; returns n trees.

    Lets one per-leaf function compute a new moment and the update read from it, so the
    update is derived from the moment as stored.
    """
    treedef: Any = jax.tree.structure(tree)  # jaxlib's PyTreeDef is untyped
    leaves = [treedef.flatten_up_to(t) for t in (tree, *rest)]
    outputs = [fn(*args) for args in zip(*leaves)]
    return tuple(treedef.unflatten([o[i] for o in outputs]) for i in range(n))

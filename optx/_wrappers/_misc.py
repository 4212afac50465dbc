"""Small wrappers: run conditionally, keep params non-negative, flatten to one vector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import EmptyState, GradientTransformation, _accepting_extra_args


class ConditionallyTransformState(NamedTuple):
    """State of `conditionally_transform`: calls so far and the inner state."""

    count: jax.Array
    inner_state: Any


class FlattenState(NamedTuple):
    """State of `flatten`: the inner state, built on one flat vector."""

    inner_state: Any


@_validate.public_call("optx.conditionally_transform")
def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: Callable[..., Any] | None = None,
    forward_extra_args: bool = False,
    *,
    every_k: int | None = None,
    start: int = 0,
) -> GradientTransformation:
    """Applies ``inner`` on the calls a predicate or a step rule selects; passes updates through
    unchanged (and keeps ``inner``'s state) on the others.

    Either ``should_transform_fn(count) -> bool`` (``count`` is the 0-based number of update
    calls so far, a traced int32; return a bool array or Python bool), or the step rule:
    transform at counts ``start, start + every_k, start + 2 * every_k, ...`` (``every_k``
    None means every call from ``start`` on). The positional arguments are Optax's.

    Args:
      inner: the transformation.
      should_transform_fn: the predicate, or None to use ``every_k``/``start``.
      forward_extra_args: call ``should_transform_fn(count, **extra_args)`` with the extra
        arguments given to ``update`` (``loss=``, ...), as Optax does.
      every_k: keyword-only; period of the step rule (int >= 1).
      start: keyword-only; first transformed count of the step rule (int >= 0).

    Raises:
      ValueError: both a predicate and a step rule.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.conditionally_transform(optx.scale(10.0), start=1)
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.ones(1), state)
      >>> u2, state = tx.update(jnp.ones(1), state)
      >>> u1, u2
      (Array([1.], dtype=float32), Array([10.], dtype=float32))
    """
    _validate.check_transformation("optx.conditionally_transform", "inner", inner)
    call = "optx.conditionally_transform"
    if should_transform_fn is not None and (every_k is not None or start != 0):
        raise ValueError(f"{call}: give should_transform_fn or every_k/start, not both")
    if should_transform_fn is None:
        if every_k is not None:
            _validate.check_int(call, "every_k", every_k, low=1)
        _validate.check_int(call, "start", start, low=0)

        def should_transform_fn(count, **_):
            after = count >= start
            if every_k is None:
                return after
            return after & ((count - start) % every_k == 0)

    elif not callable(should_transform_fn):
        raise TypeError(
            f"{call}: should_transform_fn must be a function count -> bool, "
            f"got {should_transform_fn!r}"
        )
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        return ConditionallyTransformState(_tree.zero_count(params), inner.init(params))

    def update(updates, state, params=None, **extra_args):
        condition_kwargs = extra_args if forward_extra_args else {}
        flag = jnp.asarray(should_transform_fn(state.count, **condition_kwargs))
        if flag.shape != () or flag.dtype != jnp.bool_:
            raise ValueError(
                f"{call}: should_transform_fn must return a bool scalar, got "
                f"{flag.dtype}{list(flag.shape)}"
            )

        def run(inner_state):
            new, inner_state = inner_update(updates, inner_state, params, **extra_args)
            return jax.tree.map(lambda u, g: u.astype(g.dtype), new, updates), inner_state

        def keep(inner_state):
            return updates, inner_state

        new, inner_state = jax.lax.cond(flag, run, keep, state.inner_state)
        return new, ConditionallyTransformState(_tree.safe_increment(state.count), inner_state)

    return GradientTransformation(init, update)


def keep_params_nonnegative() -> GradientTransformation:
    """Clips updates so that no parameter becomes negative; keeps no state.

    Update rule: ``u = max(u, -w)``, so ``w + u >= 0``. Chain it last. Params must start
    non-negative.

    Raises:
      ValueError: ``update`` called without params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.keep_params_nonnegative()
      >>> w = jnp.array([1.0, 0.5])
      >>> tx.update(jnp.array([-2.0, 0.25]), tx.init(w), w)[0]
      Array([-1.  ,  0.25], dtype=float32)
    """
    call = "optx.keep_params_nonnegative"

    def init(params):
        _validate.refuse_complex(
            call, params, "complex numbers are neither nonnegative nor negative (no order)"
        )
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)

        def one(u, p):
            wide = _tree.wide_dtype(u)
            return jnp.maximum(u.astype(wide), -p.astype(wide)).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init, update)


def _ravel(tree: Any, dtype: Any) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([0], dtype)
    return jnp.concatenate([jnp.ravel(_replicated(x)).astype(dtype) for x in leaves])


def _replicated(x: jax.Array) -> jax.Array:
    """``x`` resharded to replicated when its type carries Explicit mesh axes, else as is.

    With Explicit axes ``concatenate`` refuses operands of different shardings; the flat
    vector is replicated (a sharded vector would not follow any one param anyway).
    """
    sharding = getattr(jax.typeof(x), "sharding", None)
    if not isinstance(sharding, jax.sharding.NamedSharding) or all(
        axis is None for axis in sharding.spec
    ):
        return x
    return jax.sharding.reshard(x, jax.sharding.NamedSharding(sharding.mesh, jax.P()))


def _unravel(flat: jax.Array, like: Any) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    out, offset = [], 0
    for x in leaves:
        size = int(jnp.size(x))
        out.append(flat[offset : offset + size].reshape(jnp.shape(x)).astype(jnp.result_type(x)))
        offset += size
    return treedef.unflatten(out)


def _common_dtype(tree: Any) -> Any:
    dtypes = {jnp.dtype(jnp.result_type(x)) for x in jax.tree.leaves(tree)}
    if len(dtypes) <= 1:
        return dtypes.pop() if dtypes else jnp.dtype(jnp.float32)
    return max(dtypes, key=lambda d: d.itemsize)


@_validate.public_call("optx.flatten")
def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Runs ``inner`` on all parameters raveled into one vector.

    Many tiny leaves cost a kernel launch (and host dispatch) each per step; one vector
    costs one. The price: every step concatenates the gradients (and the params, when
    given) into new vectors and splits the updates back, i.e. about three extra
    param-sized copies per step; mixed dtypes are cast to the widest; the inner state is one
    vector (a different checkpoint layout); and under sharding the concatenation gathers
    the leaves onto one layout. Use it for small models with many leaves, not for large
    sharded ones. Per-leaf algorithms (LARS/LAMB trust ratios, Adafactor) change meaning:
    they see one leaf.

    Args:
      inner: the transformation to run on the flat vector.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.flatten(optx.adam(1e-3))
      >>> params = {"a": jnp.ones(2), "b": jnp.ones((2, 3))}
      >>> jax.tree.leaves(tx.init(params).inner_state[0].mu)[0].shape
      (8,)
    """
    _validate.check_transformation("optx.flatten", "inner", inner)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        return FlattenState(inner.init(_ravel(params, _common_dtype(params))))

    def update(updates, state, params=None, **extra_args):
        dtype = _common_dtype(updates)
        flat_params = None if params is None else _ravel(params, _common_dtype(params))
        new, inner_state = inner_update(
            _ravel(updates, dtype), state.inner_state, flat_params, **extra_args
        )
        return _unravel(new, updates), FlattenState(inner_state)

    return GradientTransformation(init, update)

"""Run a transform only where a condition on the step count holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, _accepting_extra_args


class ConditionallyTransformState(NamedTuple):
    """State of `conditionally_transform`: calls so far and the inner state."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
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

"""Private helpers shared by the schedules: dtypes, counts and argument checks.

Schedules compute in the default float dtype at call time (float32, or float64 under
``jax.enable_x64``), so MXNet's values can be reproduced to 1e-12 in float64. Values that may
be traced (a peak swept under ``jax.vmap``) are never inspected by Python ``if``s; only
concrete values are checked, when the schedule is built.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx import _validate


def name(short: str) -> str:
    """The public name of a schedule factory: ``optx.schedules.<short>``."""
    return f"optx.schedules.{short}"


def float_dtype() -> Any:
    """The default float dtype now: float32, or float64 when x64 is enabled."""
    return jnp.result_type(float)


def as_float(value: Any) -> jax.Array:
    """``value`` as an array of the default float dtype (traced values pass through)."""
    return jnp.asarray(value, float_dtype())


def as_count(count: Any) -> jax.Array:
    """The update count as a float array of the default float dtype.

    A Python int of any size is converted through a Python float (``jnp.asarray`` of an
    int above the int32 maximum raises OverflowError).
    """
    if isinstance(count, (int, np.integer)) and not isinstance(count, bool):
        return jnp.asarray(float(count), float_dtype())
    return jnp.asarray(count).astype(float_dtype())


def before(count: Any, boundary: int) -> jax.Array:
    """``count < boundary``, exact for int counts and Python int boundaries of any size.

    A Python int count compares in Python; an int32 count is below any boundary above the
    int32 maximum; a float count compares with the boundary as a float.
    """
    if isinstance(count, (int, np.integer)) and not isinstance(count, bool):
        return jnp.asarray(count < boundary)
    count = jnp.asarray(count)
    if jnp.issubdtype(count.dtype, jnp.integer):
        if boundary > jnp.iinfo(count.dtype).max:
            return jnp.ones(count.shape, bool)
        return count < boundary
    return count < float(boundary)


def shift(count: Any, boundary: int) -> Any:
    """``count - boundary`` without int32 overflow: exact for int counts where it fits.

    A Python int count stays a Python int; an int32 count with a boundary that fits in
    int32 stays int32 (both are non-negative, so the difference fits); else float.
    """
    if isinstance(count, (int, np.integer)) and not isinstance(count, bool):
        return int(count) - boundary
    array = jnp.asarray(count)
    if jnp.issubdtype(array.dtype, jnp.integer) and boundary <= jnp.iinfo(array.dtype).max:
        return array - boundary
    return as_count(array) - float(boundary)


def check_steps(short: str, arg: str, value: Any, low: int = 1) -> None:
    """``value`` must be a Python (or NumPy) int ``>= low``."""
    _validate.check_int(name(short), arg, value, low)


def check_number(short: str, arg: str, value: Any) -> None:
    """``value`` must be a number or a scalar array (schedules are not allowed here)."""
    if callable(value):
        raise TypeError(
            f"{_validate.current_call(name(short))}: {arg} must be a float or a scalar array, "
            "got a function; schedule arguments are values, not schedules"
        )
    _validate.check_number(name(short), arg, value)
    x = _validate.concrete_scalar(value)
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{_validate.current_call(name(short))}: {arg} must be finite, got {x}")


def check_range(short: str, arg: str, value: Any, low=None, high=None, **kw: Any) -> None:
    """A concrete ``value`` must lie in the interval (traced values are not checked)."""
    check_number(short, arg, value)
    _validate.check_range(name(short), arg, value, low, high, **kw)


def concrete(value: Any) -> float | None:
    """``value`` as a Python float when concrete, else None."""
    return _validate.concrete_scalar(value)


def check_schedule(short: str, arg: str, value: Any) -> None:
    """``value`` must be callable (a schedule)."""
    if not callable(value):
        raise TypeError(
            f"{_validate.current_call(name(short))}: {arg} must be a schedule (a function of "
            f"the update count), got {value!r}"
        )

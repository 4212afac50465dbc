"""The standard validation errors: each names the public call, the argument, the value, the fix.

Python scalars (and concrete scalar arrays) are checked when a factory is called. Traced
values (a hyperparameter swept under ``jax.vmap``) and schedules cannot be checked there and
are passed through.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import jax
import numpy as np

_CALL: contextvars.ContextVar[str | None] = contextvars.ContextVar("optx_call", default=None)
F = TypeVar("F", bound=Callable[..., Any])


def public_call(name: str) -> Callable[[F], F]:
    """Decorates a factory so validation errors raised inside it name ``name``.

    The outermost decorated call wins, so ``optx.adam(b1=1.2)`` reports ``optx.adam`` even
    though the check runs in ``optx.scale_by_adam``.
    """

    def decorate(factory: F) -> F:
        @functools.wraps(factory)
        def wrapped(*args, **kwargs):
            with calling(name):
                result = factory(*args, **kwargs)
                outer = current_call(name)
            if outer != name:  # a part of another public transform: that one is guarded
                return result
            from optx import _guard  # noqa: PLC0415 - _guard imports this module

            return _guard.guarded(name, result, wrapper=_guard.wraps_transform(args, kwargs))

        return wrapped  # type: ignore[return-value]

    return decorate


@contextlib.contextmanager
def calling(name: str) -> Iterator[None]:
    """Context in which validation errors name ``name`` (unless an outer call is named)."""
    token = _CALL.set(name) if _CALL.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _CALL.reset(token)


def current_call(default: str) -> str:
    """The public call to name in an error: the outermost `public_call`, else ``default``."""
    return _CALL.get() or default


def concrete_scalar(value: Any) -> float | None:
    """``value`` as a Python float if it is a concrete real scalar, else None.

    Schedules, tracers and non-scalar arrays give None (they are not checked here).
    """
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is not checked here
        return None
    if array.shape != () or not np.issubdtype(array.dtype, np.number):
        return None
    return float(array)


def check_number(call: str, name: str, value: Any) -> None:
    """Raises TypeError unless ``value`` is a number, a scalar array or a schedule."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(
            f"{current_call(call)}: {name} must be a float, a scalar array or a schedule "
            f"(a function of the step count), got {value!r}"
        )
    if not callable(value) and not isinstance(value, jax.core.Tracer):
        shape = np.shape(value)
        if shape != ():
            raise ValueError(
                f"{current_call(call)}: {name} must be a scalar, got an array of shape {shape}; "
                "to sweep it, vmap over the factory or use optx.set_hyperparams on stacked states"
            )


def check_schedule(call: str, name: str, schedule: Any) -> None:
    """Raises TypeError unless ``schedule`` can be called with one argument (the count)."""
    import inspect

    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return  # builtins and C functions: trust them
    try:
        signature.bind(0)
    except TypeError:
        raise TypeError(
            f"{current_call(call)}: {name} is a function that cannot be called with one "
            f"argument (the update count), signature {signature}; a schedule is "
            "count -> value, e.g. lambda count: 0.1 * 0.99**count"
        ) from None


def check_range(
    call: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raises ValueError when a concrete ``value`` lies outside the interval.

    Example message: ``optx.adam: b1 must be in [0, 1), got 1.2``.
    """
    check_number(call, name, value)
    x = concrete_scalar(value)
    if x is None:
        return
    bad = math.isnan(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    if bad:
        interval = _describe(low, high, low_open, high_open)
        raise ValueError(f"{current_call(call)}: {name} must be {interval}, got {x:g}")


def check_positive(call: str, name: str, value: Any) -> None:
    """``value > 0``."""
    check_range(call, name, value, 0.0, low_open=True)


def check_non_negative(call: str, name: str, value: Any) -> None:
    """``value >= 0``."""
    check_range(call, name, value, 0.0)


def check_unit_interval(call: str, name: str, value: Any) -> None:
    """``0 <= value < 1`` (decay rates, betas)."""
    check_range(call, name, value, 0.0, 1.0, high_open=True)


def check_int(call: str, name: str, value: Any, low: int = 0) -> None:
    """Raises unless ``value`` is a Python int ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{current_call(call)}: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{current_call(call)}: {name} must be >= {low}, got {value}")


def check_choice(call: str, name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raises unless ``value`` is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{current_call(call)}: {name} must be one of {listed}, got {value!r}")


def _describe(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def refuse_complex(call: str, params: Any, why: str) -> None:
    """Raises TypeError when any leaf of ``params`` is complex, for rules undefined on C.

    Called by ``init`` of the transforms whose rule needs an ordering or a sign of each
    value (sign-based steps, elementwise bounds). ``call`` is the public call to name (take
    it with `current_call` when the factory runs: ``init`` runs outside its context);
    ``why`` says what the rule needs that complex numbers lack.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and np.issubdtype(dtype, np.complexfloating):
            where = jax.tree_util.keystr(path) or "the params"
            raise TypeError(
                f"{call} does not support complex params (got {np.dtype(dtype).name} at "
                f"{where}): {why}. Optimize the real and imaginary parts as separate real "
                "params (e.g. params = (z.real, z.imag)), or choose an optimizer that "
                "supports complex params (sgd, adam, ...)."
            )


def check_float_dtype(call: str, name: str, dtype: Any, *, complex_ok: bool = False) -> None:
    """Raises unless ``dtype`` is None or a floating dtype (complex too if ``complex_ok``).

    Moment buffers in an integer dtype would round every update to zero (or overflow), so
    they are refused when the factory is called: ``optx.adam: mu_dtype must be a floating
    dtype (float32, bfloat16, ...), got int32``.
    """
    if dtype is None:
        return
    kinds = "a floating or complex dtype" if complex_ok else "a floating dtype"
    try:
        resolved = np.dtype(jax.numpy.dtype(dtype))
    except (TypeError, ValueError):
        raise TypeError(
            f"{current_call(call)}: {name} must be {kinds} (e.g. jnp.float32, jnp.bfloat16) "
            f"or None, got {dtype!r}"
        ) from None
    ok = jax.numpy.issubdtype(resolved, jax.numpy.floating) or (
        complex_ok and jax.numpy.issubdtype(resolved, jax.numpy.complexfloating)
    )
    if not ok:
        raise TypeError(
            f"{current_call(call)}: {name} must be {kinds} (e.g. jnp.float32, jnp.bfloat16) "
            f"or None, got {resolved.name}: moments in it would round every update"
        )


def check_transformation(call: str, name: str, value: Any) -> None:
    """Raises TypeError unless ``value`` is a GradientTransformation (an ``(init, update)``).

    The message names the likely slip: an uncalled factory (``optx.adam``), a name
    (``"adam"``) or a class.
    """
    if hasattr(value, "init") and hasattr(value, "update") and not isinstance(value, type):
        if callable(value.init) and callable(value.update):
            return
    where = f"{current_call(call)}: {name} must be a GradientTransformation such as optx.adam(1e-3)"
    if isinstance(value, str):
        raise TypeError(
            f"{where}, got the string {value!r}; build it by name with "
            f"optx.create({value!r}, learning_rate=...)"
        )
    if callable(value):
        label = getattr(value, "__qualname__", None) or repr(value)
        raise TypeError(
            f"{where}, got the function {label}; did you forget to call the factory, "
            f"e.g. optx.adam(1e-3) instead of optx.adam?"
        )
    raise TypeError(f"{where}, got {type(value).__name__} {value!r:.80}")


def check_state(call: str, state: Any, expected: Any) -> None:
    """Raises TypeError when ``state`` is not the kind of state ``call``'s init builds.

    ``expected`` is the state ``init`` builds (or its abstract value from ``jax.eval_shape``).
    Compares the container type (and the length of tuples), which is cheap and static: it
    catches None, a state built by another optimizer and a chain of another length.
    """
    if state is None:
        raise TypeError(
            f"{call}.update: state is None; pass the state built by init: "
            "state = tx.init(params), then tx.update(grads, state, params)"
        )
    if expected is None or not isinstance(expected, (tuple, list, dict)):
        return
    if type(state) is not type(expected):
        raise TypeError(
            f"{call}.update got a state of type {type(state).__name__}, expected "
            f"{type(expected).__name__} (the state its init builds); was the state built by "
            "another optimizer? Build it with the same transform: state = tx.init(params)"
        )
    if isinstance(state, (tuple, list)) and len(state) != len(expected):
        raise TypeError(
            f"{call}.update got a {type(state).__name__} state of length {len(state)}, "
            f"expected {len(expected)} (the state its init builds); was the state built by "
            "another optimizer or chain? Build it with the same transform: state = tx.init(params)"
        )
    if isinstance(state, (tuple, list)):
        for i, (got, want) in enumerate(zip(state, expected)):
            if isinstance(want, (tuple, list, dict)) and type(got) is not type(want):
                raise TypeError(
                    f"{call}.update got a state whose element {i} is {type(got).__name__}, "
                    f"expected {type(want).__name__} (the state its init builds); was the "
                    "state built by another optimizer? Build it with the same transform: "
                    "state = tx.init(params)"
                )

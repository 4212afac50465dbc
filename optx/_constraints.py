"""Declared constraints on hyperparameters, checked wherever a value enters a state.

A transform declares each numeric hyperparameter once, with its constraint, in its
`optx.Hyperparams`. The same declaration is checked

- when the factory is called (Python numbers and concrete arrays),
- when `optx.set_hyperparams` sets a host value,
- on a schedule's value at ``init`` (count 0), and
- inside compiled updates when debug checks are on (`debug_checks`): schedule values,
  values given as traced arrays and values set under ``jit``, at every step.

Every constraint refuses NaN and infinities: a hyperparameter is a finite real number.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_DEBUG = [False]


class Constraint(NamedTuple):
    """A closed or open interval of finite reals that a hyperparameter must lie in.

    Attributes:
      low, high: the bounds (None: unbounded on that side).
      low_open, high_open: whether the bound itself is excluded.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The interval in words, for messages: ``"in [0, 1)"``, ``">= 0"``, ``"finite"``."""
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{lo:g}, {hi:g}{right}"
        if lo is not None:
            return f"{'>' if self.low_open else '>='} {lo:g}"
        if hi is not None:
            return f"{'<' if self.high_open else '<='} {hi:g}"
        return "finite"

    def holds(self, x: Any) -> Any:
        """Elementwise: whether ``x`` (NumPy or JAX) satisfies the constraint."""
        xp = jnp if isinstance(x, (jax.Array, jax.core.Tracer)) else np
        ok = xp.isfinite(x)
        if self.low is not None:
            ok = ok & ((x > self.low) if self.low_open else (x >= self.low))
        if self.high is not None:
            ok = ok & ((x < self.high) if self.high_open else (x <= self.high))
        return ok

    def message(self, call: str, name: str, value: Any, fix: str = "") -> str:
        """The standard message: ``optx.adam: b1 must be in [0, 1), got 1.2``."""
        shown = _show(value)
        return f"{call}: {name} must be {self.describe()}, got {shown}" + (
            f"; {fix}" if fix else ""
        )

    def check(self, call: str, name: str, value: Any, fix: str = "") -> None:
        """Raises ValueError when a concrete ``value`` violates the constraint."""
        host = _concrete(value)
        if host is None:
            return
        if not bool(np.all(self.holds(host))):
            raise ValueError(self.message(call, name, host, fix))


FINITE = Constraint()
"""Any finite real number."""
NON_NEGATIVE = Constraint(0.0)
"""``>= 0``: learning rates, epsilons, weight decays."""
POSITIVE = Constraint(0.0, low_open=True)
"""``> 0``: clipping thresholds, norms."""
UNIT_INTERVAL = Constraint(0.0, 1.0, high_open=True)
"""``[0, 1)``: decays (betas, momentum), whose ``1 - value`` divides."""
CLOSED_UNIT_INTERVAL = Constraint(0.0, 1.0)
"""``[0, 1]``: interpolation weights."""


def _show(value: Any) -> str:
    array = np.asarray(value)
    if array.shape == ():
        x = float(array)
        return f"{x:g}" if math.isfinite(x) else str(x)
    return f"an array with values {array.tolist()}"


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy float64 array when it is concrete and numeric, else None."""
    if callable(value) or isinstance(value, jax.core.Tracer) or value is None:
        return None
    if isinstance(value, (str, bytes)):
        return None
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - non-array-likes are refused elsewhere
        return None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        return None
    if np.issubdtype(array.dtype, np.complexfloating):
        return None
    return array.astype(np.float64)


@contextlib.contextmanager
def debug_checks(enabled: bool = True) -> Iterator[None]:
    """Checks every hyperparameter value inside compiled updates traced in this block.

    With debug checks on, an update traced inside the block checks the values it uses
    (schedule values, values given as traced arrays, values set under ``jit``) against
    their declared constraints at every step, on the device, and raises the same
    ``ValueError`` the factory would (surfacing from the compiled call as a
    ``jax.errors.JaxRuntimeError`` whose message holds it). Off by default: each check is
    a host callback per hyperparameter and step. Updates traced outside the block (already
    compiled) are unchanged.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.sgd(lambda count: 0.1 - 0.2 * count.astype(jnp.float32))  # < 0 from step 1
      >>> state = tx.init(jnp.zeros(2))
      >>> with optx.debug_checks():
      ...     step = jax.jit(tx.update)
      ...     _, state = step(jnp.ones(2), state)
      ...     try:
      ...         jax.block_until_ready(step(jnp.ones(2), state))
      ...     except Exception as e:
      ...         print("learning_rate must be >= 0" in str(e))
      True
    """
    previous = _DEBUG[0]
    _DEBUG[0] = bool(enabled)
    try:
        yield
    finally:
        _DEBUG[0] = previous


def debugging() -> bool:
    """Whether updates traced now get on-device checks (`debug_checks`)."""
    return _DEBUG[0]


def check_on_device(call: str, name: str, constraint: Constraint, value: jax.Array) -> None:
    """With `debug_checks` on, checks a traced ``value`` at run time (a host callback)."""
    if not debugging():
        return

    def host_check(x):
        if not bool(np.all(constraint.holds(np.asarray(x, np.float64)))):
            raise ValueError(constraint.message(call, name, x))

    jax.debug.callback(host_check, value)

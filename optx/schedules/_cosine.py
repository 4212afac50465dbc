"""Cosine decay and the warmup-then-decay schedules (cosine, exponential)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c
from optx.schedules._basic import exponential_decay_schedule, linear_schedule
from optx.schedules._join import join_schedules


def _half_cosine(count: Any, steps: int) -> Any:
    """``(1 + cos(pi * min(count, steps) / steps)) / 2``: 1 at 0, 0 from ``steps`` on."""
    k = jnp.clip(c.as_count(count), 0.0, float(steps))
    return (1 + jnp.cos(jnp.pi * k / float(steps))) / 2


@_validate.public_call("optx.schedules.cosine_decay_schedule")
def cosine_decay_schedule(
    init_value: Any, decay_steps: int, alpha: Any = 0.0, exponent: Any = 1.0
) -> Schedule:
    """Cosine decay (Loshchilov and Hutter, 2017) from ``init_value`` to ``alpha * init_value``.

    Rule: ``value = init_value * ((1 - alpha) * h ** exponent + alpha)`` with
    ``h = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2``. As Optax's.

    Args:
      init_value: the value at count 0.
      decay_steps: an int >= 1; the value is ``alpha * init_value`` from then on.
      alpha: the final value as a fraction of ``init_value``.
      exponent: the power of the cosine factor, > 0.

    Raises:
      ValueError: ``decay_steps < 1`` or a non-positive exponent.

    Examples:
      >>> import optx
      >>> s = optx.schedules.cosine_decay_schedule(1.0, 4)
      >>> [round(float(s(i)), 4) for i in range(5)]
      [1.0, 0.8536, 0.5, 0.1464, 0.0]

    References:
      Loshchilov and Hutter, 2017, SGDR: Stochastic Gradient Descent with Warm Restarts,
      https://arxiv.org/abs/1608.03983
    """
    short = "cosine_decay_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_steps(short, "decay_steps", decay_steps)
    c.check_number(short, "alpha", alpha)
    c.check_range(short, "exponent", exponent, 0.0, low_open=True)

    def schedule(count):
        a = c.as_float(alpha)
        h = _half_cosine(count, decay_steps) ** c.as_float(exponent)
        return c.as_float(init_value) * ((1 - a) * h + a)

    return schedule


@_validate.public_call("optx.schedules.warmup_cosine_decay_schedule")
def warmup_cosine_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    Rule: for ``count < warmup_steps`` linear, then
    ``end_value + (peak_value - end_value) * h ** exponent`` with ``h`` the half cosine over
    the remaining ``decay_steps - warmup_steps`` updates (``decay_steps`` counts the warmup,
    as in Optax). Written without dividing by the peak, so a zero peak is fine.

    Args:
      init_value: the value at count 0.
      peak_value: the value at ``warmup_steps`` (may be traced: sweep it under vmap).
      warmup_steps: an int >= 0.
      decay_steps: the total length, an int > ``warmup_steps``.
      end_value: the value from ``decay_steps`` on.
      exponent: the power of the cosine factor, > 0.

    Raises:
      ValueError: ``decay_steps <= warmup_steps`` or bad counts.

    Examples:
      >>> import optx
      >>> s = optx.schedules.warmup_cosine_decay_schedule(0.0, 1.0, 2, 4)
      >>> [float(s(i)) for i in range(5)]
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    short = "warmup_cosine_decay_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_number(short, "peak_value", peak_value)
    c.check_steps(short, "warmup_steps", warmup_steps, 0)
    c.check_steps(short, "decay_steps", decay_steps, warmup_steps + 1)
    c.check_number(short, "end_value", end_value)
    c.check_range(short, "exponent", exponent, 0.0, low_open=True)
    cosine_steps = decay_steps - warmup_steps

    def decay(count):
        end = c.as_float(end_value)
        h = _half_cosine(count, cosine_steps) ** c.as_float(exponent)
        return end + (c.as_float(peak_value) - end) * h

    if warmup_steps == 0:
        return decay
    ramp = linear_schedule(init_value, peak_value, warmup_steps)
    return join_schedules([ramp, decay], [warmup_steps])


@_validate.public_call("optx.schedules.warmup_exponential_decay_schedule")
def warmup_exponential_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value``, then exponential decay.

    Rule: for ``count < warmup_steps`` linear; then
    ``exponential_decay_schedule(peak_value, transition_steps, decay_rate, transition_begin,
    staircase, end_value)(count - warmup_steps)``. As Optax's.

    Args:
      init_value, peak_value: the values at count 0 and at ``warmup_steps``.
      warmup_steps: an int >= 0.
      transition_steps, decay_rate, transition_begin, staircase, end_value: as
        `exponential_decay_schedule`, counted from the end of the warmup.

    Raises:
      ValueError: bad counts or a negative ``decay_rate``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.warmup_exponential_decay_schedule(0.0, 1.0, 2, 1, 0.5)
      >>> [float(s(i)) for i in range(5)]
      [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    short = "warmup_exponential_decay_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_steps(short, "warmup_steps", warmup_steps, 0)
    decay = exponential_decay_schedule(
        peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    if warmup_steps == 0:
        return decay
    ramp = linear_schedule(init_value, peak_value, warmup_steps)
    return join_schedules([ramp, decay], [warmup_steps])

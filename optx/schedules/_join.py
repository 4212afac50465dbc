"""Combining schedules: `join_schedules` (one after another) and `warmup` (around any)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c


@_validate.public_call("optx.schedules.join_schedules")
def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Runs ``schedules`` one after another, each restarting its count at its boundary.

    Rule: for ``boundaries[i-1] <= count < boundaries[i]`` the value is
    ``schedules[i](count - boundaries[i-1])`` (``boundaries[-1]`` taken as 0). As Optax's
    ``join_schedules``.

    Args:
      schedules: n schedules.
      boundaries: n - 1 increasing ints >= 0, the counts at which the next schedule starts.

    Raises:
      ValueError: the number of boundaries is not ``len(schedules) - 1``, or they decrease.
      TypeError: an entry of ``schedules`` is not callable.

    Examples:
      >>> import optx
      >>> s = optx.schedules.join_schedules(
      ...     [optx.schedules.constant_schedule(1.0),
      ...      optx.schedules.linear_schedule(1.0, 0.0, 2)], [3])
      >>> [float(s(i)) for i in range(6)]
      [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    short = "join_schedules"
    schedules = list(schedules)
    boundaries = list(boundaries)
    if not schedules:
        raise ValueError(f"{_validate.current_call(c.name(short))}: schedules is empty")
    for i, piece in enumerate(schedules):
        c.check_schedule(short, f"schedules[{i}]", piece)
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: boundaries must have "
            f"len(schedules) - 1 = {len(schedules) - 1} entries, got {len(boundaries)}"
        )
    for i, boundary in enumerate(boundaries):
        c.check_steps(short, f"boundaries[{i}]", boundary, 0)
        if i and boundary < boundaries[i - 1]:
            raise ValueError(
                f"{_validate.current_call(c.name(short))}: boundaries must not decrease, "
                f"got {boundaries}"
            )

    def schedule(count):
        value = c.as_float(schedules[0](count))
        for boundary, following in zip(boundaries, schedules[1:]):
            later = c.as_float(following(c.shift(count, boundary)))
            value = jnp.where(c.before(count, boundary), value, later)
        return value

    return schedule


@_validate.public_call("optx.schedules.warmup")
def warmup(
    schedule: Schedule,
    steps: int,
    mode: str = "linear",
    begin_value: float = 0.0,
    *,
    shift: bool = True,
) -> Schedule:
    """Adds a warmup of ``steps`` updates in front of any schedule.

    Rule, for ``count < steps``::

        linear:    begin_value + (target - begin_value) * count / steps
        constant:  begin_value

    and from ``count = steps`` on, ``schedule(count - steps)`` (``shift=True``: the schedule
    starts when the warmup ends, as with `join_schedules`) or ``schedule(count)``
    (``shift=False``: the schedule's own counter keeps running during warmup, MXNet's "decay
    counter ignores warmup"). ``target`` is the schedule's first value after warmup
    (``schedule(0)`` or ``schedule(steps)``), so the linear ramp is continuous. The count is
    0-based, so the first update uses ``begin_value``; MXNet's 1-based warmup is in
    `factor_schedule` and friends.

    Args:
      schedule: the schedule to warm up.
      steps: the warmup length, an int >= 0 (0 returns the schedule unchanged).
      mode: ``"linear"`` or ``"constant"``.
      begin_value: the value at count 0 (may be traced).
      shift: start ``schedule`` at the end of the warmup (True) or at count 0 (False).

    Raises:
      ValueError: an unknown mode or a negative ``steps``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.warmup(optx.schedules.constant_schedule(1.0), 4)
      >>> [float(s(i)) for i in range(6)]
      [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    short = "warmup"
    c.check_schedule(short, "schedule", schedule)
    c.check_steps(short, "steps", steps, 0)
    _validate.check_choice(c.name(short), "mode", mode, ("linear", "constant"))
    c.check_number(short, "begin_value", begin_value)
    if steps == 0:
        return schedule

    def warmed(count):
        after = c.as_float(schedule(c.shift(count, steps) if shift else count))
        begin = c.as_float(begin_value)
        if mode == "constant":
            during = begin
        else:
            zero = 0 if isinstance(count, int) else jnp.zeros_like(jnp.asarray(count))
            target = c.as_float(schedule(zero if shift else c.shift(zero, -steps)))
            during = begin + (target - begin) * (c.as_count(count) / float(steps))
        return jnp.where(c.before(count, steps), during, after)

    return warmed

"""fastai's schedules: one-cycle (learning rate and momentum), flat-cos, combined phases.

fastai schedules are functions of the fraction of training done, ``pos`` in [0, 1], not of
the step. Here ``pos = count / total_steps`` (the count is 0-based, so the first update uses
``pos = 0``, as fastai's first batch does), clipped to [0, 1] so the last value holds after
``total_steps``. The position curves `sched_lin`, `sched_cos`, `sched_exp`, `sched_no` and
`sched_poly` are fastai's ``SchedLin``, ``SchedCos``, ... and are what `combine_schedules`
takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c

Curve = Callable[[Any], Any]
"""A function of the fraction ``pos`` in [0, 1] of a phase."""


def sched_lin(start: Any, end: Any) -> Curve:
    """fastai's ``SchedLin``: ``start + pos * (end - start)``.

    Examples:
      >>> import optx
      >>> float(optx.schedules.sched_lin(1.0, 3.0)(0.5))
      2.0
    """
    return lambda pos: c.as_float(start) + c.as_float(pos) * (c.as_float(end) - start)


def sched_cos(start: Any, end: Any) -> Curve:
    """fastai's ``SchedCos``: ``start + (1 + cos(pi * (1 - pos))) * (end - start) / 2``.

    Computed as the equal ``end + (start - end) * cos(pi * pos / 2) ** 2``, which has no
    cancellation near ``pos = 1``, so a tiny final value (``lr_max / 1e5``) is exact in
    float32 too.

    Examples:
      >>> import optx
      >>> float(optx.schedules.sched_cos(1.0, 3.0)(0.5))
      2.0
    """

    def curve(pos):
        end_ = c.as_float(end)
        half = jnp.cos(jnp.pi / 2 * c.as_float(pos))
        return end_ + (start - end_) * (half * half)

    return curve


def sched_no(start: Any, end: Any) -> Curve:
    """fastai's ``SchedNo``: ``start`` whatever the position (``end`` is ignored).

    Examples:
      >>> import optx
      >>> float(optx.schedules.sched_no(1.0, 3.0)(0.5))
      1.0
    """
    del end
    return lambda pos: jnp.broadcast_to(c.as_float(start), jnp.shape(pos))


def sched_exp(start: Any, end: Any) -> Curve:
    """fastai's ``SchedExp``: ``start * (end / start) ** pos`` (start must not be 0).

    Examples:
      >>> import optx
      >>> float(optx.schedules.sched_exp(1.0, 4.0)(0.5))
      2.0
    """
    return lambda pos: c.as_float(start) * (c.as_float(end) / start) ** c.as_float(pos)


def sched_poly(start: Any, end: Any, power: Any) -> Curve:
    """fastai's ``SchedPoly``: ``start + (end - start) * pos ** power``.

    Examples:
      >>> import optx
      >>> float(optx.schedules.sched_poly(0.0, 4.0, 2)(0.5))
      1.0
    """
    return lambda pos: c.as_float(start) + (end - c.as_float(start)) * c.as_float(pos) ** power


@_validate.public_call("optx.schedules.combine_schedules")
def combine_schedules(
    pcts: Sequence[float], schedules: Sequence[Curve], total_steps: int
) -> Schedule:
    """fastai's ``combine_scheds`` as a schedule of the count: phases over the fraction of training.

    Phase i covers the fraction ``pcts[i]`` of ``total_steps`` and evaluates ``schedules[i]``
    at the position within the phase: with ``pos = clip(count / total_steps, 0, 1)`` and
    ``start_i = pcts[0] + ... + pcts[i-1]``, the value is
    ``schedules[i]((pos - start_i) / pcts[i])`` for the last phase with ``start_i <= pos``
    (empty phases are skipped; ``pos = 1`` is the end of the last phase). Phase starts are
    compared in counts (``count >= start_i * total_steps``), so float rounding of the
    fractions does not move a boundary by one update.

    Args:
      pcts: the phase lengths as fractions, each >= 0, summing to 1.
      schedules: one curve per phase, a function of its position in [0, 1] (`sched_cos`,
        `sched_lin`, ..., or any jnp function).
      total_steps: the number of updates the fractions refer to, an int >= 1.

    Raises:
      ValueError: lengths differ, a negative fraction, or fractions not summing to 1.

    Examples:
      >>> import optx
      >>> from optx.schedules import sched_lin, sched_no
      >>> s = optx.schedules.combine_schedules(
      ...     [0.5, 0.5], [sched_lin(0.0, 1.0), sched_no(1.0, 1.0)], total_steps=4)
      >>> [float(s(i)) for i in range(5)]
      [0.0, 0.5, 1.0, 1.0, 1.0]
    """
    short = "combine_schedules"
    call = _validate.current_call(c.name(short))
    pcts = [float(p) for p in pcts]
    schedules = list(schedules)
    if len(pcts) != len(schedules) or not pcts:
        raise ValueError(
            f"{call}: pcts and schedules must have the same non-zero length, got "
            f"{len(pcts)} and {len(schedules)}"
        )
    for i, (p, s) in enumerate(zip(pcts, schedules)):
        c.check_range(short, f"pcts[{i}]", p, 0.0)
        c.check_schedule(short, f"schedules[{i}]", s)
    if abs(sum(pcts) - 1.0) > 1e-6:
        raise ValueError(f"{call}: pcts must sum to 1, got {pcts} (sum {sum(pcts):g})")
    c.check_steps(short, "total_steps", total_steps)
    phases = []
    for i, (p, curve) in enumerate(zip(pcts, schedules)):
        if p > 0:  # in counts, snapped to an int when float sums land next to one
            first = _snap(math.fsum(pcts[:i]) * total_steps)
            phases.append((first, p * total_steps, curve))

    def schedule(count):
        k = c.as_count(count)
        value = None
        for first, length, curve in phases:
            local = c.as_float(curve(jnp.clip((k - first) / length, 0, 1)))
            value = local if value is None else jnp.where(k >= first, local, value)
        return value

    return schedule


def _snap(x: float) -> float:
    nearest = round(x)
    return float(nearest) if abs(x - nearest) < 1e-9 * max(1.0, abs(x)) else x


class OneCycle(NamedTuple):
    """The learning-rate and momentum schedules of `onecycle`."""

    learning_rate: Schedule
    momentum: Schedule


@_validate.public_call("optx.schedules.onecycle")
def onecycle(
    total_steps: int,
    lr_max: Any,
    div: Any = 25.0,
    div_final: Any = 1e5,
    pct_start: float = 0.25,
    moms: tuple[Any, Any, Any] = (0.95, 0.85, 0.95),
) -> OneCycle:
    """fastai's one-cycle policy (``fit_one_cycle``): learning rate up then down, momentum opposite.

    Rule, with ``pos = count / total_steps`` and two half-cosine phases split at
    ``pct_start``::

        learning_rate: lr_max / div -> lr_max -> lr_max / div_final
        momentum:      moms[0]      -> moms[1] -> moms[2]

    Pass ``.learning_rate`` and ``.momentum`` to any optimizer:
    ``optx.sgd(oc.learning_rate, momentum=oc.momentum)`` or
    ``optx.adam(oc.learning_rate, b1=oc.momentum)`` (fastai's "mom" is Adam's b1). The
    learning rate equals Optax's ``cosine_onecycle_schedule(total_steps, lr_max, pct_start,
    div, div_final / div)``; Optax has no momentum schedule, and its default pct_start is 0.3.

    Args:
      total_steps: the number of updates of the cycle, an int >= 1.
      lr_max: the peak learning rate (may be traced).
      div: ``lr_max / div`` is the initial learning rate, > 0.
      div_final: ``lr_max / div_final`` is the final learning rate, > 0.
      pct_start: the fraction of the cycle spent warming up, in [0, 1].
      moms: the momentum at the start, at ``pct_start`` and at the end.

    Returns:
      A `OneCycle` named tuple ``(learning_rate, momentum)`` of schedules.

    Raises:
      ValueError: bad counts, fractions or factors.

    Examples:
      >>> import optx
      >>> oc = optx.schedules.onecycle(100, 1.0)
      >>> round(float(oc.learning_rate(0)), 6), float(oc.learning_rate(25))
      (0.04, 1.0)
      >>> round(float(oc.momentum(0)), 6), round(float(oc.momentum(25)), 6)
      (0.95, 0.85)

    References:
      Smith, 2018, A disciplined approach to neural network hyper-parameters: Part 1,
      https://arxiv.org/abs/1803.09820
    """
    short = "onecycle"
    c.check_number(short, "lr_max", lr_max)
    c.check_range(short, "div", div, 0.0, low_open=True)
    c.check_range(short, "div_final", div_final, 0.0, low_open=True)
    c.check_range(short, "pct_start", pct_start, 0.0, 1.0)
    moms = tuple(moms)
    if len(moms) != 3:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: moms must be 3 values (start, middle, "
            f"end), got {moms!r}"
        )
    for i, m in enumerate(moms):
        c.check_range(short, f"moms[{i}]", m, 0.0, 1.0, high_open=True)
    pcts = [pct_start, 1 - pct_start]
    lr = combine_schedules(
        pcts, [sched_cos(lr_max / div, lr_max), sched_cos(lr_max, lr_max / div_final)], total_steps
    )
    mom = combine_schedules(
        pcts, [sched_cos(moms[0], moms[1]), sched_cos(moms[1], moms[2])], total_steps
    )
    return OneCycle(lr, mom)


@_validate.public_call("optx.schedules.flat_cos")
def flat_cos(total_steps: int, lr: Any, div_final: Any = 1e5, pct_start: float = 0.75) -> Schedule:
    """fastai's ``fit_flat_cos`` learning rate: flat at ``lr``, then a half cosine down.

    Rule: ``lr`` for the first ``pct_start`` of ``total_steps``, then ``sched_cos(lr,
    lr / div_final)`` over the rest.

    Args:
      total_steps: an int >= 1.
      lr: the flat value (may be traced).
      div_final: ``lr / div_final`` is the final value, > 0.
      pct_start: the flat fraction, in [0, 1].

    Raises:
      ValueError: bad counts or fractions.

    Examples:
      >>> import optx
      >>> s = optx.schedules.flat_cos(4, 1.0, div_final=1e5, pct_start=0.5)
      >>> [round(float(s(i)), 5) for i in range(5)]
      [1.0, 1.0, 1.0, 0.5, 1e-05]
    """
    short = "flat_cos"
    c.check_number(short, "lr", lr)
    c.check_range(short, "div_final", div_final, 0.0, low_open=True)
    c.check_range(short, "pct_start", pct_start, 0.0, 1.0)
    return combine_schedules(
        [pct_start, 1 - pct_start], [sched_no(lr, lr), sched_cos(lr, lr / div_final)], total_steps
    )

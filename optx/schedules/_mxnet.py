"""MXNet's learning-rate schedulers (``mxnet.lr_scheduler``, 1.9), reproduced exactly.

MXNet calls a scheduler with the 1-based ``num_update`` (its counter is incremented before
the rate is read), so MXNet's update number ``n`` is optx's ``count + 1``: with
``factor_schedule(250, 0.5, base_lr=1.0)`` the 250th update (count 249) uses 1 and the 251st
(count 250) uses 0.5, as the MXNet tutorial says. MXNet's schedulers are stateful objects
that must be called in order; these are pure functions of the count, equal to MXNet's
values when it is called in order. The warmup is MXNet's: for ``n < warmup_steps`` the
value is ``warmup_begin_lr + (base_lr - warmup_begin_lr) * n / warmup_steps`` (linear) or
``warmup_begin_lr`` (constant).

Argument checks are MXNet's, raised as ``ValueError`` naming the schedule and argument:
``warmup_begin_lr > base_lr``, ``warmup_steps < 0`` (and not an int), an unknown
``warmup_mode``, ``step < 1``, ``factor > 1``, a ``multi_factor_schedule`` step list that
does not strictly increase, ``max_update < 1``. optx also rejects
``warmup_steps >= max_update`` in `poly_schedule` and `cosine_schedule` (MXNet divides by
zero or never decays there). Values that are traced (``base_lr`` swept under ``jax.vmap``)
are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c


def _check_warmup(short, base_lr, warmup_steps, warmup_begin_lr, warmup_mode):
    c.check_number(short, "base_lr", base_lr)
    c.check_number(short, "warmup_begin_lr", warmup_begin_lr)
    c.check_steps(short, "warmup_steps", warmup_steps, 0)
    _validate.check_choice(c.name(short), "warmup_mode", warmup_mode, ("linear", "constant"))
    base, begin = c.concrete(base_lr), c.concrete(warmup_begin_lr)
    if base is not None and begin is not None and begin > base:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: warmup_begin_lr must be <= base_lr "
            f"(MXNet: 'Base lr has to be higher than warmup_begin_lr'), got "
            f"warmup_begin_lr={begin:g} and base_lr={base:g}"
        )


def _with_warmup(after, base_lr, warmup_steps, warmup_begin_lr, warmup_mode) -> Schedule:
    """The schedule ``count -> warmup or after(n)``, ``n = count + 1`` as a float."""

    def schedule(count):
        n = c.as_count(count) + 1
        value = after(n)
        if warmup_steps == 0:
            return value
        begin = c.as_float(warmup_begin_lr)
        if warmup_mode == "linear":
            ramp = begin + (c.as_float(base_lr) - begin) * n / float(warmup_steps)
        else:
            ramp = begin
        return jnp.where(n < float(warmup_steps), ramp, value)

    return schedule


def _check_factor(short: str, factor: Any) -> None:
    c.check_number(short, "factor", factor)
    value = c.concrete(factor)
    if value is not None and value > 1:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: factor must be <= 1 so the rate "
            f"decreases, got {value:g}"
        )
    if value is not None and value <= 0:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: factor must be in (0, 1] (the "
            f"multiplier per decay), got {value:g}"
        )


@_validate.public_call("optx.schedules.factor_schedule")
def factor_schedule(
    step: int,
    factor: Any = 1.0,
    stop_factor_lr: Any = 1e-8,
    base_lr: Any = 0.01,
    warmup_steps: int = 0,
    warmup_begin_lr: Any = 0.0,
    warmup_mode: str = "linear",
) -> Schedule:
    """MXNet's ``FactorScheduler``: multiply by ``factor`` every ``step`` updates.

    Rule, with ``n = count + 1`` and ``k = floor((n - 1) / step)`` decays so far::

        value = base_lr                                    if k == 0
        value = max(base_lr * factor**k, stop_factor_lr)   otherwise

    after MXNet's warmup for ``n < warmup_steps``. The decays count from update 0, ignoring
    the warmup (as MXNet does).

    Args:
      step: updates between decays, an int >= 1.
      factor: the multiplier per decay, <= 1.
      stop_factor_lr: the floor the decays stop at.
      base_lr: the initial rate (may be traced).
      warmup_steps, warmup_begin_lr, warmup_mode: MXNet's warmup (see the module).

    Raises:
      ValueError: ``step < 1``, ``factor`` outside (0, 1] or a bad warmup (MXNet's checks).

    Examples:
      >>> import optx
      >>> s = optx.schedules.factor_schedule(250, 0.5, base_lr=1.0)
      >>> [float(s(count)) for count in (0, 249, 250, 499, 500)]
      [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    short = "factor_schedule"
    _check_warmup(short, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
    c.check_steps(short, "step", step)
    _check_factor(short, factor)
    c.check_number(short, "stop_factor_lr", stop_factor_lr)

    def after(n):
        k = jnp.floor((n - 1) / float(step))
        base = c.as_float(base_lr)
        decayed = jnp.maximum(base * c.as_float(factor) ** k, c.as_float(stop_factor_lr))
        return jnp.where(k > 0, decayed, base)

    return _with_warmup(after, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)


@_validate.public_call("optx.schedules.multi_factor_schedule")
def multi_factor_schedule(
    step: Sequence[int],
    factor: Any = 1.0,
    base_lr: Any = 0.01,
    warmup_steps: int = 0,
    warmup_begin_lr: Any = 0.0,
    warmup_mode: str = "linear",
) -> Schedule:
    """MXNet's ``MultiFactorScheduler``: multiply by ``factor`` after each listed update.

    Rule, with ``n = count + 1``: ``value = base_lr * factor ** #{i : n > step[i]}``
    (multiplied one factor at a time, in MXNet's order, so float64 values are bit-equal),
    after MXNet's warmup for ``n < warmup_steps``.

    Args:
      step: a non-empty, strictly increasing sequence of ints >= 1.
      factor: the multiplier at each step, <= 1.
      base_lr: the initial rate (may be traced).
      warmup_steps, warmup_begin_lr, warmup_mode: MXNet's warmup (see the module).

    Raises:
      ValueError: an empty, non-increasing or non-positive ``step`` list, ``factor > 1``,
        or a bad warmup (MXNet's checks).

    Examples:
      >>> import optx
      >>> s = optx.schedules.multi_factor_schedule([2, 4], 0.1, base_lr=1.0)
      >>> [round(float(s(count)), 6) for count in range(5)]
      [1.0, 1.0, 0.1, 0.1, 0.01]
    """
    short = "multi_factor_schedule"
    _check_warmup(short, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
    steps = list(step) if isinstance(step, (list, tuple)) else None
    if not steps:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: step must be a non-empty list of "
            f"increasing ints, got {step!r}"
        )
    for i, s in enumerate(steps):
        c.check_steps(short, f"step[{i}]", s)
        if i and s <= steps[i - 1]:
            raise ValueError(
                f"{_validate.current_call(c.name(short))}: step must be an increasing list "
                f"(MXNet: 'Schedule step must be an increasing integer list'), got {steps}"
            )
    _check_factor(short, factor)

    def after(n):
        value = c.as_float(base_lr)
        for s in steps:
            value = jnp.where(n > float(s), value * c.as_float(factor), value)
        return value

    return _with_warmup(after, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)


def _check_max_update(short: str, max_update: int, warmup_steps: int) -> None:
    c.check_steps(short, "max_update", max_update)
    if warmup_steps >= max_update:
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: warmup_steps must be < max_update, got "
            f"warmup_steps={warmup_steps} and max_update={max_update}"
        )


@_validate.public_call("optx.schedules.poly_schedule")
def poly_schedule(
    max_update: int,
    base_lr: Any = 0.01,
    pwr: Any = 2,
    final_lr: Any = 0.0,
    warmup_steps: int = 0,
    warmup_begin_lr: Any = 0.0,
    warmup_mode: str = "linear",
) -> Schedule:
    """MXNet's ``PolyScheduler``: polynomial decay to ``final_lr`` at update ``max_update``.

    Rule, with ``n = min(count + 1, max_update)`` and ``w = warmup_steps``::

        value = final_lr + (base_lr - final_lr) * (1 - (n - w) / (max_update - w)) ** pwr

    after MXNet's warmup for ``count + 1 < w``. The first update (count 0) already uses the
    decayed value (``0.998001`` for ``max_update=1000``), unlike
    `polynomial_schedule`, whose value at count 0 is ``init_value``.

    Args:
      max_update: the update at which ``final_lr`` is reached, an int >= 1.
      base_lr: the initial rate (may be traced).
      pwr: the power (an int is raised exactly).
      final_lr: the value from update ``max_update`` on.
      warmup_steps, warmup_begin_lr, warmup_mode: MXNet's warmup (see the module).

    Raises:
      ValueError: ``max_update < 1``, ``warmup_steps >= max_update`` or a bad warmup.

    Examples:
      >>> import optx
      >>> s = optx.schedules.poly_schedule(1000, base_lr=1.0, pwr=2)
      >>> [round(float(s(count)), 6) for count in (0, 499, 999)]
      [0.998001, 0.25, 0.0]
    """
    short = "poly_schedule"
    _check_warmup(short, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
    _check_max_update(short, max_update, warmup_steps)
    c.check_number(short, "pwr", pwr)
    c.check_number(short, "final_lr", final_lr)
    span = float(max_update - warmup_steps)

    def after(n):
        frac = (
            float(max_update) - jnp.minimum(n, float(max_update))
        ) / span  # never < 0 (rounding)
        p = pwr if isinstance(pwr, int) else c.as_float(pwr)
        final = c.as_float(final_lr)
        return final + (c.as_float(base_lr) - final) * frac**p

    return _with_warmup(after, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)


@_validate.public_call("optx.schedules.cosine_schedule")
def cosine_schedule(
    max_update: int,
    base_lr: Any = 0.01,
    final_lr: Any = 0.0,
    warmup_steps: int = 0,
    warmup_begin_lr: Any = 0.0,
    warmup_mode: str = "linear",
) -> Schedule:
    """MXNet's ``CosineScheduler``: half-cosine decay to ``final_lr`` at update ``max_update``.

    Rule, with ``n = min(count + 1, max_update)`` and ``w = warmup_steps``::

        value = final_lr + (base_lr - final_lr) * (1 + cos(pi * (n - w) / (max_update - w))) / 2

    after MXNet's warmup for ``count + 1 < w``. The first update already uses the decayed
    value, unlike `cosine_decay_schedule`.

    Args:
      max_update: the update at which ``final_lr`` is reached, an int >= 1.
      base_lr: the initial rate (may be traced).
      final_lr: the value from update ``max_update`` on.
      warmup_steps, warmup_begin_lr, warmup_mode: MXNet's warmup (see the module).

    Raises:
      ValueError: ``max_update < 1``, ``warmup_steps >= max_update`` or a bad warmup.

    Examples:
      >>> import optx
      >>> s = optx.schedules.cosine_schedule(100, base_lr=1.0, final_lr=0.1, warmup_steps=10)
      >>> [round(float(s(count)), 6) for count in (0, 9, 10, 54, 99)]
      [0.1, 1.0, 0.999726, 0.55, 0.1]
    """
    short = "cosine_schedule"
    _check_warmup(short, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
    _check_max_update(short, max_update, warmup_steps)
    c.check_number(short, "final_lr", final_lr)
    span = float(max_update - warmup_steps)

    def after(n):
        final = c.as_float(final_lr)
        angle = jnp.pi * (jnp.minimum(n, float(max_update)) - float(warmup_steps)) / span
        return final + (c.as_float(base_lr) - final) * (1 + jnp.cos(angle)) / 2

    return _with_warmup(after, base_lr, warmup_steps, warmup_begin_lr, warmup_mode)

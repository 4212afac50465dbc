"""Basic schedules: constant, linear, polynomial, exponential decay, piecewise.

Each factory validates its concrete arguments and returns a pure function of the 0-based
update count (the number of updates already applied). Values may be traced (swept under
``jax.vmap``); step counts and boundaries are Python ints. Signatures and values follow
Optax's schedules of the same shape, except that bad arguments raise instead of logging and
falling back to a constant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c


@_validate.public_call("optx.schedules.constant_schedule")
def constant_schedule(value: Any) -> Schedule:
    """A schedule that always returns ``value``.

    Args:
      value: a float or scalar array (may be traced).

    Examples:
      >>> import optx
      >>> float(optx.schedules.constant_schedule(0.1)(1000))
      0.1
    """
    c.check_number("constant_schedule", "value", value)

    def schedule(count):
        del count
        return c.as_float(value)

    return schedule


@_validate.public_call("optx.schedules.warmup_constant_schedule")
def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: int) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value``, then constant (Optax's name).

    Rule: ``init_value + (peak_value - init_value) * min(count, warmup_steps) / warmup_steps``,
    i.e. ``linear_schedule(init_value, peak_value, warmup_steps)``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.warmup_constant_schedule(0.0, 1.0, 4)
      >>> [float(s(i)) for i in (0, 2, 4, 9)]
      [0.0, 0.5, 1.0, 1.0]
    """
    c.check_number("warmup_constant_schedule", "init_value", init_value)
    c.check_number("warmup_constant_schedule", "peak_value", peak_value)
    return linear_schedule(init_value, peak_value, warmup_steps)


def linear_schedule(
    init_value: Any, end_value: Any, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """Linear interpolation from ``init_value`` to ``end_value``.

    Rule: with ``k = clip(count - transition_begin, 0, transition_steps)``,
    ``value = init_value + (end_value - init_value) * k / transition_steps``.

    Args:
      init_value: the value up to ``transition_begin``.
      end_value: the value from ``transition_begin + transition_steps`` on.
      transition_steps: length of the ramp, an int >= 1 (Optax logs and returns a constant
        for 0; optx raises).
      transition_begin: count at which the ramp starts, an int >= 0.

    Raises:
      ValueError: ``transition_steps < 1`` or ``transition_begin < 0``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.linear_schedule(1.0, 0.0, transition_steps=4)
      >>> [float(s(i)) for i in range(6)]
      [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    short = "linear_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_number(short, "end_value", end_value)
    c.check_steps(short, "transition_steps", transition_steps)
    c.check_steps(short, "transition_begin", transition_begin, 0)

    def schedule(count):
        k = jnp.clip(c.as_count(count) - float(transition_begin), 0.0, float(transition_steps))
        start = c.as_float(init_value)
        return start + (c.as_float(end_value) - start) * (k / float(transition_steps))

    return schedule


@_validate.public_call("optx.schedules.polynomial_schedule")
def polynomial_schedule(
    init_value: Any,
    end_value: Any,
    power: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Polynomial decay from ``init_value`` to ``end_value``.

    Rule: with ``k = clip(count - transition_begin, 0, transition_steps)``,
    ``value = end_value + (init_value - end_value) * (1 - k / transition_steps) ** power``.

    Args:
      init_value, end_value: the values at the start and end of the transition.
      power: the exponent, > 0 (``1`` is `linear_schedule`).
      transition_steps: an int >= 1.
      transition_begin: an int >= 0.

    Raises:
      ValueError: a non-positive power or bad step counts.

    Examples:
      >>> import optx
      >>> s = optx.schedules.polynomial_schedule(1.0, 0.0, power=2, transition_steps=2)
      >>> [float(s(i)) for i in range(3)]
      [1.0, 0.25, 0.0]
    """
    short = "polynomial_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_number(short, "end_value", end_value)
    c.check_range(short, "power", power, 0.0, low_open=True)
    c.check_steps(short, "transition_steps", transition_steps)
    c.check_steps(short, "transition_begin", transition_begin, 0)

    def schedule(count):
        steps = float(transition_steps)
        k = jnp.clip(c.as_count(count) - float(transition_begin), 0.0, steps)
        end = c.as_float(end_value)
        frac = (steps - k) / steps  # exact 0 at the end, never < 0
        p = power if isinstance(power, int) else c.as_float(power)
        return end + (c.as_float(init_value) - end) * frac**p

    return schedule


@_validate.public_call("optx.schedules.exponential_decay_schedule")
def exponential_decay_schedule(
    init_value: Any,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """Exponential decay: ``init_value * decay_rate ** (k / transition_steps)``.

    Rule: ``k = max(count - transition_begin, 0)``; with ``staircase=True`` the exponent is
    ``floor(k / transition_steps)``, so the value drops by ``decay_rate`` every
    ``transition_steps`` updates. ``end_value`` bounds the value (a floor when
    ``decay_rate < 1``, a ceiling when it is > 1). Optax's ``exponential_decay``.

    MXNet: ``FactorScheduler(step, factor)`` at ``num_update = count + 1`` equals
    ``exponential_decay_schedule(base_lr, step, factor, staircase=True)`` at ``count``
    (see `factor_schedule` for its floor and warmup).

    Args:
      init_value: the initial value.
      transition_steps: an int >= 1.
      decay_rate: the factor per ``transition_steps`` updates, >= 0.
      transition_begin: an int >= 0; the value is ``init_value`` until then.
      staircase: decay in discrete jumps.
      end_value: optional bound.

    Raises:
      ValueError: bad step counts or a negative ``decay_rate``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.exponential_decay_schedule(1.0, 2, 0.5, staircase=True)
      >>> [float(s(i)) for i in range(5)]
      [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    short = "exponential_decay_schedule"
    c.check_number(short, "init_value", init_value)
    c.check_steps(short, "transition_steps", transition_steps)
    c.check_range(short, "decay_rate", decay_rate, 0.0)
    c.check_steps(short, "transition_begin", transition_begin, 0)
    if end_value is not None:
        c.check_number(short, "end_value", end_value)

    def schedule(count):
        k = jnp.maximum(c.as_count(count) - float(transition_begin), 0.0)
        p = k / float(transition_steps)
        if staircase:
            p = jnp.floor(p)
        rate = c.as_float(decay_rate)
        value = c.as_float(init_value) * rate**p
        if end_value is not None:
            end = c.as_float(end_value)
            value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
        return value

    return schedule


def exponential_decay(
    init_value: Any,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """Optax's name for `exponential_decay_schedule` (same arguments, same values).

    Rule: ``init_value * decay_rate ** (max(count - transition_begin, 0) / transition_steps)``,
    see `exponential_decay_schedule`. Unlike Optax, bad step counts raise instead of
    falling back to a constant.

    Examples:
      >>> import optx
      >>> s = optx.schedules.exponential_decay(1.0, 2, 0.5)
      >>> [float(s(i)) for i in (0, 2, 4)]
      [1.0, 0.5, 0.25]
    """
    return exponential_decay_schedule(
        init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )


def _sorted_boundaries(short: str, boundaries_and_scales: Mapping[int, Any] | None):
    items = sorted((boundaries_and_scales or {}).items())
    for boundary, scale in items:
        c.check_steps(short, f"boundaries_and_scales key {boundary!r}", boundary, 0)
        c.check_range(short, f"boundaries_and_scales[{boundary}]", scale, 0.0)
    return [b for b, _ in items], [s for _, s in items]


@_validate.public_call("optx.schedules.piecewise_constant_schedule")
def piecewise_constant_schedule(
    init_value: Any, boundaries_and_scales: Mapping[int, Any] | None = None
) -> Schedule:
    """Piecewise constant: the value is multiplied by ``scale`` from count ``boundary`` on.

    Rule: ``value = init_value * prod(scale_i for boundary_i <= count)``.

    MXNet: ``MultiFactorScheduler(step=[s1, s2], factor=f)`` at ``num_update = count + 1``
    equals ``piecewise_constant_schedule(base_lr, {s1: f, s2: f})`` at ``count`` (see
    `multi_factor_schedule` for warmup).

    Args:
      init_value: the value before the first boundary.
      boundaries_and_scales: ``{count: scale}``, counts ints >= 0, scales >= 0.

    Raises:
      ValueError: a negative boundary or scale.

    Examples:
      >>> import optx
      >>> s = optx.schedules.piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.1})
      >>> [round(float(s(i)), 6) for i in range(6)]
      [1.0, 1.0, 0.5, 0.5, 0.05, 0.05]
    """
    short = "piecewise_constant_schedule"
    c.check_number(short, "init_value", init_value)
    boundaries, scales = _sorted_boundaries(short, boundaries_and_scales)

    def schedule(count):
        value = c.as_float(init_value)
        for boundary, scale in zip(boundaries, scales):
            value = jnp.where(c.before(count, boundary), value, value * c.as_float(scale))
        return value

    return schedule


def _interpolate(kind: str, start: jax.Array, end: jax.Array, pct: jax.Array) -> jax.Array:
    if kind == "linear":
        return start + (end - start) * pct
    return end + (start - end) * (1 + jnp.cos(jnp.pi * pct)) / 2


@_validate.public_call("optx.schedules.piecewise_interpolate_schedule")
def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: Any,
    boundaries_and_scales: Mapping[int, Any] | None = None,
) -> Schedule:
    """Interpolates (linearly or by a half cosine) between values set at boundaries.

    Rule: the value at boundary ``b_i`` is ``v_i = init_value * scale_1 * ... * scale_i``;
    between boundaries (and from ``v_0 = init_value`` at count 0 to ``v_1``) the value is
    interpolated; after the last boundary it stays ``v_last``. As Optax's schedule of the
    same name.

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"``.
      init_value: the value at count 0.
      boundaries_and_scales: ``{count: scale}``, counts ints >= 0, scales >= 0.

    Raises:
      ValueError: an unknown ``interpolate_type``, negative boundaries or scales.

    Examples:
      >>> import optx
      >>> s = optx.schedules.piecewise_interpolate_schedule("linear", 1.0, {4: 2.0})
      >>> [float(s(i)) for i in (0, 2, 4, 9)]
      [1.0, 1.5, 2.0, 2.0]
    """
    short = "piecewise_interpolate_schedule"
    _validate.check_choice(
        c.name(short), "interpolate_type", interpolate_type, ("linear", "cosine")
    )
    c.check_number(short, "init_value", init_value)
    boundaries, scales = _sorted_boundaries(short, boundaries_and_scales)
    bounds = [0, *boundaries]

    def schedule(count):
        exact = count
        count = c.as_count(count)
        values = [c.as_float(init_value)]
        for scale in scales:
            values.append(values[-1] * c.as_float(scale))
        result = values[-1]
        for i in reversed(range(len(boundaries))):
            size = float(max(bounds[i + 1] - bounds[i], 1))
            pct = (count - float(bounds[i])) / size
            inside = c.before(exact, bounds[i + 1])
            result = jnp.where(
                inside, _interpolate(interpolate_type, values[i], values[i + 1], pct), result
            )
        return result

    return schedule


@_validate.public_call("optx.schedules.inverse_sqrt_schedule")
def inverse_sqrt_schedule(peak_value: Any, warmup_steps: int) -> Schedule:
    """Linear warmup then inverse-square-root decay (the Transformer schedule).

    Rule, with ``n = count + 1`` (the 1-based update number)::

        value = peak_value * min(n / warmup_steps, sqrt(warmup_steps / n))

    so the value rises linearly to ``peak_value`` at update ``warmup_steps`` and then decays
    as ``1 / sqrt(n)``. With ``peak_value = (d_model * warmup_steps) ** -0.5`` this is
    exactly Vaswani et al.'s ``d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)`` with
    ``step = count + 1``. ``warmup_steps=0`` gives ``peak_value / sqrt(n)``.

    Args:
      peak_value: the largest value (may be traced).
      warmup_steps: an int >= 0.

    Raises:
      ValueError: a negative ``warmup_steps``.

    Examples:
      >>> import optx
      >>> s = optx.schedules.inverse_sqrt_schedule(1.0, 4)
      >>> [float(s(i)) for i in (0, 1, 3, 15)]
      [0.25, 0.5, 1.0, 0.5]

    References:
      Vaswani et al., 2017, Attention Is All You Need, https://arxiv.org/abs/1706.03762
    """
    short = "inverse_sqrt_schedule"
    c.check_number(short, "peak_value", peak_value)
    c.check_steps(short, "warmup_steps", warmup_steps, 0)

    def schedule(count):
        n = c.as_count(count) + 1
        peak = c.as_float(peak_value)
        if warmup_steps == 0:
            return peak * jax.lax.rsqrt(n)
        warm = float(warmup_steps)
        return peak * jnp.minimum(n / warm, jnp.sqrt(warm / n))

    return schedule

"""Cyclic schedules: SGDR warm restarts, Smith's cyclical rates, Optax-style one-cycle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from optx import _validate
from optx._core import Schedule
from optx.schedules import _common as c
from optx.schedules._basic import piecewise_interpolate_schedule
from optx.schedules._cosine import warmup_cosine_decay_schedule
from optx.schedules._join import join_schedules


@_validate.public_call("optx.schedules.sgdr_schedule")
def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    """Stochastic gradient descent with warm restarts: cosine cycles one after another.

    Each entry of ``cosine_kwargs`` holds the arguments of one
    `warmup_cosine_decay_schedule` cycle (``init_value``, ``peak_value``, ``warmup_steps``,
    ``decay_steps``, ...); cycle i starts where cycle i - 1's ``decay_steps`` end. As Optax's
    ``sgdr_schedule``. fastai's ``fit_sgdr(n_cycles, cycle_len, cycle_mult)`` is
    ``[dict(init_value=lr, peak_value=lr, warmup_steps=0, decay_steps=cycle_len *
    cycle_mult**i * steps_per_epoch) for i in range(n_cycles)]``.

    Args:
      cosine_kwargs: one mapping of `warmup_cosine_decay_schedule` arguments per cycle.

    Raises:
      ValueError: no cycles, or bad arguments in a cycle.

    Examples:
      >>> import optx
      >>> cycle = dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=2)
      >>> s = optx.schedules.sgdr_schedule([cycle, cycle])
      >>> [float(s(i)) for i in range(5)]
      [1.0, 0.5, 1.0, 0.5, 0.0]

    References:
      Loshchilov and Hutter, 2017, SGDR: Stochastic Gradient Descent with Warm Restarts,
      https://arxiv.org/abs/1608.03983
    """
    cycles = [dict(kwargs) for kwargs in cosine_kwargs]
    if not cycles:
        raise ValueError(f"{c.name('sgdr_schedule')}: cosine_kwargs has no cycles")
    schedules, boundaries, start = [], [], 0
    for kwargs in cycles:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        start += kwargs["decay_steps"]
        boundaries.append(start)
    return join_schedules(schedules, boundaries[:-1])


@_validate.public_call("optx.schedules.cyclic_schedule")
def cyclic_schedule(
    base_value: Any,
    max_value: Any,
    step_size: int,
    mode: str = "triangular",
    gamma: Any = 1.0,
    *,
    step_size_down: int | None = None,
) -> Schedule:
    """Cyclical values between ``base_value`` and ``max_value`` (Smith, 2017).

    Rule: a cycle rises for ``step_size`` updates and falls for ``step_size_down`` (default
    ``step_size``); ``f`` in [0, 1] is the position on that triangle and
    ``value = base_value + (max_value - base_value) * f * scale`` with ``scale``:

    - ``"triangular"``: 1;
    - ``"triangular2"``: ``1 / 2 ** (cycle - 1)``, halving the amplitude every cycle
      (``cycle`` is 1-based);
    - ``"exp_range"``: ``gamma ** count``.

    Equals PyTorch's ``CyclicLR`` (``step_size_up``, ``step_size_down``) at ``count``.

    Args:
      base_value: the lower bound (may be traced).
      max_value: the upper bound (may be traced).
      step_size: updates in the rising half of a cycle, an int >= 1.
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
      gamma: the decay per update of ``"exp_range"``, in (0, 1].
      step_size_down: updates in the falling half, an int >= 1 (default ``step_size``).

    Raises:
      ValueError: an unknown mode, bad step sizes, or gamma outside (0, 1].

    Examples:
      >>> import optx
      >>> s = optx.schedules.cyclic_schedule(0.0, 1.0, 2, mode="triangular2")
      >>> [float(s(i)) for i in range(8)]
      [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25]

    References:
      Smith, 2017, Cyclical Learning Rates for Training Neural Networks,
      https://arxiv.org/abs/1506.01186
    """
    short = "cyclic_schedule"
    c.check_number(short, "base_value", base_value)
    c.check_number(short, "max_value", max_value)
    c.check_steps(short, "step_size", step_size)
    modes = ("triangular", "triangular2", "exp_range")
    _validate.check_choice(c.name(short), "mode", mode, modes)
    c.check_range(short, "gamma", gamma, 0.0, 1.0, low_open=True)
    down = step_size if step_size_down is None else step_size_down
    c.check_steps(short, "step_size_down", down)
    total = float(step_size + down)
    up_ratio = step_size / total

    def schedule(count):
        k = c.as_count(count)
        cycle = jnp.floor(1 + k / total)
        x = 1 + k / total - cycle
        f = jnp.where(x <= up_ratio, x / up_ratio, (x - 1) / (up_ratio - 1))
        scale: float | jax.Array
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = 0.5 ** (cycle - 1)
        else:
            scale = c.as_float(gamma) ** k
        base = c.as_float(base_value)
        return base + (c.as_float(max_value) - base) * f * scale

    return schedule


def _check_onecycle(short, transition_steps, peak_value, div_factor, final_div_factor):
    c.check_steps(short, "transition_steps", transition_steps)
    c.check_number(short, "peak_value", peak_value)
    c.check_range(short, "div_factor", div_factor, 0.0, low_open=True)
    c.check_range(short, "final_div_factor", final_div_factor, 0.0, low_open=True)


def _boundaries(short: str, transition_steps: int, **pcts: float) -> list[int]:
    points = [int(pct * transition_steps) for pct in pcts.values()] + [transition_steps]
    if len(set(points)) != len(points):
        listed = ", ".join(f"{k}={v}" for k, v in pcts.items())
        raise ValueError(
            f"{_validate.current_call(c.name(short))}: {listed} give phase boundaries "
            f"{points} for transition_steps={transition_steps}; phases must not be empty "
            "(use more steps or spread the percentages)"
        )
    return points


@_validate.public_call("optx.schedules.linear_onecycle_schedule")
def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: Any = 25.0,
    final_div_factor: Any = 1e4,
) -> Schedule:
    """One-cycle with linear phases (Smith and Topin, 2018), as Optax's.

    Rule: linear from ``peak_value / div_factor`` (count 0) to ``peak_value`` (count
    ``int(pct_start * transition_steps)``), back to ``peak_value / div_factor`` (count
    ``int(pct_final * transition_steps)``), then to ``peak_value / (div_factor *
    final_div_factor)`` at ``transition_steps``, where it stays.

    Args:
      transition_steps: the total length, an int >= 1.
      peak_value: the largest value (may be traced).
      pct_start: fraction of the steps spent rising, in (0, 1).
      pct_final: fraction at which the annihilation phase starts, in (pct_start, 1).
      div_factor: ``peak_value / div_factor`` is the initial value, > 0.
      final_div_factor: the final value is the initial divided by this, > 0.

    Raises:
      ValueError: percentages out of order or phases with no steps.

    Examples:
      >>> import optx
      >>> s = optx.schedules.linear_onecycle_schedule(10, 1.0, 0.2, 0.6, div_factor=10.0)
      >>> [round(float(s(i)), 3) for i in (0, 1, 2, 4, 6)]
      [0.1, 0.55, 1.0, 0.55, 0.1]

    References:
      Smith and Topin, 2018, Super-Convergence: Very Fast Training of Neural Networks Using
      Large Learning Rates, https://arxiv.org/abs/1708.07120
    """
    short = "linear_onecycle_schedule"
    _check_onecycle(short, transition_steps, peak_value, div_factor, final_div_factor)
    c.check_range(short, "pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    c.check_range(short, "pct_final", pct_final, pct_start, 1.0, low_open=True, high_open=True)
    b1, b2, b3 = _boundaries(short, transition_steps, pct_start=pct_start, pct_final=pct_final)
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {b1: div_factor, b2: 1.0 / div_factor, b3: 1.0 / final_div_factor},
    )


@_validate.public_call("optx.schedules.cosine_onecycle_schedule")
def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: Any,
    pct_start: float = 0.3,
    div_factor: Any = 25.0,
    final_div_factor: Any = 1e4,
) -> Schedule:
    """One-cycle with half-cosine phases, as Optax's (and fastai's learning rate).

    Rule: half cosine from ``peak_value / div_factor`` (count 0) to ``peak_value`` (count
    ``int(pct_start * transition_steps)``), then to ``peak_value / (div_factor *
    final_div_factor)`` at ``transition_steps``. fastai's ``fit_one_cycle(lr_max, div,
    div_final, pct_start)`` learning rate equals this with ``final_div_factor =
    div_final / div`` (Optax's factor divides the *initial* value, fastai's ``lr_max``);
    `onecycle` takes fastai's arguments and also schedules the momentum.

    Args:
      transition_steps: the total length, an int >= 1.
      peak_value: the largest value (may be traced).
      pct_start: fraction of the steps spent rising, in (0, 1); Optax's default 0.3
        (fastai's is 0.25).
      div_factor: ``peak_value / div_factor`` is the initial value, > 0.
      final_div_factor: the final value is the initial divided by this, > 0.

    Raises:
      ValueError: ``pct_start`` out of (0, 1) or phases with no steps.

    Examples:
      >>> import optx
      >>> s = optx.schedules.cosine_onecycle_schedule(10, 1.0, 0.2, div_factor=10.0)
      >>> [round(float(s(i)), 3) for i in (0, 1, 2, 6)]
      [0.1, 0.55, 1.0, 0.5]
    """
    short = "cosine_onecycle_schedule"
    _check_onecycle(short, transition_steps, peak_value, div_factor, final_div_factor)
    c.check_range(short, "pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    b1, b2 = _boundaries(short, transition_steps, pct_start=pct_start)
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {b1: div_factor, b2: 1.0 / (div_factor * final_div_factor)},
    )

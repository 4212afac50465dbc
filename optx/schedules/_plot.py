"""Plotting schedules (needs matplotlib: ``pip install 'optx-jax[plot]'``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx.schedules import _common as c


def _named(schedules: Any) -> dict[str, Callable]:
    if callable(schedules):
        return {getattr(schedules, "__name__", "schedule"): schedules}
    if hasattr(schedules, "_asdict"):  # a NamedTuple such as onecycle's (learning_rate, momentum)
        schedules = schedules._asdict()
    if isinstance(schedules, Mapping) and schedules:
        for key, value in schedules.items():
            c.check_schedule("plot", f"schedules[{key!r}]", value)
        return {str(k): v for k, v in schedules.items()}
    raise TypeError(
        "optx.schedules.plot: schedules must be a schedule, a non-empty dict of schedules or "
        f"a named tuple of them (like onecycle's), got {schedules!r}"
    )


def plot(schedules: Any, steps: int | Sequence[int], *, title: str | None = None) -> Any:
    """Plots schedules against the update count and returns the matplotlib figure.

    Each schedule gets its own panel, side by side (as fastai's ``plot_sched``), so a
    learning rate and a momentum keep their own scales. Pass the result of `onecycle`
    directly to see both of its schedules. The figure is built without pyplot, so nothing
    is shown or kept open unless you display or save it (``fig.savefig("lr.png")``).

    Args:
      schedules: a schedule, a dict ``name -> schedule``, or a named tuple of schedules.
      steps: the number of updates (counts ``0 .. steps - 1``) or the counts to evaluate.
      title: an optional figure title.

    Returns:
      A ``matplotlib.figure.Figure``.

    Raises:
      ImportError: matplotlib is not installed (install the ``optx-jax[plot]`` extra).
      TypeError: ``schedules`` is not a schedule, dict or named tuple of schedules.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "optx.schedules.plot needs matplotlib: pip install 'optx-jax[plot]'"
        ) from error
    named = _named(schedules)
    if isinstance(steps, int):
        c.check_steps("plot", "steps", steps)
        counts = np.arange(steps)
    else:
        counts = np.asarray(steps)
    counts_jax = jnp.asarray(counts, jnp.int32)
    figure = Figure(figsize=(4 * len(named), 3), layout="constrained")
    axes = figure.subplots(1, len(named), squeeze=False)[0]
    for ax, (name, schedule) in zip(axes, named.items()):
        values = np.asarray(jax.vmap(schedule)(counts_jax))
        ax.plot(counts, np.broadcast_to(values, counts.shape))
        ax.set_xlabel("update count")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    if title is not None:
        figure.suptitle(title)
    return figure

"""The learning-rate finder and the one-cycle fit (fastai's ``lr_find`` and ``fit_one_cycle``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from optx._hyperparams_access import get_hyperparams
from optx.train._callbacks import ParamScheduler, Recorder
from optx.train._events import Callback, CancelFitException
from optx.train._loop import Loop, fit


class _LRFinder(Callback):
    """Exponential learning rate per batch; stops on divergence or after num_it batches."""

    order = 60
    run_after = (Recorder,)
    run_valid = False

    def __init__(self, start_lr: float, end_lr: float, num_it: int, stop_div: bool):
        self.start_lr, self.end_lr, self.num_it, self.stop_div = start_lr, end_lr, num_it, stop_div

    def before_fit(self) -> None:
        self.best = math.inf

    def before_batch(self) -> None:
        pos = self.loop.train_iter / self.num_it
        lr = self.start_lr * (self.end_lr / self.start_lr) ** pos
        self.loop.set_hyperparams(learning_rate=lr)

    def after_batch(self) -> None:
        smooth = self.loop.recorder.smooth_loss
        if smooth < self.best:
            self.best = smooth
        diverged = not math.isfinite(smooth) or smooth > 4 * self.best
        if (self.stop_div and diverged) or self.loop.train_iter >= self.num_it:
            raise CancelFitException()


def _valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """A rate inside the longest decreasing subsequence of the losses (fastai's ``valley``).

    The point is a third plus a sixth of the way from the subsequence's start, where the
    loss still falls steadily.
    """
    n = len(losses)
    length = np.ones(n, int)
    for i in range(1, n):
        earlier = [length[j] + 1 for j in range(i) if losses[i] < losses[j]]
        if earlier:
            length[i] = max(earlier)
    end = int(np.argmax(length))
    start = end - int(length[end]) + 1
    third = (end - start) / 3
    return float(lrs[start + int(third) + int(third / 2)])


class LRFinderResult:
    """What `lr_find` measured and suggests.

    Attributes:
      lrs, losses: the learning rates tried and the smoothed losses (numpy arrays).
      valley: fastai's default suggestion, inside the longest stretch of falling loss.
      minimum: the rate at the lowest loss, divided by 10.
      steep: the rate where the loss falls fastest against log(lr).
    """

    def __init__(self, lrs: Sequence[float], losses: Sequence[float]):
        self.lrs = np.asarray(lrs, np.float64)
        self.losses = np.asarray(losses, np.float64)
        n = len(self.lrs)
        lo, hi = (n // 10, n - 5) if n >= 20 else (0, n)
        kept_lrs, kept_losses = self.lrs[lo:hi], self.losses[lo:hi]
        keep = np.isfinite(kept_losses)
        kept_lrs, kept_losses = kept_lrs[keep], kept_losses[keep]
        if len(kept_lrs) < 3:
            raise ValueError(
                f"optx.train.lr_find: only {len(kept_lrs)} usable points; increase num_it or "
                "start_lr so the loss does not diverge at once"
            )
        self.minimum = float(kept_lrs[np.argmin(kept_losses)] / 10)
        slopes = np.diff(kept_losses) / np.diff(np.log(kept_lrs))
        self.steep = float(kept_lrs[int(np.argmin(slopes))])
        self.valley = _valley(kept_lrs, kept_losses)

    def __repr__(self) -> str:
        return (
            f"LRFinderResult(valley={self.valley:.3g}, minimum={self.minimum:.3g}, "
            f"steep={self.steep:.3g}, points={len(self.lrs)})"
        )

    def plot(self, ax: Any = None) -> Any:
        """Plots loss against learning rate (log scale) with the suggestions; a Figure."""
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(6, 4))
            ax = fig.subplots()
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        for name, marker in (("valley", "o"), ("minimum", "s"), ("steep", "^")):
            lr = getattr(self, name)
            ax.plot(
                [lr],
                [np.interp(np.log(lr), np.log(self.lrs), self.losses)],
                marker,
                label=f"{name} {lr:.2g}",
            )
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        ax.legend()
        return ax.figure


def _copy(tree: Any) -> Any:
    return jax.tree.map(lambda x: x.copy() if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


def lr_find(
    state: Any,
    step: Callable[[Any, Any], tuple[Any, dict]],
    data: Any,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
) -> LRFinderResult:
    """Tries exponentially increasing learning rates and suggests one (fastai's lr_find).

    Before the i-th batch the learning rate is set (`optx.set_hyperparams`, no
    recompilation) to ``start_lr * (end_lr / start_lr) ** (i / num_it)``. The run stops
    after ``num_it`` batches, or, with ``stop_div``, once the smoothed loss (`Recorder`)
    exceeds 4 times the best so far. It trains a copy of ``state``: the state you pass is
    left as it was (also with a step that donates its input). No validation.

    Args:
      state: a `TrainState` whose optimizer has a ``learning_rate`` that is not scheduled.
      step: the train step ``(state, batch) -> (state, metrics)``.
      data: batches (cycled as needed) or ``epoch -> iterable``, with a ``len``.
      start_lr, end_lr: the range, fastai's defaults 1e-7 to 10.
      num_it: number of batches (100).
      stop_div: stop when the loss diverges.

    Returns:
      An `LRFinderResult` with ``lrs``, ``losses``, the suggestions ``valley`` (use this),
      ``minimum`` and ``steep``, and ``plot()``.

    Raises:
      KeyError: the optimizer has no learning_rate. ValueError: it is scheduled.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(
            f"optx.train.lr_find: need 0 < start_lr < end_lr, got {start_lr} and {end_lr}"
        )
    first = data(0) if callable(data) and not hasattr(data, "__iter__") else data
    try:
        n = len(first)
    except TypeError:
        raise TypeError("optx.train.lr_find: data needs a len() (a list or sized loader)") from None
    if n == 0:
        raise ValueError("optx.train.lr_find: data has no batches")
    recorder = Recorder()
    finder = _LRFinder(start_lr, end_lr, num_it, stop_div)
    fit(_copy(state), step, data, math.ceil(num_it / n), callbacks=[recorder, finder])
    return LRFinderResult(recorder.lrs, recorder.losses)


def _cos(start: float, end: float, pos: float) -> float:
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combined_cos(pct: float, start: float, middle: float, end: float) -> Callable[[float], float]:
    """``pos -> value``: cosine from start to middle over [0, pct), then to end over [pct, 1].

    fastai's ``combined_cos``; the one-cycle learning rate and momentum schedules.

    Examples:
      >>> from optx.train import combined_cos
      >>> f = combined_cos(0.25, 1.0, 2.0, 0.0)
      >>> f(0.0), f(0.25), f(1.0)
      (1.0, 2.0, 0.0)
    """

    def schedule(pos: float) -> float:
        if pos < pct:
            return _cos(start, middle, pos / pct)
        return _cos(middle, end, (pos - pct) / (1 - pct)) if pct < 1 else middle

    return schedule


def fit_one_cycle(
    state: Any,
    step: Callable[[Any, Any], tuple[Any, dict]],
    data: Any,
    epochs: int,
    lr_max: float | None = None,
    *,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] | None = (0.95, 0.85, 0.95),
    callbacks: Sequence[Callback] = (),
    valid_data: Any = None,
    eval_step: Callable[[Any, Any], dict] | None = None,
) -> Loop:
    """`fit` with fastai's one-cycle policy for the learning rate and the momentum.

    With ``pos`` the fraction of training done, the learning rate follows
    ``combined_cos(pct_start, lr_max/div, lr_max, lr_max/div_final)`` and the momentum
    ``combined_cos(pct_start, *moms)``, set before every batch with `optx.set_hyperparams`.
    The momentum hyperparameter is ``momentum`` (`optx.sgd`, `optx.rmsprop`) or ``b1``
    (Adam-like). Defaults are fastai's; Optax's ``cosine_onecycle_schedule`` differs
    (pct_start 0.3, ``final_div_factor`` divides the initial rate, no momentum).

    Args:
      state, step, data, epochs, callbacks, valid_data, eval_step: as for `fit`.
      lr_max: the peak rate (default: the optimizer's current learning rate).
      div, div_final: the rate starts at lr_max/div and ends at lr_max/div_final.
      pct_start: the fraction of training spent warming up.
      moms: (start, middle, end) momentum, or None to leave the momentum alone.

    Raises:
      ValueError: ``moms`` given but the optimizer has neither ``momentum`` nor ``b1``,
        or a hyperparameter is scheduled inside the optimizer.
    """
    if not 0 <= pct_start <= 1:
        raise ValueError(f"optx.train.fit_one_cycle: pct_start must be in [0, 1], got {pct_start}")
    known = get_hyperparams(state.opt_state)
    if lr_max is None:
        if "learning_rate" not in known:
            raise KeyError("optx.train.fit_one_cycle: the optimizer has no learning_rate")
        lr_max = float(np.max(np.asarray(known["learning_rate"])))
    schedules = {"learning_rate": combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final)}
    if moms is not None:
        bare = {k.split("/")[-1] for k in known}
        name = next((n for n in ("momentum", "b1") if n in bare), None)
        if name is None:
            raise ValueError(
                "optx.train.fit_one_cycle: the optimizer has no momentum hyperparameter "
                f"('momentum' or 'b1'; it has {sorted(known)}). Give it one (e.g. "
                "optx.sgd(lr, momentum=0.9)) or pass moms=None"
            )
        schedules[name] = combined_cos(pct_start, *moms)
    return fit(
        state,
        step,
        data,
        epochs,
        callbacks=[ParamScheduler(schedules), *callbacks],
        valid_data=valid_data,
        eval_step=eval_step,
    )

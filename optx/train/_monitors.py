"""Callbacks that monitor a metric across epochs: EarlyStopping, ReduceLROnPlateau, Checkpoint."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from optx._hyperparams_access import get_hyperparams
from optx.train._callbacks import Recorder, TerminateOnNaN
from optx.train._ckpt_manager import CheckpointManager
from optx.train._events import Callback, CancelFitException


class _Tracker(Callback):
    """Shared monitoring for EarlyStopping, ReduceLROnPlateau and Checkpoint(monitor=...)."""

    order = 55
    run_after: Sequence[Any] = (Recorder,)
    run_valid = False

    def __init__(self, monitor: str, mode: str, min_delta: float):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{self._call}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            increasing = ("acc", "f1", "auc", "r2", "score", "precision", "recall")
            mode = "max" if any(w in monitor.lower() for w in increasing) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))

    @property
    def _call(self) -> str:
        return f"optx.train.{type(self).__name__}"

    def before_fit(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0

    def _value(self) -> float:
        loop = self.loop
        if self.monitor == "train_loss":
            rec = loop.recorder
            return rec.smooth_loss if rec is not None else loop.loss
        if self.monitor not in loop.valid_metrics:
            raise KeyError(
                f"{self._call}: monitor {self.monitor!r} is not available; this fit has "
                f"{['train_loss', *loop.valid_metrics]} (validation metrics need valid_data)"
            )
        return float(loop.valid_metrics[self.monitor])

    def _improved(self) -> bool:
        value = self._value()
        better = (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        )
        if better:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        return better


class EarlyStopping(_Tracker):
    """Stops the fit when ``monitor`` has not improved for ``patience`` epochs.

    Improvement means below ``best - min_delta`` (``mode='min'``) or above
    ``best + min_delta`` (``'max'``; ``'auto'`` picks max for accuracy-like names).
    fastai's defaults. ``stopped_epoch`` is the epoch it stopped at, or None.
    """

    def __init__(
        self,
        monitor: str = "valid_loss",
        min_delta: float = 0.0,
        patience: int = 1,
        mode: str = "auto",
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience

    def before_fit(self) -> None:
        super().before_fit()
        self.stopped_epoch: int | None = None

    def after_epoch(self) -> None:
        if not self._improved() and self.wait >= self.patience:
            self.stopped_epoch = self.loop.epoch
            raise CancelFitException()


class ReduceLROnPlateau(_Tracker):
    """Divides the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs.

    fastai's convention and defaults (``factor=10.`` divides; Optax's
    ``reduce_on_plateau(factor=0.1)`` multiplies), never below ``min_lr``. Sets the value
    with `optx.set_hyperparams` (every hyperparameter named ``hyperparam``), so a jitted
    step does not recompile. ``reductions`` lists ``(epoch, new_lr)``.
    """

    def __init__(
        self,
        monitor: str = "valid_loss",
        min_delta: float = 0.0,
        patience: int = 1,
        factor: float = 10.0,
        min_lr: float = 0.0,
        mode: str = "auto",
        hyperparam: str = "learning_rate",
    ):
        super().__init__(monitor, mode, min_delta)
        if not factor > 1:
            raise ValueError(
                f"optx.train.ReduceLROnPlateau: factor divides the rate and must be > 1, got "
                f"{factor} (Optax's factor=0.1 is factor=10 here)"
            )
        self.patience, self.factor, self.min_lr, self.hyperparam = (
            patience,
            factor,
            min_lr,
            hyperparam,
        )

    def before_fit(self) -> None:
        super().before_fit()
        self.reductions: list[tuple[int, float]] = []

    def after_epoch(self) -> None:
        if self._improved() or self.wait < self.patience:
            return
        current = get_hyperparams(self.loop.state.opt_state)
        keys = [k for k in current if k.split("/")[-1] == self.hyperparam]
        if not keys:
            raise KeyError(f"{self._call}: the optimizer has no {self.hyperparam!r}")
        new = {k: np.maximum(np.asarray(current[k]) / self.factor, self.min_lr) for k in keys}
        self.loop.set_hyperparams(**new)
        self.reductions.append((self.loop.epoch, float(np.max(new[keys[0]]))))
        self.wait = 0


class Checkpoint(_Tracker):
    """Saves ``loop.state`` with a `CheckpointManager` (sharded, asynchronous, verified).

    Saves every ``every_n_steps`` training batches and/or at each epoch end, and at the end
    of a fit that was not cancelled; with ``monitor``, saves instead only at epoch ends where
    the monitored value improved (the best model, ranked by the manager too). Each save is
    the step ``loop.train_iter`` under ``directory``; its metadata holds ``train_iter`` and
    ``epoch``. Saves run in the background while training goes on; the fit waits for the
    last one before it returns. With ``resume=True``, the latest checkpoint in
    ``directory`` is restored in ``before_fit`` (verified and checked against the current
    state) and the loop skips the batches it had done, so a killed run restarted with the
    same script and data ends where an uninterrupted run would.

    Args:
      directory: the manager's directory (``directory/<train_iter>`` per checkpoint).
      every_n_steps: save after every n-th training batch (None: not by steps).
      every_epoch: save at every epoch end.
      monitor, mode, min_delta: keep only the best state by this metric.
      resume: restore the latest checkpoint in ``directory`` when there is one.
      max_to_keep: how many checkpoints to keep (None: all).
      asynchronous: write in the background (False: each save finishes first).

    Attributes:
      manager: the `CheckpointManager`.
      saves: saves made in this fit; resumed_from: the ``train_iter`` resumed from, or None.
    """

    order = 70
    run_after = (Recorder, TerminateOnNaN)

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        every_n_steps: int | None = None,
        every_epoch: bool = True,
        monitor: str | None = None,
        mode: str = "auto",
        min_delta: float = 0.0,
        resume: bool = False,
        max_to_keep: int | None = 1,
        asynchronous: bool = True,
    ):
        super().__init__(monitor or "valid_loss", mode, min_delta)
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, int)
            or every_n_steps < 1
        ):
            raise ValueError(
                f"optx.train.Checkpoint: every_n_steps must be an int >= 1 or None, got "
                f"{every_n_steps!r}"
            )
        if monitor is not None and resume:
            raise ValueError(
                "optx.train.Checkpoint: resume=True continues from the latest state; with "
                "monitor= the directory holds the best state instead. Use two Checkpoints."
            )
        self.manager = CheckpointManager(
            directory,
            max_to_keep=max_to_keep,
            best_metric=monitor,
            best_mode=self.mode,
            asynchronous=asynchronous,
        )
        self.directory = self.manager.directory
        self.every_n_steps, self.every_epoch = every_n_steps, every_epoch
        self.use_monitor, self.resume = monitor is not None, resume

    def before_fit(self) -> None:
        super().before_fit()
        self.saves, self.resumed_from, self._cancelled = 0, None, False
        self._last: int | None = None
        if self.resume and self.manager.latest_step() is not None:
            self.loop.state = self.manager.restore(target=self.loop.state)
            meta = self.manager.metadata()
            self.loop.resume_iter = self.resumed_from = self._last = int(meta["train_iter"])

    def _save(self, metrics: dict | None = None) -> None:
        loop = self.loop
        if loop.train_iter == self._last:  # this state is saved already
            return
        meta = {"train_iter": loop.train_iter, "epoch": loop.epoch}
        self.manager.save(loop.train_iter, loop.state, metrics=metrics, metadata=meta, force=True)
        self._last = loop.train_iter
        self.saves += 1

    def after_batch(self) -> None:
        n = self.every_n_steps
        if n and not self.use_monitor and self.loop.train_iter % n == 0:
            self._save()

    def after_epoch(self) -> None:
        if self.use_monitor:
            if self._improved():
                self._last = None  # a better state at the same step replaces the saved one
                self._save({self.monitor: self.best})
        elif self.every_epoch:
            self._save()

    def after_cancel_fit(self) -> None:
        self._cancelled = True

    def after_fit(self) -> None:
        if not self.use_monitor and not self._cancelled:
            self._save()
        self.manager.wait()

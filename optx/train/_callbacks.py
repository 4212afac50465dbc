"""Built-in callbacks: Recorder, TerminateOnNaN, ProgressBar and ParamScheduler.

EarlyStopping, ReduceLROnPlateau and Checkpoint live in ``_monitors``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optx._hyperparams_access import get_hyperparams
from optx.train._events import Callback, CancelFitException

_MOMENTUM_NAMES = ("momentum", "b1")


def _scalars(values: Mapping[str, Any], n: int) -> dict[str, list[float]]:
    """name -> n floats (a value with n entries gives one per step, else it is repeated)."""
    out = {}
    for name, value in values.items():
        flat = np.asarray(value, np.float64).reshape(-1)
        if flat.size == n:
            out[name] = flat.tolist()
        elif flat.size == 1:
            out[name] = [float(flat[0])] * n
    return out


class Recorder(Callback):
    """Records losses (raw and smoothed), hyperparameters and per-epoch results.

    The smoothed loss is an exponential moving average with ``beta`` (0.98, fastai's),
    debiased: ``avg = beta * avg + (1 - beta) * loss``, ``smooth = avg / (1 - beta**n)``.
    One entry per train step (a step that runs several steps per call gives several).
    `optx.train.fit` adds a Recorder when none is given.

    Attributes:
      losses, raw_losses: smoothed and raw training losses.
      hps: hyperparameter name -> values (``lrs`` and ``moms`` are shortcuts for
        ``learning_rate`` and ``momentum`` or ``b1``).
      values: one dict per epoch: ``epoch`` (the 0-based index, ``loop.epoch``; the
        ProgressBar shows it 1-based, ``epoch k/n`` for ``epoch == k - 1``), ``train_loss``
        (smoothed), the validation metrics (``valid_loss``, ...) and ``time`` in seconds.
      smooth_loss: the latest smoothed loss.
    """

    order = 50
    run_valid = False

    def __init__(self, beta: float = 0.98):
        if not 0 <= beta < 1:
            raise ValueError(f"optx.train.Recorder: beta must be in [0, 1), got {beta}")
        self.beta = beta
        self._reset()

    def _reset(self) -> None:
        self.losses: list[float] = []
        self.raw_losses: list[float] = []
        self.hps: dict[str, list[float]] = {}
        self.values: list[dict[str, float]] = []
        self.smooth_loss = float("nan")
        self._avg, self._count, self._start = 0.0, 0, time.perf_counter()

    @property
    def lrs(self) -> list[float]:
        """Learning rates, one per recorded step."""
        return self.hps.get("learning_rate", [])

    @property
    def moms(self) -> list[float]:
        """Momenta (``momentum`` or ``b1``), one per recorded step."""
        return next((self.hps[n] for n in _MOMENTUM_NAMES if n in self.hps), [])

    def before_fit(self) -> None:
        self._reset()

    def before_epoch(self) -> None:
        self._start = time.perf_counter()

    def after_batch(self) -> None:
        loop = self.loop
        if not loop.metrics:  # cancelled before the step ran
            return
        for loss in loop.step_losses:
            self._count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * float(loss)
            self.smooth_loss = self._avg / (1 - self.beta**self._count)
            self.raw_losses.append(float(loss))
            self.losses.append(self.smooth_loss)
        hps = loop.metrics.get("hyperparams")
        if hps is None and hasattr(loop.state, "opt_state"):
            hps = get_hyperparams(loop.state.opt_state)
        for name, vals in _scalars(hps or {}, len(loop.step_losses)).items():
            self.hps.setdefault(name, []).extend(vals)

    def after_epoch(self) -> None:
        row = {"epoch": self.loop.epoch, "train_loss": self.smooth_loss}
        row.update(self.loop.valid_metrics)
        row["time"] = time.perf_counter() - self._start
        self.values.append(row)

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True, ax: Any = None) -> Any:
        """Plots smoothed training losses (and validation losses at epoch ends).

        Returns the matplotlib Figure (matplotlib is imported only here).
        """
        fig, ax = _axes(ax)
        steps = np.arange(len(self.losses))
        ax.plot(steps[skip_start:], self.losses[skip_start:], label="train (smoothed)")
        valid = [(i, r["valid_loss"]) for i, r in enumerate(self.values) if "valid_loss" in r]
        if with_valid and valid and self.values:
            per_epoch = len(self.losses) / len(self.values)
            xs = [per_epoch * (i + 1) - 1 for i, _ in valid]
            ax.plot(xs, [v for _, v in valid], "o-", label="valid")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
        return fig

    def plot_sched(self, keys: tuple[str, ...] | None = None) -> Any:
        """Plots the recorded hyperparameters (all of them, or ``keys``) against the step."""
        names = list(keys or self.hps)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4 * max(len(names), 1), 3))
        axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
        for ax, name in zip(axes, names):
            ax.plot(self.hps[name])
            ax.set_title(name)
            ax.set_xlabel("step")
        return fig


def _axes(ax: Any) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    return fig, fig.subplots()


class TerminateOnNaN(Callback):
    """Stops the fit (`CancelFitException`) when a training loss is NaN or infinite.

    Runs before the `Recorder`, as fastai's does. ``stopped_at`` is the training batch
    (``loop.train_iter``) that produced it, or None.
    """

    run_before = (Recorder,)
    run_valid = False

    def before_fit(self) -> None:
        self.stopped_at: int | None = None

    def after_batch(self) -> None:
        if self.loop.metrics and not np.all(np.isfinite(self.loop.step_losses)):
            self.stopped_at = self.loop.train_iter
            raise CancelFitException()


class ProgressBar(Callback):
    """Shows progress: a tqdm bar per epoch when tqdm is installed, else plain text lines.

    After each epoch it writes one line, ``epoch 3/3  train_loss ...  time 0.1s``. Epochs
    are shown 1-based, as "the 3rd of 3"; every ``epoch`` field (``loop.epoch``, the
    Recorder's ``values[i]["epoch"]``, ``EarlyStopping.stopped_epoch``, checkpoint
    metadata) is the 0-based index, as in fastai and Python. So the line ``epoch k/n``
    shows the record whose ``epoch`` is ``k - 1``.

    Args:
      use_tqdm: True (needs tqdm: ``pip install 'optx-jax[progress]'``), False for plain
        text lines, or None to use tqdm when it can be imported.
      file: where to write (default ``sys.stderr``).

    Raises:
      ModuleNotFoundError: ``use_tqdm=True`` and tqdm is not installed.
      TypeError: ``use_tqdm`` is not True, False or None.
    """

    order = 52  # after the Recorder, before the trackers (55) whose cancel ends the epoch
    run_after = (Recorder,)
    run_valid = False

    def __init__(self, use_tqdm: bool | None = None, file: Any = None):
        if use_tqdm is not None and not isinstance(use_tqdm, bool):
            raise TypeError(
                f"optx.train.ProgressBar: use_tqdm must be True, False or None, got {use_tqdm!r}"
            )
        if use_tqdm is not False:
            try:
                import tqdm.auto  # noqa: F401
            except ImportError as error:
                if use_tqdm:
                    raise ModuleNotFoundError(
                        "optx.train.ProgressBar(use_tqdm=True): tqdm is not installed. Install "
                        "it with pip install 'optx-jax[progress]' (or pip install tqdm), or "
                        "pass use_tqdm=False for plain text lines (use_tqdm=None uses tqdm "
                        "only when it is installed).",
                        name="tqdm",
                    ) from error
                use_tqdm = False
            else:
                use_tqdm = True
        self.use_tqdm = use_tqdm
        self.file = file
        self._bar: Any = None

    def _write(self, text: str) -> None:
        out = self.file or sys.stderr
        if self.use_tqdm:
            from tqdm.auto import tqdm

            tqdm.write(text, file=out)
        else:
            print(text, file=out, flush=True)

    def before_train(self) -> None:
        if self.use_tqdm:
            from tqdm.auto import tqdm

            loop = self.loop
            self._bar = tqdm(
                total=loop.n_iter,
                desc=f"epoch {loop.epoch + 1}/{loop.n_epoch}",
                file=self.file or sys.stderr,
                leave=False,
            )

    def after_batch(self) -> None:
        if self._bar is not None:
            rec = self.loop.recorder
            self._bar.update(1)
            loss = rec.smooth_loss if rec is not None else self.loop.loss
            self._bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def after_train(self) -> None:
        if self._bar is not None:
            self._bar.refresh()
            self._bar.close()
            self._bar = None

    def after_epoch(self) -> None:
        loop = self.loop
        rec = loop.recorder
        row = rec.values[-1] if rec is not None and rec.values else {}
        parts = [f"epoch {loop.epoch + 1}/{loop.n_epoch}"]
        parts += [f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "time")]
        if "time" in row:
            parts.append(f"time {row['time']:.1f}s")
        self._write("  ".join(parts))

    def after_fit(self) -> None:
        self.after_train()


class ParamScheduler(Callback):
    """Sets hyperparameters before every training batch from schedules of ``pct_train``.

    Each schedule maps the fraction of the fit done, ``pos`` in [0, 1), to a value (fastai's
    convention: schedules of position, not of step). Values are set with
    `optx.set_hyperparams`, so the jitted step does not recompile; the hyperparameter must
    not be driven by a schedule inside the optimizer. The data must have a ``len``.

    Args:
      schedules: hyperparameter name -> ``pos -> value``.
    """

    order = 10
    run_valid = False

    def __init__(self, schedules: Mapping[str, Callable[[float], Any]]):
        self.schedules = dict(schedules)

    def before_fit(self) -> None:
        known = get_hyperparams(self.loop.state.opt_state)
        missing = [
            n
            for n in self.schedules
            if n not in known and not any(k.split("/")[-1] == n for k in known)
        ]
        if missing:
            raise KeyError(
                f"optx.train.ParamScheduler: the optimizer has no hyperparameter {missing}; "
                f"it has {sorted(known)}"
            )

    def before_batch(self) -> None:
        pos = self.loop.pct_train
        if pos is None:
            raise ValueError(
                "optx.train.ParamScheduler: the data has no len(), so the position in the "
                "fit is unknown; pass a list or a loader with __len__"
            )
        self.loop.set_hyperparams(**{n: f(pos) for n, f in self.schedules.items()})

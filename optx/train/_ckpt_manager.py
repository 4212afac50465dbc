"""CheckpointManager: one verified checkpoint per step, the last N and the best kept."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from typing import Any

from optx.train import _checkpoint, _ckpt_tree
from optx.train._ckpt_tree import CheckpointError

_CALL = "optx.train.CheckpointManager"


class CheckpointManager:
    """Saves a checkpoint per step under ``directory`` (``directory/<step>``) and prunes them.

    Each step is a checkpoint as written by `optx.train.save` (every process writes its own
    shards, a manifest of sha256 sums written last, committed by an atomic rename), so
    `restore` verifies it and refuses a mismatching target. Saves are asynchronous by
    default: `save` returns once the arrays are copied to host memory, the next `save`
    (or `restore`, `wait`) waits for the previous one. Call `wait` (or use the manager as a
    context manager) before the program exits.

    Kept after each save: the ``max_to_keep`` latest steps, plus the ``keep_best`` best by
    ``metrics[best_metric]`` (``best_mode`` "min" or "max"). Steps saved without that
    metric are never "best". Everything else is deleted by process 0.

    Args:
      directory: where the step directories go (created when missing).
      max_to_keep: how many of the latest steps to keep (None: all).
      best_metric: the metric name that ranks checkpoints for ``keep_best``.
      best_mode: "min" or "max".
      keep_best: how many of the best steps to keep besides the latest.
      asynchronous: write in the background (True) or finish each save before returning.

    Raises:
      ValueError: a bad ``max_to_keep``, ``keep_best`` or ``best_mode``, or ``keep_best``
        without ``best_metric``.

    Examples:
      >>> import tempfile, jax.numpy as jnp, optx
      >>> state = optx.train.TrainState.create({"w": jnp.ones(2)}, optx.sgd(0.1))
      >>> with optx.train.CheckpointManager(tempfile.mkdtemp(), max_to_keep=2) as manager:
      ...     for step in range(3):
      ...         manager.save(step, state, metrics={"loss": 1.0 / (step + 1)})
      ...     manager.wait()
      ...     manager.all_steps(), manager.latest_step()
      ([1, 2], 2)
      >>> restored = manager.restore(target=state)
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        max_to_keep: int | None = None,
        best_metric: str | None = None,
        best_mode: str = "min",
        keep_best: int = 1,
        asynchronous: bool = True,
    ):
        for name, value, low in (("max_to_keep", max_to_keep, 1), ("keep_best", keep_best, 0)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < low):  # fmt: skip
                raise ValueError(f"{_CALL}: {name} must be an int >= {low} or None, got {value!r}")
        if best_mode not in ("min", "max"):
            raise ValueError(f"{_CALL}: best_mode must be 'min' or 'max', got {best_mode!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.max_to_keep, self.best_metric, self.best_mode = max_to_keep, best_metric, best_mode
        self.keep_best = keep_best if best_metric is not None else 0
        self.asynchronous = asynchronous
        self._pending: _checkpoint.PendingSave | None = None
        self._metrics: dict[int, dict[str, float]] = {}

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _step_path(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def all_steps(self) -> list[int]:
        """The committed steps, ascending (a save still running is not one yet)."""
        if not os.path.isdir(self.directory):
            return []
        steps = []
        for name in os.listdir(self.directory):
            full = os.path.join(self.directory, name)
            if name.isdigit() and os.path.exists(os.path.join(full, _ckpt_tree.MANIFEST)):
                steps.append(int(name))
        return sorted(steps)

    def latest_step(self) -> int | None:
        """The latest committed step, or None."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def metrics(self, step: int) -> dict[str, float]:
        """The metrics saved with ``step`` (read from its optx.json, not verified)."""
        if step not in self._metrics:
            try:
                with open(os.path.join(self._step_path(step), _ckpt_tree.INFO)) as f:
                    self._metrics[step] = dict(json.load(f).get("metrics", {}))
            except (OSError, ValueError):
                return {}
        return self._metrics[step]

    def best_step(self) -> int | None:
        """The committed step with the best ``best_metric`` (None without one)."""
        ranked = self._ranked(self.all_steps())
        return ranked[0] if ranked else None

    def _ranked(self, steps: list[int]) -> list[int]:
        if self.best_metric is None:
            return []
        scored = []
        for step in steps:
            value = self.metrics(step).get(self.best_metric)
            if isinstance(value, (int, float)) and not math.isnan(value):
                scored.append((value if self.best_mode == "min" else -value, -step, step))
        return [step for *_, step in sorted(scored)]

    def _prune(self) -> None:
        steps = self.all_steps()
        keep = set(steps if self.max_to_keep is None else steps[-self.max_to_keep :])
        keep |= set(self._ranked(steps)[: self.keep_best])
        for step in steps:
            if step not in keep:
                shutil.rmtree(self._step_path(step), ignore_errors=True)
                self._metrics.pop(step, None)

    def save(
        self,
        step: int,
        tree: Any,
        *,
        metrics: Mapping[str, float] | None = None,
        metadata: dict | None = None,
        force: bool = False,
    ) -> None:
        """Saves ``tree`` as ``step`` (every process calls it), then prunes old steps.

        Args:
          step: a non-negative int, the checkpoint's name.
          tree: the pytree to save (a `TrainState`, ...).
          metrics: numbers that rank the checkpoint (``best_metric``).
          metadata: a JSON-serializable dict (`metadata`).
          force: replace an existing checkpoint of the same step.

        Raises:
          CheckpointError: ``step`` exists without ``force``; see `optx.train.save`.
          ValueError: ``step`` is not an int >= 0.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"{_CALL}.save: step must be an int >= 0, got {step!r}")
        self.wait()
        clean = {k: float(v) for k, v in (metrics or {}).items()}
        self._pending = _checkpoint.start_save(
            self._step_path(step),
            tree,
            metadata=metadata,
            extra={"step": step, "metrics": clean},
            force=force,
            on_commit=self._prune,
            call=f"{_CALL}.save",
        )
        self._metrics[step] = clean
        if not self.asynchronous:
            self.wait()

    def wait(self) -> None:
        """Blocks until the running save is committed; raises its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.wait()

    def restore(self, step: int | None = None, target: Any = None) -> Any:
        """Restores ``step`` (default: the latest) into ``target``; see `optx.train.restore`.

        Raises:
          CheckpointError: no committed checkpoint in ``directory``; or what
            `optx.train.restore` raises.
        """
        self.wait()
        if step is None:
            step = self.latest_step()
            if step is None:
                raise CheckpointError(f"{_CALL}.restore: no checkpoint in {self.directory}")
        return _checkpoint.restore(self._step_path(step), target)

    def metadata(self, step: int | None = None) -> dict:
        """The metadata saved with ``step`` (default: the latest), verified."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{_CALL}.metadata: no checkpoint in {self.directory}")
        return _checkpoint.read_metadata(self._step_path(step))

    def close(self) -> None:
        """Waits for the running save."""
        self.wait()

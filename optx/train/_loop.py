"""The host loop: ``fit(state, step, data, epochs, callbacks=...)`` with fastai's events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import numpy as np

from optx._hyperparams_access import get_hyperparams, set_hyperparams
from optx.train._events import (
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    sort_callbacks,
)

_INNER = frozenset(
    "before_batch after_pred after_loss before_backward after_backward before_step "
    "after_cancel_step after_step after_cancel_batch after_batch".split()
)


def _batches(data: Any, epoch: int, what: str) -> Iterable[Any]:
    if callable(data) and not hasattr(data, "__iter__"):
        return data(epoch)
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"optx.train.fit: {what} must be an iterable of batches or a function "
            f"epoch -> iterable, got {type(data).__name__}"
        )
    return data


def _length(batches: Iterable[Any]) -> int | None:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def _batch_size(batch: Any) -> float:
    leaves = jax.tree.leaves(batch)
    shape = np.shape(leaves[0]) if leaves else ()
    return float(shape[0]) if shape else 1.0


def commit(tree: Any) -> Any:
    """``tree`` with every uncommitted array committed to the device it is on.

    A jitted step keys its compilation cache on whether inputs are committed; the step's
    outputs and `optx.set_hyperparams` values are, a freshly created state is not, so
    without this the first steps of a fit would compile the step two or three times.
    """

    def one(x):
        if isinstance(x, jax.Array) and not x.committed and not x.is_deleted():
            return jax.device_put(x, x.sharding)
        return x

    return jax.tree.map(one, tree)


def _is_deleted(tree: Any) -> bool:
    return any(isinstance(x, jax.Array) and x.is_deleted() for x in jax.tree.leaves(tree))


class Loop:
    """A running `fit`: the mutable host-side object callbacks see as ``self.loop``.

    Attributes:
      state: the current `TrainState` (or any pytree the step takes).
      step, eval_step: the train step ``(state, batch) -> (state, metrics)`` and the
        validation step ``(state, batch) -> metrics``.
      callbacks: the callbacks in running order.
      n_epoch, epoch: number of epochs and the current one (0-based; `ProgressBar`
        shows it 1-based, ``epoch {epoch + 1}/{n_epoch}``).
      n_iter, iter: batches in this epoch (None if the data has no ``len``) and the
        current batch index.
      train_iter: training batches done in this fit (updated before ``after_batch``).
      pct_train: fraction of the fit done at the current batch, in [0, 1) (needs ``len``).
      training: True while training, False while validating.
      batch, metrics: the current batch and what the step returned for it.
      loss: the batch's loss as a Python float (the last one if the step ran several).
      step_losses: every loss of the batch's call (``steps_per_call`` values).
      valid_metrics: ``{"valid_loss": ..., name: ...}``, running means over the
        validation batches, weighted by batch size.
    """

    def __init__(
        self,
        state: Any,
        step: Callable[[Any, Any], tuple[Any, dict]],
        data: Any,
        epochs: int = 1,
        *,
        callbacks: Sequence[Callback] = (),
        valid_data: Any = None,
        eval_step: Callable[[Any, Any], dict] | None = None,
    ):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"optx.train.fit: epochs must be an int >= 0, got {epochs!r}")
        if valid_data is not None and eval_step is None:
            raise ValueError(
                "optx.train.fit: valid_data needs eval_step, a function (state, batch) -> "
                "metrics dict with a 'loss'"
            )
        if epochs > 1 and hasattr(data, "__next__") and iter(data) is data:
            raise TypeError(
                "optx.train.fit: data is a one-shot iterator, so epochs after the first "
                "would be empty; pass a list, a re-iterable loader or a function "
                "epoch -> iterable"
            )
        from optx.train._callbacks import Recorder

        cbs = list(callbacks)
        if not any(isinstance(cb, Recorder) for cb in cbs):
            cbs.append(Recorder())
        self.callbacks = sort_callbacks(cbs)
        for cb in self.callbacks:
            cb.loop = self
        self.state = commit(state)
        self.step = step
        self.eval_step = eval_step
        self.data = data
        self.valid_data = valid_data
        self.n_epoch = epochs
        self.epoch = 0
        self.n_iter: int | None = None
        self.iter = 0
        self.train_iter = 0
        self.pct_train: float | None = 0.0
        self.training = False
        self.batch: Any = None
        self.metrics: dict = {}
        self.loss = float("nan")
        self.step_losses = np.zeros([0])
        self.valid_metrics: dict[str, float] = {}
        self.resume_iter = 0
        self._train_batches: Iterable[Any] = ()

    # -- callbacks and hyperparameters ----------------------------------------------------

    def __call__(self, event: str) -> None:
        """Fires ``event`` on every callback (inner-loop events honour run_train/run_valid)."""
        inner = event in _INNER
        for cb in self.callbacks:
            if inner and not (cb.run_train if self.training else cb.run_valid):
                continue
            method = getattr(cb, event, None)
            if method is not None:
                method()

    def callback(self, kind: type) -> Any:
        """The first callback that is an instance of ``kind``, or None."""
        return next((cb for cb in self.callbacks if isinstance(cb, kind)), None)

    @property
    def recorder(self) -> Any:
        """The `Recorder` of this fit (one is added when none is given)."""
        from optx.train._callbacks import Recorder

        return self.callback(Recorder)

    @property
    def hyperparams(self) -> dict[str, float]:
        """The optimizer's current hyperparameters as Python floats (scalars only)."""
        values = get_hyperparams(self.state.opt_state)
        return {k: float(v) for k, v in values.items() if np.size(v) == 1}

    def set_hyperparams(self, **values: Any) -> None:
        """Sets optimizer hyperparameters for the next steps (`optx.set_hyperparams`)."""
        self.state = self.state._replace(opt_state=set_hyperparams(self.state.opt_state, **values))

    # -- running ----------------------------------------------------------------------------

    def _with_events(self, body, name, cancel, before_after=None) -> None:
        try:
            self(f"before_{name}")
            body()
        except cancel:
            self(f"after_cancel_{name}")
        if before_after is not None:
            before_after()
        self(f"after_{name}")

    def _read_loss(self, metrics: Any, what: str) -> None:
        if not isinstance(metrics, dict) or "loss" not in metrics:
            raise TypeError(
                f"optx.train.fit: {what} must return a metrics dict with a 'loss', got "
                f"{type(metrics).__name__}"
                + (f" with keys {sorted(metrics)}" if isinstance(metrics, dict) else "")
            )
        self.metrics = metrics
        self.step_losses = np.asarray(metrics["loss"], np.float64).reshape(-1)
        self.loss = float(self.step_losses[-1])

    def _train_batch(self) -> None:
        new_state, metrics = self.step(self.state, self.batch)
        self._read_loss(metrics, "the train step")
        for event in ("after_pred", "after_loss", "before_backward", "after_backward"):
            self(event)
        try:
            self("before_step")
            self.state = new_state
        except CancelStepException:
            if _is_deleted(self.state):
                raise RuntimeError(
                    "optx.train.fit: CancelStepException needs the old state, but the step "
                    "donated it; build the step without donating the state to cancel steps"
                ) from None
            self("after_cancel_step")
        self("after_step")

    def _count(self) -> None:
        self.train_iter += 1

    def _do_train(self) -> None:
        batches = self._train_batches
        seen = 0
        for i, batch in enumerate(batches):
            seen += 1
            if self.train_iter < self.resume_iter:
                self.train_iter += 1
                continue
            self.iter, self.batch, self.metrics = i, batch, {}
            self.step_losses = np.zeros([0])
            total = None if self.n_iter is None else self.n_iter * self.n_epoch
            self.pct_train = None if not total else self.train_iter / total
            self._with_events(self._train_batch, "batch", CancelBatchException, self._count)
        if not seen:
            raise ValueError(
                f"optx.train.fit: data gave no batches in epoch {self.epoch}; "
                "training on zero batches is never intended: check the data pipeline"
            )

    def _valid_batch(self, sums: dict[str, float], weight: list[float]) -> None:
        # Validation runs only with valid_data, which __init__ refuses without eval_step.
        assert self.eval_step is not None
        self._read_loss(self.eval_step(self.state, self.batch), "eval_step")
        self("after_pred")
        self("after_loss")
        bs = _batch_size(self.batch)
        weight[0] += bs
        for name, value in self.metrics.items():
            if name == "hyperparams" or np.size(value) != 1:
                continue
            key = "valid_loss" if name == "loss" else name
            sums[key] = sums.get(key, 0.0) + bs * float(np.asarray(value, np.float64))
        self.valid_metrics = {k: v / weight[0] for k, v in sums.items()}

    def _do_validate(self) -> None:
        sums: dict[str, float] = {}
        weight = [0.0]
        self.valid_metrics = {}
        for i, batch in enumerate(_batches(self.valid_data, self.epoch, "valid_data")):
            self.iter, self.batch, self.metrics = i, batch, {}
            self.step_losses = np.zeros([0])
            self._with_events(
                lambda: self._valid_batch(sums, weight), "batch", CancelBatchException
            )

    def _do_epoch(self) -> None:
        self.training = True
        self._with_events(self._do_train, "train", CancelTrainException)
        if self.valid_data is not None:
            self.training = False
            self._with_events(self._do_validate, "validate", CancelValidException)
        self.training = False

    def _do_fit(self) -> None:
        for epoch in range(self.n_epoch):
            self.epoch = epoch
            self._train_batches = _batches(self.data, epoch, "data")
            n_iter = self.n_iter = _length(self._train_batches)
            if n_iter and self.train_iter + n_iter <= self.resume_iter:
                self.train_iter += n_iter  # resumed past this epoch: skip it silently
                continue
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def fit(self) -> Loop:
        """Runs the loop (see `fit`); returns ``self``."""
        self._with_events(self._do_fit, "fit", CancelFitException)
        return self


def fit(
    state: Any,
    step: Callable[[Any, Any], tuple[Any, dict]],
    data: Any,
    epochs: int = 1,
    *,
    callbacks: Sequence[Callback] = (),
    valid_data: Any = None,
    eval_step: Callable[[Any, Any], dict] | None = None,
) -> Loop:
    """Trains ``state`` with ``step`` over ``data`` for ``epochs``, firing callback events.

    For each batch the loop fires ``before_batch`` (where callbacks set hyperparameters),
    calls ``step(state, batch)`` once (prediction, loss, gradients and update all happen
    inside the jitted step), fires ``after_pred``, ``after_loss``, ``before_backward``,
    ``after_backward`` and ``before_step`` with ``loop.metrics`` and ``loop.loss`` known,
    then adopts the new state and fires ``after_step`` and ``after_batch``. Raising
    `CancelStepException` in ``before_step`` keeps the old state (only with a step that does
    not donate it). After each epoch's training, if ``valid_data`` is given, ``eval_step``
    runs on every validation batch between ``before_validate`` and ``after_validate``. The
    full order and the cancel rules are in `optx.train.EVENTS` (module ``_events``); they
    follow fastai's Learner. With a step that donates its input (``make_train_step``'s
    default), the ``state`` you pass is consumed: use ``loop.state``. To survive a crash,
    add ``Checkpoint(path, every_n_steps=n, resume=True)`` and rerun the same script.

    Args:
      state: a `TrainState` (any pytree with ``opt_state`` for hyperparameter callbacks).
      step: ``(state, batch) -> (state, metrics)``, e.g. from ``make_train_step``;
        ``metrics["loss"]`` is required (a scalar, or one value per step of the call);
        ``"hyperparams"`` is recorded when present.
      data: an iterable of batches (re-iterated each epoch) or ``epoch -> iterable``.
      epochs: number of epochs.
      callbacks: `Callback` instances; a `Recorder` is added when none is given.
      valid_data: validation batches (iterable or ``epoch -> iterable``), or None.
      eval_step: ``(state, batch) -> metrics`` with a ``"loss"``; other scalar metrics
        are averaged too and appear in ``loop.valid_metrics`` and the recorder.

    Returns:
      The finished `Loop`: ``loop.state`` is the trained state, ``loop.recorder`` the
      `Recorder`.

    Raises:
      TypeError: the step returns no metrics dict with a "loss", or data is not iterable.
      ValueError: valid_data without eval_step; callbacks whose ordering constraints cycle;
        data that gives no batches in an epoch.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.sgd(0.1)
      >>> @jax.jit
      ... def step(state, x):
      ...     loss, g = jax.value_and_grad(lambda w: jnp.mean((w - x) ** 2))(state.params)
      ...     u, opt_state = tx.update(g, state.opt_state)
      ...     new = state._replace(step=state.step + 1, params=state.params + u,
      ...                          opt_state=opt_state)
      ...     return new, {"loss": loss}
      >>> state = optx.train.TrainState.create(jnp.zeros(2), tx)
      >>> loop = optx.train.fit(state, step, [jnp.ones(2)] * 10, epochs=3)
      >>> int(loop.state.step), len(loop.recorder.losses)
      (30, 30)
    """
    loop = Loop(
        state, step, data, epochs, callbacks=callbacks, valid_data=valid_data, eval_step=eval_step
    )
    return loop.fit()

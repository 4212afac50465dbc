"""Callback events, the cancel exceptions and callback ordering for the host loop.

The events are fastai's (current spellings), in the order `optx.train.fit` fires them::

    before_fit
      before_epoch
        before_train
          before_batch  [the jitted step runs here]  after_pred  after_loss
          before_backward  after_backward  before_step  after_step  after_batch   (per batch)
        after_train
        before_validate
          before_batch  after_pred  after_loss  after_batch                      (per batch)
        after_validate
      after_epoch
    after_fit

Each level runs ``before_X``, its body, then ``after_X``. A ``CancelXException`` raised in
``before_X`` or in the body skips the rest of the body and runs ``after_cancel_X`` and
then ``after_X``; any other exception propagates (so ``CancelFitException`` raised in an
``after_batch`` leaves the batch, the epoch and the fit, running only ``after_cancel_fit``
and ``after_fit``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

EVENTS: tuple[str, ...] = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "before_step",
    "after_cancel_step",
    "after_step",
    "after_cancel_batch",
    "after_batch",
    "after_cancel_train",
    "after_train",
    "before_validate",
    "after_cancel_validate",
    "after_validate",
    "after_cancel_epoch",
    "after_epoch",
    "after_cancel_fit",
    "after_fit",
)


class CancelStepException(Exception):
    """Raised in ``before_step``: discard this batch's new state (the step does not count)."""


class CancelBatchException(Exception):
    """Skip the rest of this batch (``after_cancel_batch``, then ``after_batch`` run)."""


class CancelTrainException(Exception):
    """Skip the rest of this epoch's training (``after_cancel_train``, ``after_train``)."""


class CancelValidException(Exception):
    """Skip the rest of this validation (``after_cancel_validate``, ``after_validate``)."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch (``after_cancel_epoch``, ``after_epoch``)."""


class CancelFitException(Exception):
    """Stop training (``after_cancel_fit``, then ``after_fit`` run)."""


class Callback:
    """Base class of host-loop callbacks: define a method per event you handle.

    During `optx.train.fit`, ``self.loop`` is the running `optx.train.Loop`: read
    ``loop.state``, ``loop.loss``, ``loop.metrics``, ``loop.epoch``, ``loop.train_iter``,
    ``loop.pct_train``... and change hyperparameters between steps with
    ``loop.set_hyperparams(learning_rate=...)`` (no recompilation).

    Class attributes:
      order: callbacks run in increasing ``order`` (default 0), subject to
      run_before / run_after: callback classes (or class names) this one must run
        before / after, whatever their ``order``.
      run_train / run_valid: whether the callback receives events while training /
        validating (``loop.training``).

    Method names that start with ``before_``, ``after_`` or ``begin_`` must be events
    (fastbook's ``begin_*`` spellings are refused with the new name), so a misspelled
    event fails when the class is defined instead of never firing.

    Examples:
      >>> import optx
      >>> class CountBatches(optx.train.Callback):
      ...     def before_fit(self):
      ...         self.n = 0
      ...     def after_batch(self):
      ...         self.n += 1
    """

    order: int = 0
    run_before: Sequence[Any] = ()
    run_after: Sequence[Any] = ()
    run_train: bool = True
    run_valid: bool = True
    loop: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in vars(cls):
            if name.startswith("begin_"):
                raise TypeError(
                    f"{cls.__name__}.{name}: fastai renamed begin_* events to before_*; "
                    f"call the method before_{name[len('begin_') :]}"
                )
            if name.startswith(("before_", "after_")) and name not in EVENTS:
                raise TypeError(
                    f"{cls.__name__}.{name} is not a loop event; the events are {list(EVENTS)}"
                )

    @property
    def name(self) -> str:
        """The class name, as shown in ordering errors."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}(order={self.order})"


def _matches(cb: Callback, spec: Any) -> bool:
    if isinstance(spec, str):
        return any(k.__name__ == spec for k in type(cb).__mro__)
    return isinstance(spec, type) and isinstance(cb, spec)


def sort_callbacks(callbacks: Iterable[Callback]) -> list[Callback]:
    """Callbacks in running order: ``run_before``/``run_after`` first, then ``order``.

    Among the callbacks whose constraints are met, the one with the lowest ``order`` runs
    first (ties keep the given order).

    Raises:
      TypeError: an item is not a `Callback`.
      ValueError: the constraints form a cycle (the message names the callbacks).

    Examples:
      >>> import optx
      >>> class A(optx.train.Callback):
      ...     order = 5
      >>> class B(optx.train.Callback):
      ...     order = 10
      ...     run_before = (A,)
      >>> [cb.name for cb in optx.train.sort_callbacks([A(), B()])]
      ['B', 'A']
    """
    cbs = list(callbacks)
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(
                f"optx.train: callbacks must be optx.train.Callback instances, got {cb!r}"
            )
    after: dict[int, set[int]] = {i: set() for i in range(len(cbs))}  # i runs after these
    for i, cb in enumerate(cbs):
        for j, other in enumerate(cbs):
            if i == j:
                continue
            if any(_matches(other, s) for s in cb.run_before):
                after[j].add(i)
            if any(_matches(other, s) for s in cb.run_after):
                after[i].add(j)
    placed: list[int] = []
    remaining = set(range(len(cbs)))
    while remaining:
        ready = [i for i in remaining if not (after[i] & remaining)]
        if not ready:
            names = sorted(cbs[i].name for i in remaining)
            raise ValueError(
                f"optx.train: run_before/run_after constraints form a cycle among {names}"
            )
        best = min(ready, key=lambda i: (cbs[i].order, i))
        placed.append(best)
        remaining.remove(best)
    return [cbs[i] for i in placed]

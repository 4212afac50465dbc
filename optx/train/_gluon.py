"""A Gluon-style ``Trainer`` for people coming from MXNet, over the pure optx core."""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp

from optx import _tree
from optx._core import GradientTransformation, apply_updates, is_transformation
from optx._hyperparams_access import get_hyperparams, set_hyperparams
from optx.train import _checkpoint
from optx.train._loop import commit

_CALL = "optx.train.Trainer"


def _create(name: str, params: dict[str, Any]) -> GradientTransformation:
    from optx._registry import create  # lazily: optx/__init__ imports train first

    return create(name, **params)


def _update(tx, params, opt_state, grads, scale):
    grads = jax.tree.map(lambda g: g * scale.astype(g.dtype), grads)
    updates, opt_state = tx.update(grads, opt_state, params)
    return apply_updates(params, updates), opt_state


class Trainer:
    """Applies an optimizer to a dict of parameters, MXNet Gluon style (mutable facade).

    ``step(grads, batch_size)`` multiplies the gradients by ``rescale_grad / batch_size``
    and applies the optimizer, so with SGD ``w = w - lr / batch_size * grad`` (pass
    ``batch_size=1`` when the loss is already a mean). Unlike Gluon the gradients are
    passed in (JAX has no ``.grad`` on parameters). Underneath it is the pure core: a
    jitted ``(params, opt_state, grads, scale) -> (params, opt_state)`` that compiles once
    (the batch size is traced). Dict parameters are flattened in sorted key order, as
    Gluon sorts them.

    Args:
      params: the parameters (a dict or any pytree of arrays); ``trainer.params`` holds
        the current ones.
      optimizer: a registered name (``"sgd"``, ``"adam"``, ``"nag"``...; see `optx.create`)
        or an optx/Optax ``GradientTransformation``.
      optimizer_params: keyword arguments for a named optimizer, in optx's spelling
        (``b1``, not MXNet's ``beta1``; the error names the optx spelling), plus
        ``rescale_grad`` (default 1.0). Must be empty when an optimizer instance is passed
        (as in MXNet).

    Raises:
      ValueError: unknown name, or optimizer_params with an instance.
      TypeError: a parameter the named optimizer does not take.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> trainer = optx.train.Trainer({"w": jnp.array([1.0])}, "sgd",
      ...                              {"learning_rate": 0.1})
      >>> trainer.step({"w": jnp.array([4.0])}, batch_size=4)
      >>> trainer.params["w"]
      Array([0.9], dtype=float32)
    """

    def __init__(self, params: Any, optimizer: Any, optimizer_params: dict | None = None):
        optimizer_params = dict(optimizer_params or {})
        self._scale = float(optimizer_params.pop("rescale_grad", 1.0))
        if isinstance(optimizer, str):
            tx = _create(optimizer, optimizer_params)
        elif is_transformation(optimizer):
            if optimizer_params:
                raise ValueError(
                    f"{_CALL}: optimizer_params {sorted(optimizer_params)} must be empty when "
                    "optimizer is an instance; pass them to the optimizer's factory"
                )
            tx = optimizer
        else:
            raise TypeError(
                f"{_CALL}: optimizer must be a name or a GradientTransformation, got "
                f"{type(optimizer).__name__}"
            )
        self._tx = tx
        given = optimizer_params.get("learning_rate")
        self._lr_given = float(given) if isinstance(given, (int, float)) else None
        self.params = commit(params)
        self.opt_state = commit(tx.init(params))
        self._grads: Any = None
        self._apply = jax.jit(functools.partial(_update, tx))

    @property
    def optimizer(self) -> GradientTransformation:
        """The gradient transformation being applied."""
        return self._tx

    @property
    def learning_rate(self) -> float:
        """The learning rate used for the latest update (its initial value before any).

        The state holds it in float32; while it is still the Python float you gave (to
        ``optimizer_params`` or `set_learning_rate`), that float is returned, so
        ``trainer.learning_rate == 0.1`` holds as in Gluon.
        """
        values = get_hyperparams(self.opt_state)
        if "learning_rate" not in values:
            raise AttributeError(
                f"{_CALL}.learning_rate: the optimizer has no single 'learning_rate'; its "
                f"hyperparameters are {sorted(values)}"
            )
        stored = float(values["learning_rate"])
        if self._lr_given is not None and stored == float(jnp.float32(self._lr_given)):
            return self._lr_given
        return stored

    def set_learning_rate(self, lr: float) -> None:
        """Sets the learning rate for the next updates, without recompiling.

        Raises:
          ValueError: a schedule drives the learning rate (Gluon refuses too).
        """
        try:
            self.opt_state = set_hyperparams(self.opt_state, learning_rate=lr)
            self._lr_given = float(lr)
        except ValueError as err:
            raise ValueError(
                f"{_CALL}.set_learning_rate: the learning rate is driven by a schedule; "
                "build the optimizer with a float learning rate to set it by hand"
            ) from err

    def allreduce_grads(self, *grads: Any) -> None:
        """Takes the gradients for the next `update`: one tree, or one per replica (summed).

        Gluon sums the gradients of every device here; pass each device's gradients (or
        the already reduced ones) and call `update` afterwards, e.g. to clip in between.
        """
        if not grads:
            raise TypeError(f"{_CALL}.allreduce_grads: pass at least one gradient tree")
        for g in grads:
            _tree.check_structure(f"{_CALL}.allreduce_grads", self.params, g, what="gradient")
        total = grads[0]
        for g in grads[1:]:
            total = jax.tree.map(jnp.add, total, g)
        self._grads = total

    def update(self, batch_size: float = 1) -> None:
        """Applies the gradients given to `allreduce_grads`, scaled by rescale_grad/batch_size.

        Raises:
          RuntimeError: no fresh gradients (each `allreduce_grads` allows one update).
          ValueError: batch_size <= 0.
        """
        if not batch_size > 0:
            raise ValueError(f"{_CALL}.update: batch_size must be > 0, got {batch_size}")
        if self._grads is None:
            raise RuntimeError(
                f"{_CALL}.update: no fresh gradients; call allreduce_grads(grads) first (or "
                "step(grads, batch_size), which does both)"
            )
        scale = jnp.asarray(self._scale / batch_size, jnp.float32)
        self.params, self.opt_state = self._apply(self.params, self.opt_state, self._grads, scale)
        self._grads = None

    def step(self, grads: Any, batch_size: float = 1) -> None:
        """`allreduce_grads(grads)` then `update(batch_size)`: one optimizer step."""
        self.allreduce_grads(grads)
        self.update(batch_size)

    def save_states(self, fname: str | os.PathLike) -> None:
        """Saves the optimizer state with `optx.train.save` (a checkpoint directory).

        An existing checkpoint at ``fname`` is replaced atomically, as Gluon overwrites.
        """
        meta = {"kind": "optx.train.Trainer states"}
        _checkpoint.save(fname, self.opt_state, metadata=meta, force=True)

    def load_states(self, fname: str | os.PathLike) -> None:
        """Loads an optimizer state saved by `save_states`, verified and checked against the
        current one (another optimizer's state is refused with `CheckpointError`); arrays
        keep the current state's placement, so `step` does not compile again."""
        self.opt_state = _checkpoint.restore(fname, self.opt_state)

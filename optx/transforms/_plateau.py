"""Reduce the step size when a monitored value (the loss) stops improving."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ReduceOnPlateauState(NamedTuple):
    """State of `reduce_on_plateau`.

    Attributes:
      count: updates done.
      best_value: the best (lowest) averaged value seen (inf at first); float32, or
        float64 for float64 params.
      plateau_count: consecutive averaged values without improvement.
      cooldown_count: decisions left in the cooldown after a reduction.
      accumulated: values in the current average.
      avg_value: the running mean of the current window of values (dtype as above).
      hyperparams: ``factor``, ``rtol``, ``atol``, ``min_scale`` and the current ``scale``
        (read it with `optx.get_hyperparams`; setting it resets the multiplier).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    best_value: jax.Array
    plateau_count: jax.Array
    cooldown_count: jax.Array
    accumulated: jax.Array
    avg_value: jax.Array
    hyperparams: HyperparamsState


@_validate.public_call("optx.reduce_on_plateau")
def reduce_on_plateau(
    factor: ScalarOrSchedule = 0.1,
    patience: int = 10,
    rtol: ScalarOrSchedule = 1e-4,
    atol: ScalarOrSchedule = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Multiplies updates by a scale that shrinks by ``factor`` when the loss plateaus.

    The monitored value comes with each update as an extra argument:
    ``tx.update(grads, state, params, value=loss)`` (``loss=`` is accepted too). Values are
    averaged over ``accumulation_size`` updates; after each full window::

        improved = avg < (1 - rtol) * best - atol
        best = avg if improved; plateau_count = 0 if improved else plateau_count + 1
        if not in cooldown and plateau_count >= patience:
            scale = max(scale * factor, min_scale); plateau_count = 0
            cooldown_count = cooldown

    and the updates of that step are multiplied by the new scale (Optax's semantics:
    ``optax.contrib.reduce_on_plateau`` with the same arguments gives the same updates).

    Factor direction: ``factor`` *multiplies* (0.1 divides the step size by 10), as in
    Optax and PyTorch. fastai's ``ReduceLROnPlateau(factor=10.)`` *divides*; its
    ``patience``, ``min_delta`` and ``min_lr`` map to ``factor=1/10``, ``patience``,
    ``atol=min_delta, rtol=0`` and ``min_scale=min_lr / lr``. fastai decides once per epoch
    on the validation loss and the new rate applies from the next epoch; here pass the
    validation loss (or average the training loss with ``accumulation_size`` = batches per
    epoch), and the new scale applies from the update that completed the window.

    Args:
      factor: the multiplier per reduction, in (0, 1].
      patience: windows without improvement before a reduction, an int >= 1.
      rtol: relative improvement required, >= 0.
      atol: absolute improvement required, >= 0.
      cooldown: windows after a reduction during which no reduction happens, an int >= 0.
      accumulation_size: values averaged per decision, an int >= 1.
      min_scale: the smallest scale, >= 0.

    Raises:
      ValueError: ``factor`` outside (0, 1] (with a hint about fastai's direction), negative
        tolerances, or bad counts; at update, a missing or non-scalar ``value``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.reduce_on_plateau(factor=0.5, patience=2, rtol=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> for loss in [1.0, 1.0, 1.0]:
      ...     updates, state = tx.update(jnp.ones(1), state, value=loss)
      >>> float(optx.get_hyperparams(state)["scale"]), updates
      (0.5, Array([0.5], dtype=float32))

    References:
      PyTorch ``torch.optim.lr_scheduler.ReduceLROnPlateau``; fastai
      ``ReduceLROnPlateau``; Optax ``contrib.reduce_on_plateau``.
    """
    call = "optx.reduce_on_plateau"
    _validate.check_number(call, "factor", factor)
    f = _validate.concrete_scalar(factor)
    if f is not None and not 0 < f <= 1:
        hint = (
            f"; fastai's factor={f:g} divides, here factor multiplies: pass factor={1 / f:g}"
            if f > 1
            else ""
        )
        raise ValueError(
            f"{_validate.current_call(call)}: factor must be in (0, 1], got {f:g}{hint}"
        )
    _validate.check_int(call, "patience", patience, 1)
    _validate.check_int(call, "cooldown", cooldown, 0)
    _validate.check_int(call, "accumulation_size", accumulation_size, 1)
    hyperparams = Hyperparams(
        call,
        constraints={
            "rtol": _constraints.NON_NEGATIVE,
            "atol": _constraints.NON_NEGATIVE,
            "min_scale": _constraints.NON_NEGATIVE,
        },
        factor=factor,
        rtol=rtol,
        atol=atol,
        min_scale=min_scale,
        scale=1.0,
    )

    def init(params):
        zero = _tree.zero_count(params)
        sharding, dtype = _tree.replicated_sharding(params), _tree.scalar_dtype(params)
        return ReduceOnPlateauState(
            zero,
            _tree.place(jnp.asarray(jnp.inf, dtype), sharding),
            zero,
            zero,
            zero,
            _tree.place(jnp.zeros([], dtype), sharding),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, *, value=None, loss=None, **extra_args):
        del params, extra_args
        monitored = value if value is not None else loss
        if monitored is None:
            raise ValueError(
                f"{call}: update() needs the monitored value as an extra argument: "
                "tx.update(grads, state, params, value=loss)"
            )
        if jnp.ndim(monitored) != 0:
            raise ValueError(f"{call}: value must be a scalar, got shape {jnp.shape(monitored)}")
        h = hyperparams.resolve(state.hyperparams, state.count)
        dtype = state.avg_value.dtype
        monitored = jnp.asarray(monitored).astype(dtype)
        n = state.accumulated.astype(dtype)
        avg = (n * state.avg_value + monitored) / (n + 1)
        accumulated = state.accumulated + 1
        decide = accumulated >= accumulation_size

        improved = avg < (1 - h["rtol"]) * state.best_value - h["atol"]
        best = jnp.where(improved, avg, state.best_value)
        plateau = jnp.where(improved, 0, _tree.safe_increment(state.plateau_count))
        cooling = state.cooldown_count > 0
        reduce = jnp.logical_and(~cooling, plateau >= patience)
        scale = h["scale"]
        reduced = jnp.maximum(jnp.where(reduce, scale * h["factor"], scale), h["min_scale"])
        new_scale = jnp.where(cooling, scale, reduced)
        plateau = jnp.where(jnp.logical_or(cooling, reduce), 0, plateau).astype(jnp.int32)
        cooldown_count = jnp.where(
            cooling, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)
        ).astype(jnp.int32)

        def pick(new, old):
            return jnp.where(decide, new, old)

        scale = pick(new_scale, scale)
        new_state = ReduceOnPlateauState(
            h.count,
            pick(best, state.best_value),
            pick(plateau, state.plateau_count),
            pick(cooldown_count, state.cooldown_count),
            pick(0, accumulated).astype(jnp.int32),
            pick(0.0, avg).astype(dtype),
            HyperparamsState(
                {**h.state.values, "scale": scale}, h.state.scheduled, h.state.complements
            ),
        )
        return _tree.scale_tree(scale, updates), new_state

    return GradientTransformation(init, update)

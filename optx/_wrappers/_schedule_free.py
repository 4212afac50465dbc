"""Schedule-Free: interpolation and averaging in place of momentum and a decaying schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._constraints import Constraint
from optx._core import GradientTransformation, ScalarOrSchedule, _accepting_extra_args
from optx._hyperparams import Hyperparams, HyperparamsState

_B1 = Constraint(0.0, 1.0, low_open=True)  # in (0, 1]: x is recovered from y by dividing by b1


class ScheduleFreeState(NamedTuple):
    """State of `schedule_free`.

    Attributes:
      count: updates applied.
      params_b1: the ``b1`` that formed the current params ``y`` from ``x`` and ``z`` (the
        next update and `schedule_free_eval_params` recover ``x`` with it, so changing
        ``b1`` between steps keeps ``x`` exact). Optax calls this field ``b1``.
      weight_sum: the sum of the averaging weights so far.
      max_lr: the largest learning rate seen so far.
      base_optimizer_state: the base optimizer's state.
      z: the base optimizer's iterate (float32 at least, or ``state_dtype``).
      hyperparams: holds ``b1``, ``weight_lr_power`` (and ``learning_rate`` when given).
    """

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    params_b1: jax.Array
    weight_sum: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any
    hyperparams: HyperparamsState


def _learning_rates(state: Any) -> list[jax.Array]:
    nodes = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, HyperparamsState))
    return [
        node.values["learning_rate"]
        for node in nodes
        if isinstance(node, HyperparamsState) and "learning_rate" in node.values
    ]


@_validate.public_call("optx.schedule_free")
def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule | None,
    b1: ScalarOrSchedule = 0.9,
    weight_lr_power: ScalarOrSchedule = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    r"""Schedule-Free learning around any base optimizer (Defazio et al., 2024).

    The params the gradients are taken at are ``y``; the state keeps the base optimizer's
    iterate ``z``; the evaluation sequence ``x`` is recovered from both. With ``u`` the base
    optimizer's update at ``y`` (e.g. ``-gamma_t * g`` for SGD) and ``gamma_t`` this
    step's learning rate::

        z_{t+1} = z_t + u_t
        x_t     = (y_t - (1 - b1) * z_t) / b1
        c_{t+1} = max_lr_t**weight_lr_power / sum_{i<=t} max_lr_i**weight_lr_power
        x_{t+1} = (1 - c_{t+1}) * x_t + c_{t+1} * z_{t+1}
        y_{t+1} = b1 * x_{t+1} + (1 - b1) * z_{t+1}

    with ``max_lr_t = max_{i<=t} gamma_i`` (the authors' code and Optax; the paper's
    ``gamma_t**2 / sum gamma_i**2`` for a nondecreasing warmup). The update returned is
    ``y_{t+1} - y_t``; evaluate at ``x`` with `schedule_free_eval_params`. Switch off the
    base optimizer's momentum (``optx.adam(lr, b1=0.0)``, ``optx.sgd(lr)``): the
    interpolation replaces it. Use a constant learning rate, with a warmup if needed, not a
    decaying schedule.

    Argument names and meanings are Optax's (``optax.contrib.schedule_free``). Differences:

    - ``learning_rate=None`` reads the learning rate the base optimizer used for this
      update from its state (it must hold one hyperparameter named ``learning_rate``), so
      the weights and the steps of ``z`` share one hyperparameter (`schedule_free_adamw`
      and `schedule_free_sgd` do this).
    - A scheduled ``learning_rate`` is read at the same 0-based count as the base
      optimizer's schedule, so ``gamma_t`` is the rate of the step it weights. Optax reads
      it one step ahead (at its 1-based ``step_count``); both agree for a constant rate.
    - ``z`` is float32 for bf16/f16 params (Optax keeps the params' dtype) unless
      ``state_dtype`` says otherwise; the arithmetic runs in float32 at least.
    - ``b1`` may be changed between steps (`optx.set_hyperparams`) or scheduled: ``x`` is
      recovered with the ``b1`` that formed ``y`` (``params_b1`` in the state).

    Args:
      base_optimizer: the optimizer whose updates move ``z`` (without momentum).
      learning_rate: the base optimizer's learning rate (float, array or schedule, with
        warmup but without decay), used for the averaging weights; or None (see above).
      b1: the interpolation ``y = b1 * x + (1 - b1) * z``, in (0, 1] (0.9 by default;
        0.95 and 0.98 work too).
      weight_lr_power: the averaging weight of each step is ``max_lr**weight_lr_power``
        (>= 0; 2 by default, which damps the iterates of a warmup).
      state_dtype: dtype of ``z`` (default: the params' dtype, at least float32).

    Returns:
      A `GradientTransformation` whose update needs the params.

    Raises:
      ValueError: ``b1`` outside (0, 1], a negative ``weight_lr_power`` or learning rate;
        at init, ``learning_rate=None`` with a base state that holds no learning rate or
        several; ``update`` called without params.
      TypeError: ``base_optimizer`` is not a transformation, or ``state_dtype`` is not a
        floating dtype.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.schedule_free(optx.sgd(0.25), learning_rate=0.25, b1=0.5)
      >>> y = jnp.array([2.0])  # minimize y**2
      >>> state = tx.init(y)
      >>> for _ in range(2):  # z: 2, 1, 0.5;  x: 2, 1, 0.75 (c = 1, 1/2)
      ...     updates, state = tx.update(2 * y, state, y)
      ...     y = optx.apply_updates(y, updates)
      >>> y, optx.schedule_free_eval_params(state, y)
      (Array([0.625], dtype=float32), Array([0.75], dtype=float32))

    References:
      Defazio et al., 2024, The Road Less Scheduled, https://arxiv.org/abs/2405.15682
    """
    call = "optx.schedule_free"
    _validate.check_transformation(call, "base_optimizer", base_optimizer)
    _validate.check_float_dtype(call, "state_dtype", state_dtype, complex_ok=True)
    specs: dict[str, Any] = {"b1": b1, "weight_lr_power": weight_lr_power}
    if learning_rate is not None:
        specs["learning_rate"] = learning_rate
    hyperparams = Hyperparams(
        call, constraints={"b1": _B1, "weight_lr_power": Constraint(0.0)}, **specs
    )
    base_init, base_update = base_optimizer.init, _accepting_extra_args(base_optimizer.update)

    def init(params):
        base_state = base_init(params)
        if learning_rate is None and len(_learning_rates(base_state)) != 1:
            raise ValueError(
                f"{hyperparams.call}: learning_rate=None reads the base optimizer's learning "
                f"rate from its state, but the state holds {len(_learning_rates(base_state))} "
                "hyperparameters named learning_rate; pass learning_rate=... explicitly"
            )
        z = jax.tree.map(
            lambda p: jnp.array(
                p, dtype=state_dtype or _tree.wide_dtype(jnp.result_type(p)), copy=True
            ),
            params,
        )
        hp = hyperparams.init(params)
        sharding = _tree.replicated_sharding(params)
        dtype = _tree.scalar_dtype(params)
        # Separate buffers (not hp's b1, not one zero twice), so the state can be donated.
        params_b1 = _tree.place(jnp.array(hp.values["b1"], dtype, copy=True), sharding)
        weight_sum, max_lr = (_tree.place(jnp.zeros([], dtype), sharding) for _ in range(2))
        return ScheduleFreeState(
            _tree.zero_count(params), params_b1, weight_sum, max_lr, base_state, z, hp
        )

    def update(updates, state, params=None, **extra_args):
        _tree.require_params(hyperparams.call, params)
        _tree.check_structure(hyperparams.call, state.z, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        base_updates, base_state = base_update(
            updates, state.base_optimizer_state, params, **extra_args
        )
        if learning_rate is None:
            lr = _learning_rates(base_state)[0].astype(state.max_lr.dtype)
        else:
            lr = h["learning_rate"]
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr ** h["weight_lr_power"]
        weight_sum = state.weight_sum + weight
        # c = weight / weight_sum, 0 while both are 0 (a warmup's first step); NaN stays NaN.
        c = weight / jnp.where(weight_sum == 0, jnp.ones_like(weight_sum), weight_sum)
        old_b1, b1_ = state.params_b1, h["b1"]

        def one(y, z, u, g):
            wide = _tree.wide_dtype(z.dtype)
            y_w, z_w, old, new = (
                y.astype(wide),
                z.astype(wide),
                old_b1.astype(wide),
                b1_.astype(wide),
            )
            z_new = z_w + u.astype(wide)
            x = (y_w - (1 - old) * z_w) / old
            x = (1 - c.astype(wide)) * x + c.astype(wide) * z_new
            y_new = new * x + (1 - new) * z_new
            return (y_new - y_w).astype(g.dtype), z_new.astype(z.dtype)

        new_updates, z = _tree.map_unzip(one, 2, params, state.z, base_updates, updates)
        # A copy of b1 (a no-op under jit): eagerly, the state must not hold one buffer twice.
        params_b1 = jnp.array(b1_, copy=True)
        new_state = ScheduleFreeState(
            h.count, params_b1, weight_sum, max_lr, base_state, z, h.state
        )
        return new_updates, new_state

    return GradientTransformation(init, update)


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    """The evaluation params ``x`` of a `schedule_free` state, from the live params ``y``.

    ``x = (y - (1 - b1) * z) / b1`` with the ``b1`` that formed ``y``; each leaf in the
    params' dtype. Training takes gradients at ``y``; loss and accuracy for validation are
    measured at ``x`` (the averaged sequence the method's guarantees are about). ``state``
    may be the whole optimizer state (a chain, a wrapper) holding exactly one
    `schedule_free` state. As ``optax.contrib.schedule_free_eval_params``.

    Raises:
      ValueError: the state holds no `schedule_free` state, or several.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.schedule_free_sgd(1.0)
      >>> y = jnp.array([1.0])
      >>> state = tx.init(y)
      >>> bool((optx.schedule_free_eval_params(state, y) == y).all())  # x = y = z at init
      True
    """
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, ScheduleFreeState))
        if isinstance(node, ScheduleFreeState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"optx.schedule_free_eval_params: the state holds {len(found)} schedule_free "
            "states; pass the optimizer state of one optx.schedule_free (or its aliases)"
        )
    sf = found[0]
    _tree.check_structure("optx.schedule_free_eval_params", sf.z, params, what="params")

    def one(y, z):
        wide = _tree.wide_dtype(z.dtype)
        b1 = sf.params_b1.astype(wide)
        return ((y.astype(wide) - (1 - b1) * z.astype(wide)) / b1).astype(jnp.result_type(y))

    return jax.tree.map(one, params, sf.z)

"""Resilient backpropagation (Rprop): per-coordinate step sizes driven by gradient signs."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByRpropState(NamedTuple):
    """State of `scale_by_rprop`: step sizes and the sign of the last gradient used."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    step_sizes: Any
    prev_sign: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_rprop")
def scale_by_rprop(
    learning_rate: ScalarOrSchedule = 0.01,
    eta_minus: ScalarOrSchedule = 0.5,
    eta_plus: ScalarOrSchedule = 1.2,
    min_step_size: ScalarOrSchedule = 1e-6,
    max_step_size: ScalarOrSchedule = 50.0,
) -> GradientTransformation:
    """Rprop- (Riedmiller and Braun, 1993; Igel and Huesken, 2000): sign steps of adapted size.

    Update rule per coordinate, with ``s = sign(g) * prev_sign``::

        step = min(step * eta_plus, max_step_size)     where s > 0
        step = max(step * eta_minus, min_step_size)    where s < 0
        u = 0 and prev_sign = 0                        where s < 0 (skip after a sign change)
        u = step * sign(g) and prev_sign = sign(g)     elsewhere

    ``step`` starts at ``learning_rate`` (read once, at init); ``u`` is a descent
    direction (`optx.rprop` negates it). This is the Rprop- variant ("backtracking"
    replaced by skipping the step), computed the same way by PyTorch's ``Rprop`` and
    Optax's ``scale_by_rprop`` (the tests check both), with the same defaults as PyTorch.
    The previous sign is stored as int8.

    Args:
      learning_rate: > 0, the initial step size.
      eta_minus: in (0, 1), step shrink factor on a sign change.
      eta_plus: >= 1, step growth factor when the sign persists.
      min_step_size, max_step_size: bounds on the step, 0 <= min <= max.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_rprop(learning_rate=0.1)
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.array([1.0, -1.0]), state)
      >>> tx.update(jnp.array([2.0, 3.0]), state)[0]
      Array([0.12, 0.  ], dtype=float32)

    Raises:
      TypeError: at init, for complex params (the rule compares signs of g).

    References:
      Riedmiller and Braun, 1993, A direct adaptive method for faster backpropagation
      learning: the RPROP algorithm, https://doi.org/10.1109/ICNN.1993.298623
      Igel and Huesken, 2000, Improving the Rprop Learning Algorithm.
    """
    call = "optx.scale_by_rprop"
    low, high = _validate.concrete_scalar(min_step_size), _validate.concrete_scalar(max_step_size)
    if low is not None and high is not None and low > high:
        raise ValueError(
            f"{_validate.current_call(call)}: min_step_size must be <= max_step_size, got "
            f"{low:g} > {high:g}"
        )
    hyperparams = Hyperparams(
        call,
        constraints={
            "learning_rate": _constraints.POSITIVE,
            "eta_minus": _constraints.Constraint(0.0, 1.0, low_open=True, high_open=True),
            "eta_plus": _constraints.Constraint(1.0),
            "min_step_size": _constraints.NON_NEGATIVE,
            "max_step_size": _constraints.NON_NEGATIVE,
        },
        learning_rate=learning_rate,
        eta_minus=eta_minus,
        eta_plus=eta_plus,
        min_step_size=min_step_size,
        max_step_size=max_step_size,
    )

    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(
            public,
            params,
            "Rprop grows or shrinks each step size by whether sign(g) kept or flipped its sign "
            "since the last step, and complex numbers have no sign to compare",
        )
        hp = hyperparams.init(params)
        first = hp.values["learning_rate"]
        # zeros + lr, not full_like: a scalar leaf must not reuse the learning rate's buffer.
        steps = jax.tree.map(lambda x: x + first.astype(x.dtype), _tree.moments_like(params))
        signs = _tree.zeros_like(params, jnp.int8)
        return ScaleByRpropState(hyperparams.init_count(params), steps, signs, hp)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.step_sizes, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, step, prev):
            wide = step.dtype
            sign = jnp.sign(g).astype(jnp.int8)
            s = sign * prev
            grown = jnp.minimum(step * h["eta_plus"].astype(wide), h["max_step_size"].astype(wide))
            shrunk = jnp.maximum(
                step * h["eta_minus"].astype(wide), h["min_step_size"].astype(wide)
            )
            step = jnp.where(s > 0, grown, jnp.where(s < 0, shrunk, step))
            sign = jnp.where(s < 0, jnp.int8(0), sign)
            return (step * sign.astype(wide)).astype(g.dtype), step, sign

        updates, steps, signs = _tree.map_unzip(one, 3, updates, state.step_sizes, state.prev_sign)
        return updates, ScaleByRpropState(h.count, steps, signs, h.state)

    return GradientTransformation(init, update)

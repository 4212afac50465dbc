"""Gradient accumulation: step the optimizer once per several micro-batches."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, _accepting_extra_args, chain


class AccumulateGradientsState(NamedTuple):
    """State of `accumulate_gradients`.

    Attributes:
      count: update calls so far (int32, saturating).
      micro_step: calls since the inner optimizer last stepped.
      weight: total weight (samples, or calls) accumulated since the last step, float32
        (float64 for float64 params).
      acc: the weighted sum of the gradients since the last step.
      inner_state: the inner optimizer's state.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    micro_step: jax.Array
    weight: jax.Array
    acc: Any
    inner_state: Any


class ApplyEveryState(NamedTuple):
    """State of `apply_every`: the sum of the updates since the last emission."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    micro_step: jax.Array
    acc: Any


def _buffers(params: Any, dtype: Any) -> Any:
    if dtype is not None:
        return _tree.zeros_like(params, dtype)
    return jax.tree.map(lambda p: jnp.zeros_like(p, _tree.wide_dtype(jnp.result_type(p))), params)


@_validate.public_call("optx.accumulate_gradients")
def accumulate_gradients(
    inner: GradientTransformation,
    every_k: int | None = None,
    *,
    every_samples: float | None = None,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Averages micro-batch gradients and steps ``inner`` once per ``every_k`` calls (MultiSteps).

    Update rule, for micro-batch gradients ``g_i`` with sample counts ``n_i``::

        acc = sum_i n_i * g_i,  W = sum_i n_i           (n_i = 1 unless num_samples is given)
        on a stepping call: u, inner_state = inner.update(acc / W, inner_state, params)
        otherwise:          u = 0 and inner_state is unchanged

    With ``every_k`` the inner optimizer steps on calls ``k, 2k, ...``; with
    ``every_samples`` it steps on the first call at which ``W >= every_samples`` (fastai's
    ``GradientAccumulation(n_acc)``, which counts samples, not batches). Pass each
    micro-batch's size as the extra argument ``num_samples=`` so unequal micro-batches are
    weighted as in the full batch: when each ``g_i`` is a mean over its micro-batch, the
    inner optimizer sees exactly the full-batch mean gradient. It never steps on the first
    micro-batch alone and never sums where it should average.

    Memory: one buffer shaped like the params (``accumulator_dtype``, default float32 at
    least), besides the inner state; ``lax.cond`` runs the inner update only on stepping
    calls. Schedules inside ``inner`` advance once per real step. Use `has_updated` to
    tell whether the last call stepped.

    Args:
      inner: the optimizer to step.
      every_k: micro-batches per step (int >= 1).
      every_samples: samples per step (> 0), instead of ``every_k``.
      accumulator_dtype: dtype of the gradient sum (e.g. ``jnp.bfloat16`` to save memory).

    Raises:
      ValueError: neither or both of ``every_k`` and ``every_samples``, or bad values.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.accumulate_gradients(optx.sgd(1.0), every_k=2)
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.array([1.0]), state)
      >>> u2, state = tx.update(jnp.array([3.0]), state)
      >>> u1, u2, bool(optx.has_updated(state))
      (Array([0.], dtype=float32), Array([-2.], dtype=float32), True)

    References:
      Optax ``MultiSteps``; fastai ``GradientAccumulation``.
    """
    _validate.check_transformation("optx.accumulate_gradients", "inner", inner)
    _validate.check_float_dtype("optx.accumulate_gradients", "accumulator_dtype", accumulator_dtype)
    call = "optx.accumulate_gradients"
    if (every_k is None) == (every_samples is None):
        raise ValueError(f"{call}: give exactly one of every_k and every_samples")
    if every_k is not None:
        _validate.check_int(call, "every_k", every_k, low=1)
    else:
        _validate.check_positive(call, "every_samples", every_samples)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        return AccumulateGradientsState(
            _tree.zero_count(params),
            _tree.zero_count(params),
            _tree.place(
                jnp.zeros([], _tree.scalar_dtype(params)), _tree.replicated_sharding(params)
            ),
            _buffers(params, accumulator_dtype),
            inner.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        _tree.check_structure(call, state.acc, updates)
        n = extra_args.get("num_samples")
        dtype = state.weight.dtype
        n = jnp.ones([], dtype) if n is None else jnp.asarray(n).astype(dtype)
        weight = state.weight + n
        micro = state.micro_step + 1

        def add(a, g):
            wide = _tree.wide_dtype(a)
            return (a.astype(wide) + n.astype(wide) * g.astype(wide)).astype(a.dtype)

        acc = jax.tree.map(add, state.acc, updates)
        ready = micro >= every_k if every_k is not None else weight >= every_samples

        def step(operand):
            acc, inner_state = operand
            inverse = 1 / jnp.maximum(weight, jnp.finfo(dtype).tiny)
            mean = jax.tree.map(
                lambda a, g: (
                    a.astype(_tree.wide_dtype(a)) * inverse.astype(_tree.wide_dtype(a))
                ).astype(g.dtype),
                acc,
                updates,
            )
            new, inner_state = inner_update(mean, inner_state, params, **extra_args)
            new = jax.tree.map(lambda u, g: u.astype(g.dtype), new, updates)
            return new, jax.tree.map(jnp.zeros_like, acc), inner_state

        def skip(operand):
            acc, inner_state = operand
            return jax.tree.map(jnp.zeros_like, updates), acc, inner_state

        new, acc, inner_state = jax.lax.cond(ready, step, skip, (acc, state.inner_state))
        zero = jnp.zeros([], dtype)
        return new, AccumulateGradientsState(
            _tree.safe_increment(state.count),
            jnp.where(ready, 0, micro).astype(jnp.int32),
            jnp.where(ready, zero, weight),
            acc,
            inner_state,
        )

    return GradientTransformation(init, update)


def has_updated(state: Any) -> jax.Array:
    """Whether the last update of an `accumulate_gradients` (or `apply_every`) state stepped.

    ``state`` may be the wrapper's state or any state containing exactly one of them (a
    chain, a train state's ``opt_state``). Returns a bool scalar array (jit-safe).

    Raises:
      ValueError: the state holds no accumulation state, or several.
    """
    found = [
        node
        for node in jax.tree.leaves(
            state, is_leaf=lambda x: isinstance(x, (AccumulateGradientsState, ApplyEveryState))
        )
        if isinstance(node, (AccumulateGradientsState, ApplyEveryState))
    ]
    if len(found) != 1:
        raise ValueError(
            f"optx.has_updated: the state holds {len(found)} accumulate_gradients/apply_every "
            "states; pass the one you mean"
        )
    node = found[0]
    return (node.micro_step == 0) & (node.count > 0)


@_validate.public_call("optx.apply_every")
def apply_every(k: int = 1, *, accumulator_dtype: Any = None) -> GradientTransformation:
    """Sums the updates of ``k`` calls and emits the sum on every ``k``-th call, zero otherwise.

    Update rule::

        acc = acc + u
        on calls k, 2k, ...: emit acc and reset it to 0; otherwise emit 0

    Unlike `accumulate_gradients` (which wraps an optimizer and averages *gradients*),
    ``apply_every`` is chained *after* an optimizer, so the optimizer's state advances on
    every micro-batch and ``k`` of its steps are applied at once (a sum, as in Optax).

    Args:
      k: calls per emission (int >= 1).
      accumulator_dtype: dtype of the sum (default float32 at least).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.apply_every(2)
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.array([1.0]), state)
      >>> u2, state = tx.update(jnp.array([3.0]), state)
      >>> u1, u2
      (Array([0.], dtype=float32), Array([4.], dtype=float32))
    """
    _validate.check_float_dtype("optx.apply_every", "accumulator_dtype", accumulator_dtype)
    call = "optx.apply_every"
    _validate.check_int(call, "k", k, low=1)

    def init(params):
        return ApplyEveryState(
            _tree.zero_count(params), _tree.zero_count(params), _buffers(params, accumulator_dtype)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.acc, updates)
        micro = state.micro_step + 1
        ready = micro >= k

        def one(g, a):
            total = a.astype(_tree.wide_dtype(a)) + g.astype(_tree.wide_dtype(a))
            emitted = jnp.where(ready, total, 0).astype(g.dtype)
            return emitted, jnp.where(ready, 0, total).astype(a.dtype)

        new, acc = _tree.map_unzip(one, 2, updates, state.acc)
        return new, ApplyEveryState(
            _tree.safe_increment(state.count), jnp.where(ready, 0, micro).astype(jnp.int32), acc
        )

    return GradientTransformation(init, update)


class MultiSteps:
    """Optax's ``MultiSteps`` interface over `accumulate_gradients`.

    Update rule: the inner optimizer steps once per ``every_k_schedule`` calls on the mean
    (``use_grad_mean=True``) or the sum of the gradients since its last step; the other
    calls return zero updates. ``MultiSteps(opt, k).gradient_transformation()`` is
    ``accumulate_gradients(opt, every_k=k)``. The state is an `AccumulateGradientsState`
    (fields ``micro_step``, ``acc``, ``inner_state``), not Optax's ``MultiStepsState``.

    Args:
      opt: the optimizer to step.
      every_k_schedule: micro-batches per step, an int >= 1 (Optax also takes a function
        of the step; not supported here).
      use_grad_mean: True: the inner optimizer sees the mean; False: the sum.
      should_skip_update_fn: not supported (must be None); wrap with
        `optx.apply_if_finite` to skip non-finite gradients.
      accumulator_dtype: dtype of the gradient sum.

    Raises:
      TypeError: ``every_k_schedule`` is a function.
      NotImplementedError: ``should_skip_update_fn`` is given.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> ms = optx.MultiSteps(optx.sgd(1.0), every_k_schedule=2)
      >>> state = ms.init(jnp.zeros(1))
      >>> u1, state = ms.update(jnp.ones(1), state)
      >>> u2, state = ms.update(3 * jnp.ones(1), state)
      >>> u1, u2, bool(ms.has_updated(state))
      (Array([0.], dtype=float32), Array([-2.], dtype=float32), True)

    References:
      Optax ``MultiSteps``.
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int,
        use_grad_mean: bool = True,
        should_skip_update_fn: Any = None,
        accumulator_dtype: Any = jnp.float32,
    ):
        call = "optx.MultiSteps"
        if callable(every_k_schedule):
            raise TypeError(
                f"{call}(every_k_schedule={every_k_schedule!r}): a schedule of k is not "
                "supported; pass an int (optx.accumulate_gradients(..., every_samples=n) "
                "accumulates a number of samples instead)"
            )
        if should_skip_update_fn is not None:
            raise NotImplementedError(
                f"{call}(should_skip_update_fn={should_skip_update_fn!r}) is not supported; "
                "wrap the optimizer with optx.apply_if_finite to skip non-finite gradients"
            )
        _validate.check_int(call, "every_k_schedule", every_k_schedule, low=1)
        self.inner_opt = opt
        inner = opt
        if not use_grad_mean:
            k = every_k_schedule
            total = GradientTransformation(
                lambda params: (),
                lambda updates, state, params=None, **extra_args: (
                    jax.tree.map(lambda g: g * k, updates),
                    state,
                ),
            )
            inner = chain(total, opt)
        self._tx = accumulate_gradients(
            inner, every_k=every_k_schedule, accumulator_dtype=accumulator_dtype
        )
        self.init = self._tx.init
        self.update = self._tx.update

    def gradient_transformation(self) -> GradientTransformation:
        """The `GradientTransformation` ``(init, update)`` pair."""
        return self._tx

    def has_updated(self, state: Any) -> jax.Array:
        """Whether the last update stepped the inner optimizer (see `optx.has_updated`)."""
        return has_updated(state)

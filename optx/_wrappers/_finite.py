"""Non-finite gradients: skip the step, zero the NaNs, and dynamic loss scaling."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _tree, _validate
from optx._core import GradientTransformation, _accepting_extra_args


class ApplyIfFiniteState(NamedTuple):
    """State of `apply_if_finite`.

    Attributes:
      count: update calls so far.
      notfinite_count: consecutive calls with non-finite gradients, up to this one.
      total_notfinite: all calls with non-finite gradients (skipped steps).
      last_finite: whether the last call's gradients were finite (bool).
      inner_state: the inner optimizer's state (unchanged by skipped steps).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    notfinite_count: jax.Array
    total_notfinite: jax.Array
    last_finite: jax.Array
    inner_state: Any


class ZeroNansState(NamedTuple):
    """State of `zero_nans`: per leaf, whether the last update had a NaN."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    found_nan: Any


def all_finite(tree: Any) -> jax.Array:
    """True (a bool scalar array) when every element of every leaf is finite.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> bool(optx.all_finite({"a": jnp.ones(2), "b": jnp.array([1.0, jnp.inf])}))
      False
    """
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return functools.reduce(jnp.logical_and, leaves, jnp.asarray(True))


def _give_up(call: str, limit: int, consecutive: jax.Array) -> None:
    def check(value):
        worst = int(np.max(np.asarray(value)))
        if worst > limit:
            raise FloatingPointError(
                f"{call}: {worst} consecutive updates had non-finite gradients "
                f"(max_consecutive_errors={limit}); giving up. Lower the learning rate, check "
                "the data and the loss, or use optx.dynamic_loss_scale for low precision"
            )

    if isinstance(consecutive, jax.core.Tracer):
        # the host is called only when giving up, not at every step
        jax.lax.cond(
            jnp.max(consecutive) > limit,
            lambda c: jax.debug.callback(check, c),
            lambda c: None,
            consecutive,
        )
    else:
        check(consecutive)


@_validate.public_call("optx.apply_if_finite")
def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    """Skips the update (zero update, state kept) when the gradients hold a NaN or infinity.

    Update rule::

        if all gradients are finite: u, inner_state = inner.update(g, inner_state, params)
        else:                        u = 0, inner_state unchanged, counters += 1

    The state counts skipped steps in total (``total_notfinite``) and in a row
    (``notfinite_count``). After more than ``max_consecutive_errors`` non-finite steps in a
    row it gives up loudly: it raises ``FloatingPointError`` (under ``jit`` the error comes
    from a host callback and surfaces as a ``JaxRuntimeError`` carrying that message),
    rather than training on silently. Optax's version applies the non-finite update instead.

    Args:
      inner: the optimizer to protect.
      max_consecutive_errors: non-finite steps in a row to tolerate (int >= 0).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.apply_if_finite(optx.sgd(0.1), max_consecutive_errors=3)
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.array([1.0, jnp.nan]), state)
      >>> u, int(state.total_notfinite)
      (Array([0., 0.], dtype=float32), 1)
    """
    _validate.check_transformation("optx.apply_if_finite", "inner", inner)
    call = "optx.apply_if_finite"
    _validate.check_int(call, "max_consecutive_errors", max_consecutive_errors, low=0)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        zero = lambda: _tree.zero_count(params)  # noqa: E731 - one buffer per leaf (donation)
        finite = _tree.place(jnp.asarray(True), _tree.replicated_sharding(params))
        return ApplyIfFiniteState(zero(), zero(), zero(), finite, inner.init(params))

    def update(updates, state, params=None, **extra_args):
        finite = all_finite(updates)
        consecutive = jnp.where(finite, 0, state.notfinite_count + 1).astype(jnp.int32)
        _give_up(call, max_consecutive_errors, consecutive)

        def step(inner_state):
            new, inner_state = inner_update(updates, inner_state, params, **extra_args)
            return jax.tree.map(lambda u, g: u.astype(g.dtype), new, updates), inner_state

        def skip(inner_state):
            return jax.tree.map(jnp.zeros_like, updates), inner_state

        new, inner_state = jax.lax.cond(finite, step, skip, state.inner_state)
        total = jnp.where(
            finite, state.total_notfinite, _tree.safe_increment(state.total_notfinite)
        )
        return new, ApplyIfFiniteState(
            _tree.safe_increment(state.count),
            consecutive,
            total.astype(jnp.int32),
            finite,
            inner_state,
        )

    return GradientTransformation(init, update)


def zero_nans() -> GradientTransformation:
    """Replaces NaNs in the updates by 0; the state records which leaves had one.

    Update rule: ``u = where(isnan(g), 0, g)``. Infinities pass through (use
    `apply_if_finite` to skip those steps).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.zero_nans()
      >>> u, state = tx.update(jnp.array([1.0, jnp.nan]), tx.init(jnp.zeros(2)))
      >>> u, bool(state.found_nan)
      (Array([1., 0.], dtype=float32), True)
    """

    def init(params):
        return ZeroNansState(
            _tree.zero_count(params),
            jax.tree.map(lambda p: _tree.zeros_reduced(p, (), jnp.bool_), params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        if _tree.structure(state.found_nan) != _tree.structure(updates):
            raise ValueError(
                "optx.zero_nans: the updates tree does not match the tree the state was built "
                f"for ({_tree.describe_mismatch(state.found_nan, updates)})"
            )
        found = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
        new = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
        return new, ZeroNansState(_tree.safe_increment(state.count), found)

    return GradientTransformation(init, update)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["loss_scale", "good_steps"],
    meta_fields=["growth_interval", "growth_factor", "backoff_factor", "min_scale"],
)
@dataclasses.dataclass(frozen=True)
class DynamicLossScale:
    """A dynamic loss scale for low-precision training; build it with `dynamic_loss_scale`.

    A pytree (``loss_scale`` float32 and ``good_steps`` int32 are its leaves; the policy is
    static), so it is carried through a jitted step like any state.

    Attributes:
      loss_scale: the current scale (float32 scalar).
      good_steps: finite steps since the scale last changed.
      growth_interval, growth_factor, backoff_factor, min_scale: the policy.
    """

    loss_scale: jax.Array
    good_steps: jax.Array
    growth_interval: int = 2000
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    min_scale: float = 1.0

    def scale(self, tree: Any) -> Any:
        """Multiplies every leaf (the loss) by the loss scale, keeping its dtype."""
        return _tree.scale_tree(self.loss_scale, tree)

    def unscale(self, tree: Any) -> Any:
        """Divides every leaf (the gradients) by the loss scale, keeping its dtype."""
        return _tree.scale_tree(1 / self.loss_scale, tree)

    def adjust(self, grads_finite: jax.Array) -> DynamicLossScale:
        """The scale for the next step: shrink on overflow, grow after a run of finite steps.

        Non-finite: ``scale = max(scale * backoff_factor, min_scale)``. Finite: after
        ``growth_interval`` finite steps in a row, ``scale *= growth_factor`` (unless that
        overflows float32).
        """
        good = self.good_steps + 1
        grow = grads_finite & (good >= self.growth_interval)
        grown = self.loss_scale * jnp.float32(self.growth_factor)
        grown = jnp.where(jnp.isfinite(grown), grown, self.loss_scale)
        shrunk = jnp.maximum(self.loss_scale * jnp.float32(self.backoff_factor), self.min_scale)
        scale = jnp.where(grads_finite, jnp.where(grow, grown, self.loss_scale), shrunk)
        good = jnp.where(grads_finite & ~grow, good, 0).astype(jnp.int32)
        return dataclasses.replace(self, loss_scale=scale.astype(jnp.float32), good_steps=good)


@_validate.public_call("optx.dynamic_loss_scale")
def dynamic_loss_scale(
    initial_scale: float = 2.0**15,
    *,
    growth_interval: int = 2000,
    growth_factor: float = 2.0,
    backoff_factor: float = 0.5,
    min_scale: float = 1.0,
) -> DynamicLossScale:
    """A dynamic loss scale: scale the loss, unscale the gradients, adjust on overflow.

    fp16 (and sometimes bf16) gradients underflow unless the loss is multiplied by a large
    factor before differentiation. The scale is halved whenever the gradients overflow and
    doubled after ``growth_interval`` finite steps in a row (Micikevicius et al., 2018;
    Gluon's AMP skips the step on overflow, as `apply_if_finite` does)::

        grads = jax.grad(lambda p: ls.scale(loss_fn(p, batch)))(params)
        grads = ls.unscale(grads)
        ls = ls.adjust(optx.all_finite(grads))
        updates, opt_state = tx.update(grads, opt_state, params)   # tx = apply_if_finite(...)

    Args:
      initial_scale: > 0.
      growth_interval: finite steps in a row before growing (int >= 1).
      growth_factor: > 1.
      backoff_factor: in (0, 1).
      min_scale: the scale never goes below this (> 0).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> ls = optx.dynamic_loss_scale(8.0, growth_interval=2)
      >>> float(ls.adjust(jnp.asarray(False)).loss_scale)
      4.0
      >>> ls = ls.adjust(jnp.asarray(True)).adjust(jnp.asarray(True))
      >>> float(ls.loss_scale), float(ls.unscale(ls.scale(jnp.float32(3.0))))
      (16.0, 3.0)

    References:
      Micikevicius et al., 2018, Mixed Precision Training, https://arxiv.org/abs/1710.03740
    """
    call = "optx.dynamic_loss_scale"
    _validate.check_positive(call, "initial_scale", initial_scale)
    _validate.check_int(call, "growth_interval", growth_interval, low=1)
    _validate.check_range(call, "growth_factor", growth_factor, 1.0, low_open=True)
    _validate.check_range(
        call, "backoff_factor", backoff_factor, 0.0, 1.0, low_open=True, high_open=True
    )
    _validate.check_positive(call, "min_scale", min_scale)
    return DynamicLossScale(
        jnp.asarray(initial_scale, jnp.float32),
        _tree.zero_count(),
        int(growth_interval),
        float(growth_factor),
        float(backoff_factor),
        float(min_scale),
    )

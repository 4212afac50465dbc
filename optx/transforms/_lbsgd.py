"""Large-batch SGD (MXNet's LBSGD): accumulate ``batch_scale`` gradients, warm the rate up."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState

WARMUP_STRATEGIES = ("linear", "power2", "sqrt", "lars")


class ScaleByLbsgdState(NamedTuple):
    """State of `scale_by_lbsgd`: accumulated gradients (``()`` when batch_scale is 1)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    cum_grad: Any
    trace: Any
    hyperparams: HyperparamsState


def _norm_sq(x: jax.Array) -> jax.Array:
    return _tree.squared_norm(x)


@_validate.public_call("optx.scale_by_lbsgd")
def scale_by_lbsgd(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    warmup_strategy: str = "linear",
    warmup_epochs: int = 5,
    batch_scale: int = 1,
    updates_per_epoch: int = 32,
    begin_epoch: int = 0,
) -> GradientTransformation:
    """MXNet's LBSGD: momentum SGD on gradients averaged over ``batch_scale`` calls, with a
    warmup multiplier on the learning rate. Returns the whole parameter update.

    Let ``n = begin_epoch * updates_per_epoch + c + 1`` where ``c`` is the number of calls
    so far, ``S = batch_scale`` and ``N = warmup_epochs * updates_per_epoch``. Each call adds
    ``g`` to an accumulator. When ``n % S == 0``::

        g = accumulated / S                       (then the accumulator is reset)
        mult = S                                  if n >= N (or N <= 1: 1 before N)
        mult = 1 + (S - 1) * n / N                'linear'
        mult = 1 + (S - 1) * (n / N)**2           'power2'
        mult = 1 + (S - 1) * sqrt(n / N)          'sqrt'
        mult = clip(sqrt(|w|^2 / (|g|^2 + wd |w|^2 + 1e-18)), 0.01, 100)   'lars', per leaf
        m = momentum * m - lr * mult * (g + weight_decay * w)
        u = m

    Otherwise ``u = 0`` and the momentum is untouched. So ``S`` calls on batches of size
    ``b`` make one step with the mean gradient of an ``S * b`` batch ("batch_scale"
    emulates a large batch; the warmup then ramps the rate towards ``S`` times). The
    learning rate sits inside the momentum (MXNet's SGD convention) and schedules are read
    at the call count ``c`` (MXNet's LBSGD also reads the rate before counting).

    Args:
      learning_rate: >= 0.
      momentum: in [0, 1).
      weight_decay: >= 0, coupled L2 (added to the averaged gradient).
      warmup_strategy: one of 'linear', 'power2', 'sqrt', 'lars'.
      warmup_epochs, updates_per_epoch, begin_epoch: ints >= 0 (updates_per_epoch >= 1).
      batch_scale: int >= 1.

    Raises:
      ValueError: at update, when ``params`` are missing.

    References:
      Goyal et al., 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour,
      https://arxiv.org/abs/1706.02677
      You et al., 2017, Large Batch Training of Convolutional Networks,
      https://arxiv.org/abs/1708.03888
    """
    call = "optx.scale_by_lbsgd"
    _validate.check_choice(call, "warmup_strategy", warmup_strategy, WARMUP_STRATEGIES)
    _validate.check_int(call, "warmup_epochs", warmup_epochs, 0)
    _validate.check_int(call, "batch_scale", batch_scale, 1)
    _validate.check_int(call, "updates_per_epoch", updates_per_epoch, 1)
    _validate.check_int(call, "begin_epoch", begin_epoch, 0)
    hyperparams = Hyperparams(
        call,
        constraints={"momentum": _constraints.UNIT_INTERVAL},
        learning_rate=learning_rate,
        momentum=momentum,
        weight_decay=weight_decay,
    )
    scale = int(batch_scale)
    first = int(begin_epoch) * int(updates_per_epoch)
    warmup = int(warmup_epochs) * int(updates_per_epoch)

    def schedule_mult(n: jax.Array, dtype: Any) -> jax.Array:
        if warmup <= 1:
            return jnp.where(n >= warmup, float(scale), 1.0)
        frac = n.astype(dtype) / warmup
        shape = {"linear": frac, "power2": frac * frac, "sqrt": jnp.sqrt(frac)}
        ramp = 1.0 + (scale - 1.0) * shape[warmup_strategy]
        return jnp.where(n >= warmup, float(scale), ramp)

    def init(params):
        cum = _tree.moments_like(params) if scale > 1 else ()
        return ScaleByLbsgdState(
            hyperparams.init_count(params),
            cum,
            _tree.moments_like(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.check_structure(call, state.trace, updates)
        _tree.require_params(call, params)
        _tree.check_structure(call, state.trace, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)
        n = state.count + (first + 1)
        boundary = (n % scale == 0) if scale > 1 else jnp.asarray(True)
        if warmup_strategy != "lars":
            mult = schedule_mult(n, h["learning_rate"].dtype)

        def one(g, w, m, *cum):
            wide = m.dtype
            total = g.astype(wide) + cum[0] if cum else g.astype(wide)
            avg = total / scale if scale > 1 else total
            ww = w.astype(wide)
            wd = h["weight_decay"]
            if warmup_strategy == "lars":
                w2 = _norm_sq(w)
                ratio = jnp.sqrt(w2 / (_norm_sq(avg) + wd * w2 + 1e-18))
                leaf_mult = jnp.clip(ratio, 0.01, 100.0)
            else:
                leaf_mult = mult
            step = (h["learning_rate"] * leaf_mult).astype(wide)
            new_m = h["momentum"].astype(wide) * m - step * (avg + wd.astype(wide) * ww)
            new_m = jnp.where(boundary, new_m, m)
            u = jnp.where(boundary, new_m, 0.0).astype(g.dtype)
            if not cum:
                return u, new_m
            return u, new_m, jnp.where(boundary, 0.0, total)

        if scale > 1:
            updates, trace, cum = _tree.map_unzip(
                one, 3, updates, params, state.trace, state.cum_grad
            )
        else:
            (updates, trace), cum = _tree.map_unzip(one, 2, updates, params, state.trace), ()
        count = h.count
        return updates, ScaleByLbsgdState(count, cum, trace, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

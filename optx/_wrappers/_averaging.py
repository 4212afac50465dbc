"""Averages of the parameters (EMA, Polyak) kept in the optimizer state, for evaluation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class EmaParamsState(NamedTuple):
    """State of `ema_params` and `polyak_params`.

    Attributes:
      count: update calls so far.
      decay_product: product of the decays used so far (1.0 at init), float32 (float64
        for float64 params).
      average: the averaged params, ready to use (already debiased).
      hyperparams: holds ``decay`` (empty for `polyak_params`).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    decay_product: jax.Array
    average: Any
    hyperparams: HyperparamsState


def _averager(call: str, hyperparams: Hyperparams, weight_fn, accumulator_dtype: Any):
    _validate.check_float_dtype(call, "accumulator_dtype", accumulator_dtype, complex_ok=True)

    def init(params):
        average = jax.tree.map(
            lambda p: jnp.array(
                p, dtype=accumulator_dtype or _tree.wide_dtype(jnp.result_type(p)), copy=True
            ),
            params,
        )
        sharding = _tree.replicated_sharding(params)
        product = _tree.place(jnp.ones([], _tree.scalar_dtype(params)), sharding)
        return EmaParamsState(
            hyperparams.init_count(params), product, average, hyperparams.init(params)
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, state.average, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        weight, product = weight_fn(h, count, state.decay_product)

        def one(a, p, u):
            wide = _tree.wide_dtype(a)
            new = p.astype(wide) + u.astype(wide)
            return (a.astype(wide) + weight.astype(wide) * (new - a.astype(wide))).astype(a.dtype)

        average = jax.tree.map(one, state.average, params, updates)
        return updates, EmaParamsState(count, product, average, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.ema_params")
def ema_params(
    decay: ScalarOrSchedule = 0.999, debias: bool = True, *, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Keeps an exponential moving average of the parameters in the state (updates unchanged).

    Chain it *last*, so it sees the final updates: the new params are ``w + u``, and::

        a = a + c_t * ((w + u) - a),   c_t = (1 - d_t) / (1 - d_1 * ... * d_t)   (debias)
                                       c_t = 1 - d_t                             (no debias)

    ``a`` starts as a copy of the params. With ``debias`` the first update replaces it and
    ``a`` is the bias-corrected EMA of the params seen since (exact for a scheduled decay
    too, where Optax's ``ema`` divides by ``1 - decay**t``); without it the initial params
    keep weight ``d_1 * ... * d_t`` (the TF/flax habit).
    Read the average with `averaged_params` for evaluation.

    Args:
      decay: in [0, 1); float, array or schedule (hyperparameter ``decay``).
      debias: correct the startup bias (see above).
      accumulator_dtype: dtype of the average (default float32 at least).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.chain(optx.sgd(1.0), optx.ema_params(0.5))
      >>> w = jnp.zeros(1)
      >>> state = tx.init(w)
      >>> for g in (1.0, 1.0):
      ...     u, state = tx.update(jnp.array([g]), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> w, optx.averaged_params(state)
      (Array([-2.], dtype=float32), Array([-1.6666666], dtype=float32))

    References:
      Polyak and Juditsky, 1992, Acceleration of Stochastic Approximation by Averaging,
      https://doi.org/10.1137/0330046
    """
    call = "optx.ema_params"
    hyperparams = Hyperparams(call, constraints={"decay": _constraints.UNIT_INTERVAL}, decay=decay)

    def weight_fn(h, count, product):
        d = h["decay"]
        new_product = product * d
        if debias:
            tiny = jnp.finfo(product.dtype).tiny
            return (1 - d) / jnp.maximum(1 - new_product, tiny), new_product
        return 1 - d, new_product

    return _averager(call, hyperparams, weight_fn, accumulator_dtype)


@_validate.public_call("optx.polyak_params")
def polyak_params(start: int = 0, *, accumulator_dtype: Any = None) -> GradientTransformation:
    """Keeps the uniform (Polyak-Ruppert) average of the parameters after ``start`` updates.

    Chain it last. The average of the params after updates ``start + 1, ..., t``::

        a = a + ((w + u) - a) / (t - start)       for t > start;  a follows w before that

    Args:
      start: updates to skip before averaging begins (tail averaging), int >= 0.
      accumulator_dtype: dtype of the average (default float32 at least).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.chain(optx.sgd(1.0), optx.polyak_params())
      >>> w = jnp.zeros(1)
      >>> state = tx.init(w)
      >>> for _ in range(3):
      ...     u, state = tx.update(jnp.ones(1), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> optx.averaged_params(state)
      Array([-2.], dtype=float32)

    References:
      Polyak and Juditsky, 1992, Acceleration of Stochastic Approximation by Averaging,
      https://doi.org/10.1137/0330046
    """
    call = "optx.polyak_params"
    _validate.check_int(call, "start", start, low=0)

    def weight_fn(h, count, product):
        n = jnp.maximum(count - start, 1).astype(product.dtype)
        return 1 / n, product

    return _averager(call, Hyperparams(call), weight_fn, accumulator_dtype)


def averaged_params(state: Any, like: Any = None) -> Any:
    """The averaged params held by an `ema_params` or `polyak_params` state.

    ``state`` may be the whole optimizer state (a chain); it must hold exactly one
    averaging state. With ``like`` (the live params) each leaf is cast to its dtype, ready
    to evaluate a bf16 model.

    Raises:
      ValueError: the state holds no averaging state, or several.
    """
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, EmaParamsState))
        if isinstance(node, EmaParamsState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"optx.averaged_params: the state holds {len(found)} ema_params/polyak_params "
            "states; pass the one you mean"
        )
    average = found[0].average
    if like is None:
        return average
    return jax.tree.map(lambda a, p: a.astype(jnp.result_type(p)), average, like)

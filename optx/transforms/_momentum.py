"""Momentum: heavy-ball/Nesterov traces and exponential moving averages."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like


class TraceState(NamedTuple):
    """State of `trace`: the momentum buffer.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    trace: Any
    hyperparams: HyperparamsState


class EmaState(NamedTuple):
    """State of `ema`: the moving average."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    ema: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.trace")
def trace(
    decay: ScalarOrSchedule,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
    *,
    dampening: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """Heavy-ball momentum (Polyak, 1964), optionally Nesterov's.

    Update rule::

        t = decay * t + g
        u = t                      (heavy ball)
        u = g + decay * t          (nesterov, with the new t)

    With ``dampening`` (PyTorch's SGD), ``t = decay * t + (1 - dampening) * g`` from the
    second update on; the first update sets ``t = g`` undamped, as PyTorch does.

    The learning rate is applied outside (after) the trace, as in Optax and PyTorch. MXNet
    puts it inside (``m = mu*m - lr*g``); the two agree for a constant rate and differ under
    a schedule. Chain `scale_by_learning_rate` *before* `trace` for MXNet's form.

    Args:
      decay: the momentum coefficient in [0, 1) (float, array or schedule), hyperparameter
        ``decay``.
      nesterov: use Nesterov momentum (Sutskever et al., 2013).
      accumulator_dtype: dtype of the buffer; default: the params' dtype.
      dampening: PyTorch's dampening in [0, 1] (hyperparameter ``dampening``); ``None``
        (the default) is 0 and holds no hyperparameter.

    Raises:
      ValueError: a decay outside [0, 1), or a dampening outside [0, 1].

    References:
      Polyak, 1964, Some methods of speeding up the convergence of iteration methods.
      Sutskever et al., 2013, On the importance of initialization and momentum in deep
      learning, http://proceedings.mlr.press/v28/sutskever13.html
    """
    _validate.check_float_dtype(
        "optx.trace", "accumulator_dtype", accumulator_dtype, complex_ok=True
    )
    damped: dict[str, Any] = {} if dampening is None else {"dampening": dampening}
    constraints = {
        "decay": _constraints.UNIT_INTERVAL,
        "dampening": _constraints.CLOSED_UNIT_INTERVAL,
    }
    hyperparams = Hyperparams(
        "optx.trace",
        constraints={k: constraints[k] for k in ("decay", *damped)},
        decay=decay,
        **damped,
    )

    def init(params):
        trace = _first_moments(params, accumulator_dtype)
        return TraceState(hyperparams.init_count(params), trace, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure("optx.trace", state.trace, updates)
        values = hyperparams.resolve(state.hyperparams, state.count)
        mu = values["decay"]
        if dampening is not None:
            keep = jnp.where(state.count > 0, 1 - values["dampening"], 1)

        def one(g, t):
            wide = _tree.wide_dtype(t)
            mu_w = mu.astype(wide)
            gw = g.astype(wide) if dampening is None else keep.astype(wide) * g.astype(wide)
            t = (mu_w * t.astype(wide) + gw).astype(t.dtype)
            u = g.astype(wide) + mu_w * t.astype(wide) if nesterov else t
            return u.astype(g.dtype), t

        updates, new_trace = _tree.map_unzip(one, 2, updates, state.trace)
        return updates, TraceState(values.count, new_trace, values.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.ema")
def ema(
    decay: ScalarOrSchedule, debias: bool = True, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Exponential moving average of the updates.

    Update rule::

        e = decay * e + (1 - decay) * g
        u = e / (1 - decay**t)     (debias=True, t the 1-based update count)
        u = e                      (debias=False)

    With a scheduled decay the debiasing uses the current decay, as Optax does.

    Args:
      decay: in [0, 1); hyperparameter ``decay``.
      debias: divide by ``1 - decay**t`` (a scalar) so early averages are not biased to 0.
      accumulator_dtype: dtype of the average; default: the params' dtype.
    """
    _validate.check_float_dtype("optx.ema", "accumulator_dtype", accumulator_dtype, complex_ok=True)
    hyperparams = Hyperparams("optx.ema", decay=decay, decays=("decay",))

    def init(params):
        average = _first_moments(params, accumulator_dtype)
        return EmaState(hyperparams.init_count(params), average, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure("optx.ema", state.ema, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        new_ema = h.moment("decay", state.ema, updates)
        correction = 1 / h.bias_correction("decay") if debias else 1.0
        updates = jax.tree.map(
            lambda e, g: (e.astype(_tree.wide_dtype(e)) * _as(correction, e)).astype(g.dtype),
            new_ema,
            updates,
        )
        return updates, EmaState(h.count, new_ema, h.state)

    return GradientTransformation(init, update)


def _as(scalar: Any, x: jax.Array) -> Any:
    """A real scalar correction cast to ``x``'s wide dtype (complex for complex ``x``)."""
    return jnp.asarray(scalar).astype(_tree.wide_dtype(x))


def _first_moments(params: Any, dtype: Any) -> Any:
    """Zeros like ``params`` in ``dtype``, by default each leaf's (bf16 stays bf16, as Optax)."""
    return _tree.zeros_like(params) if dtype is None else moments_like(params, dtype)

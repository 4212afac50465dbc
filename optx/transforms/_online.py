"""Online-learning updates that read the weights: FTRL-proximal and delay-compensated SGD."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByFtrlState(NamedTuple):
    """State of `scale_by_ftrl`: the accumulated ``z`` and squared-gradient sum ``n``."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    z: Any
    n: Any
    hyperparams: HyperparamsState


class ScaleByDcasgdState(NamedTuple):
    """State of `scale_by_dcasgd`: the weights seen at the previous update."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    prev_params: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_ftrl")
def scale_by_ftrl(
    learning_rate: ScalarOrSchedule = 0.1,
    lambda1: ScalarOrSchedule = 0.01,
    beta: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """FTRL-proximal (McMahan et al., 2013), returning the whole parameter update.

    Update rule per coordinate, MXNet's semantics (``lr`` is ``learning_rate``)::

        z = z + g - (sqrt(n + g**2) - sqrt(n)) * w / lr
        n = n + g**2
        w_new = (sign(z) * lambda1 - z) / ((beta + sqrt(n)) / lr + weight_decay)
                if |z| > lambda1 else 0
        u = w_new - w

    The weights are *set* from ``z`` and ``n`` (L1 gives exact zeros), so this transform
    needs ``params`` and its output is the update itself, learning rate and sign included:
    it ends a chain (`optx.ftrl` is this transform alone). ``weight_decay`` is the paper's
    L2 strength ``lambda2`` (MXNet's ``wd``, which sits in the denominator).

    Args:
      learning_rate: > 0 (the paper's alpha).
      lambda1: L1 strength, >= 0 (MXNet's ``lamda1``).
      beta: >= 0, added to ``sqrt(n)``.
      weight_decay: L2 strength, >= 0.

    Raises:
      ValueError: at update, when ``params`` are missing.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_ftrl(learning_rate=0.1, lambda1=0.5)
      >>> w = jnp.zeros(2)
      >>> tx.update(jnp.array([0.1, 2.0]), tx.init(w), w)[0]  # |z| <= lambda1 stays 0
      Array([ 0.  , -0.05], dtype=float32)

    References:
      McMahan et al., 2013, Ad Click Prediction: a View from the Trenches,
      https://research.google/pubs/ad-click-prediction-a-view-from-the-trenches/
    """
    call = "optx.scale_by_ftrl"
    hyperparams = Hyperparams(
        call,
        constraints={
            "learning_rate": _constraints.POSITIVE,
            "lambda1": _constraints.NON_NEGATIVE,
            "beta": _constraints.NON_NEGATIVE,
        },
        learning_rate=learning_rate,
        lambda1=lambda1,
        beta=beta,
        weight_decay=weight_decay,
    )

    def init(params):
        return ScaleByFtrlState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params, real=True),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.check_structure(call, state.z, updates)
        _tree.require_params(call, params)
        _tree.check_structure(call, state.z, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, w, z, n):
            # Complex params: n sums |g|**2 (real), and the L1 step is the complex
            # soft-threshold (jnp.sign(z) = z / |z|): |w| shrinks, the phase is kept.
            wide = _tree.wide_dtype(z)
            rw = _tree.real_dtype(wide)
            gw, ww = g.astype(wide), w.astype(wide)
            lr, l1 = h["learning_rate"].astype(rw), h["lambda1"].astype(rw)
            beta_, wd = h["beta"].astype(rw), h["weight_decay"].astype(rw)
            n_old = n.astype(rw)
            n = (n_old + _tree.abs_sq(gw)).astype(n.dtype)
            sqrt_n = jnp.sqrt(n.astype(rw))
            shift = ((sqrt_n - jnp.sqrt(n_old)) / lr).astype(wide)
            z = (z.astype(wide) + gw - shift * ww).astype(z.dtype)
            zw = z.astype(wide)
            scale = (1 / ((beta_ + sqrt_n) / lr + wd)).astype(wide)
            w_new = (jnp.sign(zw) * l1.astype(wide) - zw) * scale
            w_new = jnp.where(jnp.abs(zw) > l1, w_new, 0.0)
            return (w_new - ww).astype(g.dtype), z, n

        updates, z, n = _tree.map_unzip(one, 3, updates, params, state.z, state.n)
        return updates, ScaleByFtrlState(h.count, z, n, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.scale_by_dcasgd")
def scale_by_dcasgd(lamda: ScalarOrSchedule = 0.04) -> GradientTransformation:
    """Delay-compensated gradient (DC-ASGD), keeping the previous weights.

    Update rule (``w_prev`` starts as a copy of the initial params)::

        u = g + lamda * g**2 * (w - w_prev)
        w_prev = w

    MXNet's DCASGD is ``chain(scale_by_dcasgd(lamda), add_decayed_weights(wd),
    scale_by_learning_rate(lr), trace(momentum))`` (`optx.dcasgd`): in MXNet 1.x the
    squared gradient excludes the weight decay, as here; MXNet 2.0 folds ``wd * w`` into
    ``g`` first (chain `add_decayed_weights` in front instead). In a single process
    ``w - w_prev`` is the last step; in asynchronous training the paper's ``w_prev`` is the
    weight the worker's gradient was computed at. ``w_prev`` is kept in the params' dtype.

    Args:
      lamda: the variance-control strength, >= 0 (MXNet's spelling).

    Raises:
      ValueError: at update, when ``params`` are missing.

    References:
      Zheng et al., 2017, Asynchronous Stochastic Gradient Descent with Delay
      Compensation, https://arxiv.org/abs/1609.08326
    """
    call = "optx.scale_by_dcasgd"
    hyperparams = Hyperparams(call, constraints={"lamda": _constraints.NON_NEGATIVE}, lamda=lamda)

    def init(params):
        prev = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return ScaleByDcasgdState(hyperparams.init_count(params), prev, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.check_structure(call, state.prev_params, updates)
        _tree.require_params(call, params)
        _tree.check_structure(call, state.prev_params, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, w, w_prev):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            delay = w.astype(wide) - w_prev.astype(wide)
            # Complex params: the diagonal of g g^H, |g|**2 (real), stands for g * g.
            u = gw + h["lamda"].astype(wide) * _tree.abs_sq(gw).astype(wide) * delay
            return u.astype(g.dtype), w.astype(w_prev.dtype)

        updates, prev = _tree.map_unzip(one, 2, updates, params, state.prev_params)
        return updates, ScaleByDcasgdState(h.count, prev, h.state)

    return GradientTransformation(init, update)

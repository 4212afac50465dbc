"""Layer-wise trust ratios: LARS, LAMB and Fromage scale each leaf by ``||w|| / ||u||``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms._decay import resolve_mask


class ScaleByTrustRatioState(NamedTuple):
    """State of `scale_by_trust_ratio`.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


class FromageState(NamedTuple):
    """State of the rescaling step inside `optx.fromage`.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


def _norm(x: jax.Array) -> jax.Array:
    """The L2 norm of one leaf: a float32 scalar (float64 for float64 leaves)."""
    return jnp.sqrt(_tree.squared_norm(x))


@_validate.public_call("optx.scale_by_trust_ratio")
def scale_by_trust_ratio(
    min_norm: ScalarOrSchedule = 0.0,
    trust_coefficient: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 0.0,
    *,
    weight_decay: ScalarOrSchedule | None = None,
    lower_bound: ScalarOrSchedule | None = None,
    upper_bound: ScalarOrSchedule | None = None,
    max_ratio: ScalarOrSchedule | None = None,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Scales each leaf's update by its trust ratio ``||w|| / ||u||`` (LARS, LAMB).

    Update rule, per leaf (every norm is a float32 scalar; the ratio is multiplied in)::

        p = clip(max(||w||, min_norm), lower_bound, upper_bound)
        n = max(||g||, min_norm)
        r = trust_coefficient * p / (n + eps)                     (LAMB, Optax's LARS)
        r = trust_coefficient * p / (n + weight_decay * p + eps)  (weight_decay given: LARS)
        r = 1                  where p == 0 or n == 0 (a zero layer still moves)
        r = min(r, max_ratio)                                     (max_ratio given)
        u = r * g              (weight_decay given: u = r * (g + weight_decay * w))

    Conventions. With ``weight_decay`` the decay is added here and the denominator is
    ``||g|| + wd * ||w||``, as in the LARS paper, MXNet's LARS and fastai's LARC; Optax's
    ``lars`` adds the decay first and divides by ``||g + wd * w||``, which agrees only at
    ``wd = 0``. ``lower_bound``/``upper_bound`` clip the weight norm as MXNet's LAMB
    does. ``max_ratio`` caps the ratio: 10 gives fastai's LAMB, 1 gives fastai's LARC
    ``clip=True`` (``min(lr, local_lr)``). MXNet's LARS gives a zero layer a zero step; here
    (as Optax and fastai) its ratio is 1.

    Args:
      min_norm: >= 0, lower clip of both norms (Optax's ``min_norm``).
      trust_coefficient: > 0 (LARS's eta, e.g. 0.001).
      eps: >= 0, added to the denominator.
      weight_decay: >= 0, or None: L2 decay added here with the paper's denominator.
      lower_bound, upper_bound: > 0 or None: bounds on the weight norm (MXNet's LAMB).
      max_ratio: > 0 or None: cap on the ratio (fastai).
      mask: bool pytree (or ``params -> pytree``): leaves where it is False pass through
        unchanged (no ratio, no decay). MXNet's LARS skips biases and norm scales.

    Raises:
      ValueError: at update, when ``params`` are missing.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_trust_ratio()
      >>> w = jnp.array([3.0, 4.0])
      >>> tx.update(jnp.array([0.0, 10.0]), tx.init(w), w)[0]
      Array([0., 5.], dtype=float32)

    References:
      You et al., 2017, Large Batch Training of Convolutional Networks,
      https://arxiv.org/abs/1708.03888
      You et al., 2020, Large Batch Optimization for Deep Learning: Training BERT in 76
      minutes, https://arxiv.org/abs/1904.00962
    """
    call = "optx.scale_by_trust_ratio"
    specs: dict[str, Any] = {
        "min_norm": min_norm,
        "trust_coefficient": trust_coefficient,
        "eps": eps,
    }
    optional = {
        "weight_decay": weight_decay,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "max_ratio": max_ratio,
    }
    for name, value in optional.items():
        if value is None:
            continue
        specs[name] = value
    positive = ("trust_coefficient", "lower_bound", "upper_bound", "max_ratio")
    constraints = {"min_norm": _constraints.NON_NEGATIVE}  # weight_decay, eps: the defaults
    constraints.update({name: _constraints.POSITIVE for name in positive if name in specs})
    hyperparams = Hyperparams(call, constraints=constraints, **specs)

    def init(params):
        if mask is not None:
            resolve_mask(call, mask, params)
        return ScaleByTrustRatioState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        keep = resolve_mask(call, mask, params) if mask is not None else None

        def one(g, w, apply=True):
            if not apply:
                return g
            wide = _tree.wide_dtype(g)
            p = jnp.maximum(_norm(w), h["min_norm"])
            if "lower_bound" in h:
                p = jnp.maximum(p, h["lower_bound"])
            if "upper_bound" in h:
                p = jnp.minimum(p, h["upper_bound"])
            n = jnp.maximum(_norm(g), h["min_norm"])
            denominator = n + h["eps"]
            if "weight_decay" in h:
                denominator = denominator + h["weight_decay"] * p
            zero = (p == 0) | (n == 0)
            ratio = h["trust_coefficient"] * p / jnp.where(zero, 1.0, denominator)
            ratio = jnp.where(zero, 1.0, ratio)
            if "max_ratio" in h:
                ratio = jnp.minimum(ratio, h["max_ratio"])
            ratio = ratio.astype(wide)
            if "weight_decay" in h:
                wd = h["weight_decay"].astype(wide)
                return (ratio * (g.astype(wide) + wd * w.astype(wide))).astype(g.dtype)
            return (ratio * g.astype(wide)).astype(g.dtype)

        if keep is None:
            updates = jax.tree.map(one, updates, params)
        else:
            updates = jax.tree.map(one, updates, params, keep)
        return updates, ScaleByTrustRatioState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


def fromage_rescale(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """The last step of Fromage: ``u = (w - lr * d) / sqrt(1 + lr**2) - w``.

    ``d`` is the incoming (trust-scaled) direction. Computed as
    ``-lr * c * d + (c - 1) * w`` with the scalar ``c = 1 / sqrt(1 + lr**2)``, so the
    learning rate may be a schedule or an array. Private to `optx.fromage`.
    """
    call = "optx.fromage"
    hyperparams = Hyperparams(call, learning_rate=learning_rate)

    def init(params):
        return FromageState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        lr = h["learning_rate"]
        root = jnp.sqrt(1 + lr * lr)
        c = 1 / root
        # c - 1 without cancellation: -lr**2 / (root * (1 + root)).
        shrink = -(lr * lr) / (root * (1 + root))

        def one(d, w):
            wide = _tree.wide_dtype(d)
            step = (-lr * c).astype(wide) * d.astype(wide)
            return (step + shrink.astype(wide) * w.astype(wide)).astype(d.dtype)

        updates = jax.tree.map(one, updates, params)
        return updates, FromageState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

"""Weight decay added to the updates (decoupled when chained after an adaptive scaling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from optx import _flat, _tree, _validate, _xla_cpu
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._paths import as_labeller, resolve_bool_mask


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights`.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


def resolve_mask(call: str, mask: Any, params: Any) -> Any:
    """The boolean mask pytree for ``params`` (a tree or prefix of bools, a function or rules).

    Resolved as in `optx.masked` (`optx._paths.resolve_bool_mask`): a mask leaf covers the
    whole subtree below it, a dict of glob patterns is read as `optx.path_rules`, and a flax
    ``nnx.Variable`` is labelled as its value.

    Raises:
      ValueError: the mask's structure differs from the params' (the message names paths).
    """
    flat = resolve_bool_mask(call, as_labeller(mask), params)
    return jax.tree.unflatten(jax.tree.structure(params), flat)


@_validate.public_call("optx.add_decayed_weights")
def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Adds ``weight_decay * params`` to the updates.

    Update rule: ``u = g + weight_decay * w`` on the leaves where ``mask`` is True.

    Placed before an adaptive scaling (``chain(add_decayed_weights, scale_by_adam)``) this
    is coupled L2 regularization (MXNet's ``wd``, fastai's ``l2_reg``); placed after it and
    before `scale_by_learning_rate` it is decoupled weight decay (AdamW, fastai's default),
    where the decay is multiplied by the learning rate.

    Args:
      weight_decay: >= 0 (float, array or schedule), hyperparameter ``weight_decay``.
      mask: a pytree of bools shaped like the params or a prefix of them (True: decay this
        leaf), a function ``params -> mask``, or path rules (``{"*bias": False, "*": True}``).
        None decays every leaf.

    Raises:
      ValueError: at update, when ``params`` is missing or the mask does not match them.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.add_decayed_weights(0.5)
      >>> p = jnp.array([2.0, -4.0])
      >>> tx.update(jnp.zeros(2), tx.init(p), p)[0]
      Array([ 1., -2.], dtype=float32)

    References:
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    call = "optx.add_decayed_weights"
    hyperparams = Hyperparams(call, weight_decay=weight_decay)

    def init(params):
        if mask is not None:
            resolve_mask(call, mask, params)
        return AddDecayedWeightsState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        (wd,) = _xla_cpu.pack_scalars(updates, h["weight_decay"])
        keep = resolve_mask(call, mask, params) if mask is not None else None

        def one(g, p, decay=True):
            if not decay:
                return g
            wide = _tree.wide_dtype(g)
            return (g.astype(wide) + wd.astype(wide) * p.astype(wide)).astype(g.dtype)

        if keep is None:
            updates = jax.tree.map(one, updates, params)
        else:
            updates = jax.tree.map(one, updates, params, keep)
        return updates, AddDecayedWeightsState(h.count, h.state)

    tx = GradientTransformation(init, update)
    return tx if mask is None else _flat.per_leaf(tx)  # a mask names original leaves

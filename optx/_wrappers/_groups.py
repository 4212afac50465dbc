"""Parameter groups: per-group learning-rate and weight-decay multipliers (MXNet, fastai)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax

from optx import _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._hyperparams_access import get_hyperparams
from optx._paths import as_labeller, known_labels

NO_DECAY_RULES: dict[str, str] = {
    "*bias": "no_decay",
    "*norm*": "no_decay",
    "*scale": "no_decay",
    "*gamma": "no_decay",
    "*beta": "no_decay",
    "*": "decay",
}
"""The default labels of `param_groups`: no weight decay on biases and normalization layers.

fastai's default (``wd_bn_bias=False``), written as path rules (case-insensitive globs on
``"a/b/leaf"`` paths): leaves ending in ``bias``, ``scale`` (flax norm scales), ``gamma`` or
``beta`` (MXNet/Keras norm names), and every leaf whose path contains ``norm`` (``LayerNorm_0``,
``batch_norm``, ``RMSNorm``), are ``"no_decay"``; everything else is ``"decay"``. MXNet's own
default differs: it decays only names ending in ``_weight`` or ``_gamma``.
"""

_MULTS = ("lr_mult", "wd_mult")


class ParamGroupsState(NamedTuple):
    """State of the group scaling steps inside `param_groups` (hyperparameters only)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    hyperparams: HyperparamsState


def _group_scale(call, base_name, base_value, mult_name, mults, labels, *, decay):
    """``u = g + wd * wd_mult[group] * w`` (decay) or ``u = -lr * lr_mult[group] * g``."""
    specs = {base_name: base_value}
    specs.update({f"{group}/{mult_name}": value for group, value in mults.items()})
    hyperparams = Hyperparams(call, **specs)

    def group_of(params):
        fix = "add it to groups= or change param_labels="
        return known_labels(call, labels, params, mults, fix, noun="is in group")

    def init(params):
        group_of(params)
        return ParamGroupsState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if decay:
            _tree.require_params(call, params)
            _tree.check_structure(call, params, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        groups = group_of(updates if params is None else params)
        factors = {g: h[base_name] * h[f"{g}/{mult_name}"] for g in mults}
        leaves, treedef = jax.tree.flatten(updates)
        p_leaves = _tree.flatten_up_to(treedef, params) if decay else [None] * len(leaves)

        def one(g, p, group):
            wide = _tree.wide_dtype(g)
            factor = factors[group].astype(wide)
            if decay:
                return (g.astype(wide) + factor * p.astype(wide)).astype(g.dtype)
            return (-factor * g.astype(wide)).astype(g.dtype)

        new = [one(g, p, group) for g, p, group in zip(leaves, p_leaves, groups)]
        return jax.tree.unflatten(treedef, new), ParamGroupsState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


@_validate.public_call("optx.param_groups")
def param_groups(
    direction: GradientTransformation | None,
    learning_rate: ScalarOrSchedule = 1e-3,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    groups: Mapping[str, Mapping[str, ScalarOrSchedule]] | None = None,
    param_labels: Any = None,
    decoupled: bool = True,
) -> GradientTransformation:
    """One optimizer with per-group learning-rate and weight-decay multipliers.

    Update rule, for a parameter ``w`` in group ``k`` (``d`` is ``direction``'s output)::

        decoupled=True:  u = -learning_rate * lr_mult[k] * (d(g) + weight_decay * wd_mult[k] * w)
        decoupled=False: u = -learning_rate * lr_mult[k] * d(g + weight_decay * wd_mult[k] * w)

    ``direction`` (e.g. ``optx.scale_by_adam()``) runs once over all parameters. The base
    ``learning_rate`` and ``weight_decay`` are held once, so ``optx.get_hyperparams`` reports
    them bare and ``optx.set_hyperparams(state, learning_rate=...)`` moves every group while
    keeping the multipliers; the multipliers are hyperparameters too, named
    ``"<group>/lr_mult"`` and ``"<group>/wd_mult"``, so one group can be changed alone
    (``set_hyperparams(state, {"head/lr_mult": 10.0})``). This is MXNet's ``lr_mult`` /
    ``wd_mult`` and fastai's discriminative learning rates. To give groups *different
    algorithms*, use `optx.partition`.

    The default ``param_labels`` (`NO_DECAY_RULES`) and ``groups`` (``{"decay": {},
    "no_decay": {"wd_mult": 0.0}}``) give fastai's default: no decay on biases and
    normalization parameters. fastai's ``Adam`` is then ``param_groups(scale_by_adam(b2=0.99,
    eps=1e-5), lr, weight_decay=0.01)``; with ``decoupled=False`` the decay is MXNet's
    coupled ``wd``.

    Args:
      direction: a transformation giving a descent direction *without* a learning rate
        (``optx.scale_by_adam()``, ``optx.trace(0.9)``), or None for plain SGD.
      learning_rate: >= 0; float, array or schedule.
      weight_decay: >= 0; float, array or schedule.
      groups: group name -> ``{"lr_mult": ..., "wd_mult": ...}`` (each default 1.0; floats,
        arrays or schedules). Every label must be a group.
      param_labels: each parameter's group: a tree of labels (or prefix), a function
        ``params -> labels``, path rules, or a dict of glob patterns; default
        `NO_DECAY_RULES`.
      decoupled: decay after ``direction`` (AdamW, fastai) or before it (L2, MXNet).

    Raises:
      ValueError: a negative rate or decay, an unknown multiplier name, a direction that
        already has a learning rate, or (at init) a parameter whose group is not in
        ``groups`` (the message gives the path).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.param_groups(optx.scale_by_adam(), 1e-3, weight_decay=0.01)
      >>> params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}}
      >>> sorted(optx.get_hyperparams(tx.init(params)))[-4:]
      ['learning_rate', 'no_decay/lr_mult', 'no_decay/wd_mult', 'weight_decay']

    References:
      Chen et al., 2015, MXNet (Optimizer ``lr_mult`` / ``wd_mult``),
      https://mxnet.apache.org/versions/1.9.1/api/python/docs/api/optimizer/
      Howard and Gugger, 2020, fastai: A Layered API for Deep Learning (discriminative
      learning rates, ``wd_bn_bias``), https://arxiv.org/abs/2002.04688
    """
    if direction is not None:
        _validate.check_transformation("optx.param_groups", "direction", direction)
    call = "optx.param_groups"
    _validate.check_non_negative(call, "learning_rate", learning_rate)
    _validate.check_non_negative(call, "weight_decay", weight_decay)
    if groups is None:
        groups = {"decay": {}, "no_decay": {"wd_mult": 0.0}}
    if not isinstance(groups, Mapping) or not groups:
        raise TypeError(f"{call}: groups must be a non-empty dict name -> multipliers")
    lr_mults, wd_mults = {}, {}
    for name, spec in groups.items():
        unknown = set(spec) - set(_MULTS)
        if unknown:
            raise ValueError(
                f"{call}: groups[{name!r}] has {sorted(unknown)}; a group takes lr_mult and "
                "wd_mult only"
            )
        lr_mults[name] = spec.get("lr_mult", 1.0)
        wd_mults[name] = spec.get("wd_mult", 1.0)
        _validate.check_non_negative(call, f"groups[{name!r}]['lr_mult']", lr_mults[name])
        _validate.check_non_negative(call, f"groups[{name!r}]['wd_mult']", wd_mults[name])
    labels = as_labeller(NO_DECAY_RULES if param_labels is None else param_labels)
    direction = identity() if direction is None else direction
    decay = _group_scale(
        call, "weight_decay", weight_decay, "wd_mult", wd_mults, labels, decay=True
    )
    rate = _group_scale(
        call, "learning_rate", learning_rate, "lr_mult", lr_mults, labels, decay=False
    )
    inner = chain(direction, decay, rate) if decoupled else chain(decay, direction, rate)

    def init(params):
        state: Any = inner.init(params)  # a chain state: a tuple
        direction_state = state[0] if decoupled else state[1]
        if any(k.split("/")[-1] == "learning_rate" for k in get_hyperparams(direction_state)):
            raise ValueError(
                f"{call}: direction already has a learning_rate, which would be applied "
                "twice; pass a direction such as optx.scale_by_adam() rather than optx.adam()"
            )
        return state

    return GradientTransformation(init, inner.update)

"""Masking and partitioning: run a transformation on some parameters only, or one per group.

Masks and labels are pytrees (a prefix of the params is enough: ``{"encoder": False,
"decoder": True}`` covers every leaf below each key), functions ``params -> tree``, or rules
on parameter paths (`path_rules`). Leaves a transformation does not own are replaced by
`MaskedNode` (an empty pytree node) before it sees them, so it allocates no state for them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._core import EmptyState, GradientTransformation, _accepting_extra_args, chain
from optx._paths import (
    PathRules,
    as_labeller,
    is_value_wrapper,
    known_labels,
    path_rules,
    path_string,
    resolve_bool_mask,
    resolve_labels,
)

__all__ = [
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    "PathRules",
    "as_labeller",
    "freeze",
    "known_labels",
    "mask_tree",
    "masked",
    "partition",
    "path_rules",
    "path_string",
    "resolve_bool_mask",
    "resolve_labels",
]


class MaskedNode(NamedTuple):
    """Stands in for a leaf a masked transformation does not own (an empty pytree node).

    As Optax's ``MaskedNode``: ``optax.tree.map_params(tx, f, state)`` skips it, and with
    extra trees shaped like the params it needs ``is_leaf=lambda v: isinstance(v,
    optx.MaskedNode)`` (then ``f`` sees the node where the params have a leaf).
    """


class MaskedState(NamedTuple):
    """State of `masked`: the inner state, built on the masked leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """State of `partition`: one inner state per label (a dict keyed by label)."""

    inner_states: dict[Hashable, Any]


def mask_tree(tree: Any, keep: list[bool]) -> Any:
    """``tree`` with the leaves where ``keep`` is False replaced by `MaskedNode`.

    A value wrapper (a flax ``nnx.Param``) whose leaves are all masked out is replaced as a
    whole, so a state built at ``init`` from Variables has the structure of one built from
    their values (``nnx.Optimizer`` calls ``update`` with bare arrays).
    """
    units, treedef = jax.tree.flatten(tree, is_leaf=is_value_wrapper)
    out, start = [], 0
    for unit in units:
        leaves, unit_def = jax.tree.flatten(unit)
        flags = keep[start : start + len(leaves)]
        start += len(leaves)
        if leaves and not any(flags):
            out.append(MaskedNode())
        elif all(flags):
            out.append(unit)
        else:
            out.append(
                jax.tree.unflatten(
                    unit_def, [x if k else MaskedNode() for x, k in zip(leaves, flags)]
                )
            )
    return jax.tree.unflatten(treedef, out)


def _merge(treedef: Any, parts: list[tuple[list[bool], Any]], default: list) -> Any:
    out = list(default)
    for keep, sub in parts:
        sub_leaves = iter(jax.tree.leaves(sub))
        for i, k in enumerate(keep):
            if k:
                out[i] = next(sub_leaves)
    return jax.tree.unflatten(treedef, out)


@_validate.public_call("optx.masked")
def masked(inner: GradientTransformation, mask: Any) -> GradientTransformation:
    """Applies ``inner`` to the parameters where ``mask`` is True; passes the rest through.

    ``inner`` sees a tree in which the unmasked leaves are `MaskedNode` (empty), so it keeps
    no state for them and its norms and statistics cover the masked leaves only. Updates of
    unmasked leaves are returned unchanged (as in Optax): use ``masked`` inside a chain,
    before the learning rate, or use `partition` to give every leaf a transformation.

    Args:
      inner: the transformation to apply.
      mask: a tree of bools shaped like the params (or a prefix of it), a function
        ``params -> mask``, or path rules (``optx.path_rules({"*bias": False}, True)``).

    Raises:
      ValueError: at init/update, when the mask does not match the params (naming
        ``optx.masked`` and the path) or a mask leaf is not a bool.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.masked(optx.scale(0.5), {"w": True, "b": False})
      >>> g = {"w": jnp.ones(2), "b": jnp.ones(2)}
      >>> tx.update(g, tx.init(g))[0]["w"]
      Array([0.5, 0.5], dtype=float32)
    """
    _validate.check_transformation("optx.masked", "inner", inner)
    call = "optx.masked"
    mask = as_labeller(mask)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        keep = resolve_bool_mask(call, mask, params)
        return MaskedState(inner.init(mask_tree(params, keep)))

    def update(updates, state, params=None, **extra_args):
        keep = resolve_bool_mask(call, mask, updates if params is None else params)
        _check_params_like(call, params, updates)
        masked_params = None if params is None else mask_tree(params, keep)
        new, inner_state = inner_update(
            mask_tree(updates, keep), state.inner_state, masked_params, **extra_args
        )
        leaves, treedef = jax.tree.flatten(updates)
        return _merge(treedef, [(keep, new)], leaves), MaskedState(inner_state)

    return _flat.per_leaf(GradientTransformation(init, update))


def _check_params_like(call: str, params: Any, updates: Any) -> None:
    if params is not None:
        _tree.check_structure(call, params, updates)


@_validate.public_call("optx.partition")
def partition(transforms: Mapping[Hashable, GradientTransformation], param_labels: Any):
    """Applies a different transformation to each group of parameters (multi-transform).

    Every parameter gets a label; the transformation of that label updates it and keeps
    state for it alone (a group whose transformation is `optx.set_to_zero` is frozen and has
    no state). `optx.get_hyperparams` names a hyperparameter found in several groups by its
    group: ``"no_decay/learning_rate"``; a bare name in `optx.set_hyperparams` sets all.

    Args:
      transforms: label -> transformation.
      param_labels: a tree of labels shaped like the params (or a prefix), a function
        ``params -> labels``, `path_rules`, or a dict of glob patterns on parameter paths
        (read as `path_rules`; rules are tried in order; end with ``"*"`` as a catch-all),
        e.g. ``{"*bias": "no_decay", "*norm*": "no_decay", "*": "decay"}``.

    Raises:
      ValueError: at init/update, when the labels do not match the params or name a label
        that has no transformation (the message gives the path and the known labels).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.partition(
      ...     {"decay": optx.adamw(1e-3, weight_decay=0.1), "no_decay": optx.adam(1e-3)},
      ...     {"*bias": "no_decay", "*": "decay"})
      >>> state = tx.init({"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}})
      >>> sorted(optx.get_hyperparams(state))[:2]
      ['decay/b1', 'decay/b2']
    """
    if isinstance(transforms, Mapping):
        for _label, _tx in transforms.items():
            _validate.check_transformation("optx.partition", f"transforms[{_label!r}]", _tx)
    call = "optx.partition"
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(f"{call}: transforms must be a non-empty dict label -> transformation")
    for label, tx in transforms.items():
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise TypeError(
                f"{call}: transforms[{label!r}] is {type(tx).__name__}, not a gradient "
                "transformation; did you forget to call the factory?"
            )
    labels = as_labeller(param_labels)
    updaters = {label: _accepting_extra_args(tx.update) for label, tx in transforms.items()}

    def keeps(params):
        flat = known_labels(call, labels, params, transforms, "give it a transformation")
        return {label: [x == label for x in flat] for label in transforms}

    def init(params):
        masks = keeps(params)
        return PartitionState(
            {label: tx.init(mask_tree(params, masks[label])) for label, tx in transforms.items()}
        )

    def update(updates, state, params=None, **extra_args):
        masks = keeps(updates if params is None else params)
        _check_params_like(call, params, updates)
        if set(state.inner_states) != set(transforms):
            raise ValueError(
                f"{call}: the state has groups {list(state.inner_states)} but the partition "
                f"has {list(transforms)}; was it built by another partition?"
            )
        parts, new_states = [], {}
        for label in transforms:
            keep = masks[label]
            sub_params = None if params is None else mask_tree(params, keep)
            new, new_states[label] = updaters[label](
                mask_tree(updates, keep), state.inner_states[label], sub_params, **extra_args
            )
            parts.append((keep, new))
        leaves, treedef = jax.tree.flatten(updates)
        return _merge(treedef, parts, leaves), PartitionState(new_states)

    return _flat.per_leaf(GradientTransformation(init, update))


def _zero_frozen(keep_frozen: list[bool], updates: Any) -> Any:
    leaves, treedef = jax.tree.flatten(updates)
    return jax.tree.unflatten(
        treedef, [jnp.zeros_like(x) if k else x for x, k in zip(leaves, keep_frozen)]
    )


@_validate.public_call("optx.freeze")
def freeze(mask: Any, inner: GradientTransformation | None = None) -> GradientTransformation:
    """Zeroes the updates of frozen parameters (``mask`` True); with ``inner``, trains the rest.

    ``freeze(mask)`` keeps no state; chain it last (``chain(optx.adam(1e-3),
    optx.freeze(mask))``), though the optimizer before it then still keeps state for the
    frozen leaves. ``freeze(mask, inner)`` runs ``inner`` on the trainable leaves only, so
    frozen leaves have no optimizer state at all (fastai's ``freeze``; unfreezing means a new
    transformation and a new ``init``).

    Args:
      mask: True for frozen parameters: a tree of bools (or a prefix), a function
        ``params -> mask``, or path rules.
      inner: the optimizer for the trainable parameters, or None.

    Raises:
      ValueError: at init/update, when the mask does not match the params.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> tx = optx.freeze({"body": True, "head": False}, optx.adam(1e-2))
      >>> p = {"body": jnp.ones(2), "head": jnp.ones(2)}
      >>> state = tx.init(p)
      >>> [x.shape for x in jax.tree.leaves(state[0].inner_state[0].mu)]
      [(2,)]
      >>> tx.update(p, state, p)[0]["body"]
      Array([0., 0.], dtype=float32)
    """
    if inner is not None:
        _validate.check_transformation("optx.freeze", "inner", inner)
    call = "optx.freeze"
    mask = as_labeller(mask)

    def zero_init(params):
        resolve_bool_mask(call, mask, params)
        return EmptyState()

    def zero_update(updates, state, params=None, **extra_args):
        del extra_args
        frozen = resolve_bool_mask(call, mask, updates if params is None else params)
        return _zero_frozen(frozen, updates), state

    zeroing = _flat.per_leaf(GradientTransformation(zero_init, zero_update))
    if inner is None:
        return zeroing
    with _validate.calling(call):
        trainable = masked(inner, _Not(mask))
    return chain(trainable, zeroing)


class _Not:
    """The negation of a mask (tree, prefix, function or rules), itself a mask function."""

    def __init__(self, mask: Any):
        self.mask = mask

    def __call__(self, params: Any) -> Any:
        flat = resolve_bool_mask("optx.freeze", self.mask, params)
        return jax.tree.unflatten(jax.tree.structure(params), [not x for x in flat])

"""Masking and partitioning: run a transformation on some parameters only, or one per group.

Masks and labels are pytrees (a prefix of the params is enough: ``{"encoder": False,
"decoder": True}`` covers every leaf below each key), functions ``params -> tree``, or rules
on parameter paths (`path_rules`). Leaves a transformation does not own are replaced by
`MaskedNode` (an empty pytree node) before it sees them, so it allocates no state for them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import EmptyState, GradientTransformation, _accepting_extra_args, chain


class MaskedNode(NamedTuple):
    """Stands in for a leaf a masked transformation does not own (an empty pytree node)."""


class MaskedState(NamedTuple):
    """State of `masked`: the inner state, built on the masked leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """State of `partition`: one inner state per label (a dict keyed by label)."""

    inner_states: dict[Hashable, Any]


_GLOB_CHARS = "*?[/"


def path_string(path: tuple) -> str:
    """The ``"a/b/0/kernel"`` form of a key path, as path rules match it."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


class PathRules:
    """Labels parameters by glob patterns on their paths; built by `path_rules`."""

    def __init__(self, rules: Mapping[str, Any], default: Any = None):
        self.rules = tuple((str(pattern).lower(), label) for pattern, label in rules.items())
        self.default = default

    def label(self, path: str) -> Any:
        """The label of the first rule matching ``path`` (case-insensitive), else the default."""
        lowered = path.lower()
        for pattern, label in self.rules:
            if fnmatch.fnmatchcase(lowered, pattern):
                return label
        return self.default

    def __call__(self, params: Any, *, call: str | None = None) -> Any:
        """The labels tree for ``params`` (errors name ``call``, default ``optx.path_rules``)."""
        call = call or _validate.current_call("optx.path_rules")

        def one(path, leaf):
            label = self.label(path_string(path))
            if label is None:
                raise ValueError(
                    f"{call}: no rule matches the "
                    f"parameter at {path_string(path) or '<root>'!r}; add a catch-all rule "
                    "such as {'*': 'default'} or give path_rules a default"
                )
            return label

        return jax.tree_util.tree_map_with_path(one, params)

    def __repr__(self) -> str:
        return f"path_rules({dict(self.rules)!r}, default={self.default!r})"


def path_rules(rules: Mapping[str, Any], default: Any = None) -> PathRules:
    """Labels each parameter by the first glob pattern that matches its path.

    A path is the parameter's keys joined by ``/`` (``"Dense_0/bias"``,
    ``"layers/2/norm/scale"``); patterns use `fnmatch` syntax (``*``, ``?``, ``[...]``) and
    match the whole path, case-insensitively, so ``"*norm*"`` matches ``"LayerNorm_0/scale"``.
    Rules are tried in order; a path no rule matches gets ``default`` (an error if None).

    The result is a function ``params -> labels`` usable wherever a mask or labels are
    expected (`masked`, `partition`, `freeze`, `param_groups`, `optx.add_decayed_weights`).

    Args:
      rules: pattern -> label (any hashable label; bools make a mask).
      default: the label of unmatched paths; None makes an unmatched path an error.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> rules = optx.path_rules({"*bias": "no_decay", "*norm*": "no_decay"}, "decay")
      >>> rules({"dense": {"kernel": jnp.ones(2), "bias": jnp.ones(2)},
      ...        "LayerNorm": {"scale": jnp.ones(2)}})
      {'LayerNorm': {'scale': 'no_decay'}, 'dense': {'bias': 'no_decay', 'kernel': 'decay'}}
    """
    if not isinstance(rules, Mapping):
        raise TypeError(
            f"{_validate.current_call('optx.path_rules')}: rules must be a dict "
            f"pattern -> label, got {type(rules).__name__}"
        )
    return PathRules(rules, default)


def _is_rules_dict(labels: Any) -> bool:
    return (
        isinstance(labels, Mapping)
        and len(labels) > 0
        and all(isinstance(k, str) for k in labels)
        and any(c in k for k in labels for c in _GLOB_CHARS)
        and not any(isinstance(v, Mapping) for v in labels.values())
    )


def as_labeller(labels: Any) -> Any:
    """A dict of glob patterns becomes `path_rules`; anything else is returned as is."""
    if isinstance(labels, PathRules) or not _is_rules_dict(labels):
        return labels
    return PathRules(labels)


def resolve_labels(call: str, labels: Any, params: Any, what: str = "labels") -> list:
    """One label per leaf of ``params`` (flattened order) from a tree, prefix, function or rules.

    Raises:
      ValueError: naming ``call`` and the path when the labels do not match the params.
    """
    labels = as_labeller(labels)
    if isinstance(labels, PathRules):
        tree = labels(params, call=call)
    else:
        tree = labels(params) if callable(labels) else labels
    try:
        prefixes = jax.tree.structure(tree).flatten_up_to(params)
    except (ValueError, TypeError):
        raise ValueError(
            f"{call}: the {what} tree does not match the params "
            f"({_tree.describe_mismatch(params, tree)}); give a tree shaped like the params "
            "(or a prefix of it), a function params -> such a tree, or path rules"
        ) from None
    label_leaves = jax.tree.leaves(tree)
    out = []
    for label, sub in zip(label_leaves, prefixes):
        out.extend([label] * len(jax.tree.leaves(sub)))
    return out


def known_labels(
    call: str, labels: Any, params: Any, known: Any, fix: str, noun: str = "has label"
) -> list:
    """`resolve_labels`, refusing a label not in ``known``; the error names the path and ``fix``."""
    flat = resolve_labels(call, labels, params)
    paths = [path_string(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    for path, label in zip(paths, flat):
        if label not in known:
            raise ValueError(
                f"{call}: the parameter at {path or '<root>'!r} {noun} {label!r}, which is "
                f"not one of {list(known)}; {fix}"
            )
    return flat


def resolve_bool_mask(call: str, mask: Any, params: Any) -> list[bool]:
    """One Python bool per leaf of ``params`` (see `resolve_labels`)."""
    flat = resolve_labels(call, mask, params, what="mask")
    paths = [path_string(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    out = []
    for path, leaf in zip(paths, flat):
        if isinstance(leaf, jax.core.Tracer):
            raise ValueError(f"{call}: the mask must hold concrete bools, not traced values")
        if isinstance(leaf, (bool, jnp.bool_)) or (
            hasattr(leaf, "dtype") and leaf.dtype == jnp.bool_ and jnp.shape(leaf) == ()
        ):
            out.append(bool(leaf))
            continue
        raise ValueError(
            f"{call}: the mask at {path or '<root>'!r} is {leaf!r}; mask leaves must be "
            "Python bools (True: the transformation applies to this parameter)"
        )
    return out


def mask_tree(tree: Any, keep: list[bool]) -> Any:
    """``tree`` with the leaves where ``keep`` is False replaced by `MaskedNode`."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef.unflatten([x if k else MaskedNode() for x, k in zip(leaves, keep)])


def _merge(treedef: Any, parts: list[tuple[list[bool], Any]], default: list) -> Any:
    out = list(default)
    for keep, sub in parts:
        sub_leaves = iter(jax.tree.leaves(sub))
        for i, k in enumerate(keep):
            if k:
                out[i] = next(sub_leaves)
    return treedef.unflatten(out)


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

    return GradientTransformation(init, update)


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

    return GradientTransformation(init, update)


def _zero_frozen(keep_frozen: list[bool], updates: Any) -> Any:
    leaves, treedef = jax.tree.flatten(updates)
    return treedef.unflatten([jnp.zeros_like(x) if k else x for x, k in zip(leaves, keep_frozen)])


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
    call = "optx.freeze"
    mask = as_labeller(mask)

    def zero_init(params):
        resolve_bool_mask(call, mask, params)
        return EmptyState()

    def zero_update(updates, state, params=None, **extra_args):
        del extra_args
        frozen = resolve_bool_mask(call, mask, updates if params is None else params)
        return _zero_frozen(frozen, updates), state

    zeroing = GradientTransformation(zero_init, zero_update)
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
        return jax.tree.structure(params).unflatten([not x for x in flat])

"""Parameter paths and path rules: how masks, labels and groups name a parameter.

A parameter's path is its keys joined by ``/`` (``"Dense_0/bias"``). A *value wrapper* (a
pytree node whose only child is an attribute such as ``.value``, like a flax ``nnx.Variable``)
is transparent: a ``Param`` at ``l1/bias`` is ``"l1/bias"``, as its bare array is, so a rule
labels a parameter the same way whether ``init`` sees the Variable (``nnx.Optimizer``) or
``update`` sees its value.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx import _tree, _validate

_GLOB_CHARS = "*?[/"
_VALUE_ATTRS = frozenset({"value", "raw_value", "_value"})
_CONTAINERS = (dict, list, tuple, jax.Array, np.ndarray, np.generic, int, float, complex, str)


def _wrapped(node: Any) -> tuple[bool, Any]:
    """``(True, child)`` when ``node`` is a value wrapper, else ``(False, None)``.

    A value wrapper is a registered pytree node (not a dict, list, tuple or leaf) with exactly
    one child, reached by an attribute key named ``value``, ``raw_value`` or ``_value``
    (flax ``nnx.Variable`` and its subclasses flatten this way).
    """
    if node is None or isinstance(node, _CONTAINERS):
        return False, None
    children = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    if len(children) != 1:
        return False, None
    ((path, child),) = children
    if (
        len(path) == 1
        and isinstance(path[0], jax.tree_util.GetAttrKey)
        and path[0].name in _VALUE_ATTRS
    ):
        return True, child
    return False, None


def is_value_wrapper(node: Any) -> bool:
    """Whether ``node`` is a value wrapper (see `_wrapped`), e.g. a flax ``nnx.Param``."""
    return _wrapped(node)[0]


def leaf_paths(tree: Any) -> list[tuple]:
    """The key path of every leaf of ``tree`` (flattened order), value wrappers' keys dropped."""
    out: list[tuple] = []
    for path, node in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_value_wrapper)[0]:
        wrapper, child = _wrapped(node)
        if wrapper:
            out.extend(path + sub for sub in leaf_paths(child))
        else:
            out.append(path)
    return out


def path_string(path: tuple) -> str:
    """The ``"a/b/0/kernel"`` form of a key path, as path rules match it.

    A trailing ``.value`` key of a value wrapper is not part of a parameter's path: use
    `leaf_path_strings` on a tree, which drops it only where a wrapper put it.
    """
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def leaf_path_strings(tree: Any) -> list[str]:
    """`path_string` of every leaf of ``tree`` (flattened order), through value wrappers."""
    return [path_string(p) for p in leaf_paths(tree)]


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
        labels = []
        for path in leaf_path_strings(params):
            label = self.label(path)
            if label is None:
                raise ValueError(
                    f"{call}: no rule matches the "
                    f"parameter at {path or '<root>'!r}; add a catch-all rule "
                    "such as {'*': 'default'} or give path_rules a default"
                )
            labels.append(label)
        return jax.tree.unflatten(jax.tree.structure(params), labels)

    def __repr__(self) -> str:
        return f"path_rules({dict(self.rules)!r}, default={self.default!r})"


def path_rules(rules: Mapping[str, Any], default: Any = None) -> PathRules:
    """Labels each parameter by the first glob pattern that matches its path.

    A path is the parameter's keys joined by ``/`` (``"Dense_0/bias"``,
    ``"layers/2/norm/scale"``); patterns use `fnmatch` syntax (``*``, ``?``, ``[...]``) and
    match the whole path, case-insensitively, so ``"*norm*"`` matches ``"LayerNorm_0/scale"``.
    Rules are tried in order; a path no rule matches gets ``default`` (an error if None).
    A flax ``nnx.Variable`` (any node whose one child is its ``.value``) adds nothing to the
    path, so ``"*bias"`` matches an ``nnx.Param`` bias as it matches the bare array.

    The result is a function ``params -> labels`` usable wherever a mask or labels are
    expected (`masked`, `partition`, `freeze`, `param_groups`, `optx.add_decayed_weights`).

    Args:
      rules: pattern -> label (any hashable label; bools make a mask).
      default: the label of unmatched paths; None makes an unmatched path an error.

    Returns:
      A `PathRules`: called on params, it returns their labels tree.

    Raises:
      TypeError: ``rules`` is not a dict.

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
    if not jax.tree.leaves(params):
        # Nothing to label (an empty tree, or the leafless placeholder with which
        # optax.tree.map_params calls init to find the copies of the params in a state).
        return []
    labels = as_labeller(labels)
    if isinstance(labels, PathRules):
        tree = labels(params, call=call)
    else:
        tree = labels(params) if callable(labels) else labels
    try:
        # Typed Any: jaxlib ships no stub for PyTreeDef, so mypy cannot see its methods.
        treedef: Any = jax.tree.structure(tree)
        prefixes = treedef.flatten_up_to(params)
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
    paths = leaf_path_strings(params)
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
    paths = leaf_path_strings(params)
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

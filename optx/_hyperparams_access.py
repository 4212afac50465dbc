"""Reading, setting and renaming the hyperparameters held in a state (`HyperparamsState`).

`get_hyperparams` and `set_hyperparams` work on the state of any optx optimizer, through
combinators, wrappers and containers (flax Variables); `rename_hyperparams` shows a
transform's hyperparameters under an alias's names. What a state holds and how an update
resolves it is in `optx._hyperparams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optx._core import GradientTransformation
from optx._hyperparams import GIVEN, SCHEDULED, HyperparamsState, complement_key, exact_complement

_StateT = TypeVar("_StateT")


def _nodes(state: Any) -> list[tuple[tuple, HyperparamsState]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(
        state, is_leaf=lambda x: isinstance(x, HyperparamsState)
    )
    return [(path, node) for path, node in flat if isinstance(node, HyperparamsState)]


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _qualified_names(state: Any) -> list[tuple[str, str, tuple, HyperparamsState]]:
    """(public key, bare name, path, node) for every hyperparameter in ``state``.

    Names are bare when unique; where a name occurs more than once (a partition with a
    learning rate per group) it is prefixed by the dict keys on its path, or by the whole
    path if dict keys do not tell the occurrences apart.
    """
    entries = [(path, name, node) for path, node in _nodes(state) for name in node.values]
    counts: dict[str, int] = {}
    for _, name, _ in entries:
        counts[name] = counts.get(name, 0) + 1
    short = {}
    for path, name, _ in entries:
        dict_keys = [_key_name(k) for k in path if isinstance(k, jax.tree_util.DictKey)]
        short[(path, name)] = "/".join([*dict_keys, name])
    result = []
    for path, name, node in entries:
        if counts[name] == 1:
            key = name
        else:
            key = short[(path, name)]
            if sum(1 for v in short.values() if v == key) > 1:
                key = "/".join([*(_key_name(k) for k in path), name])
        result.append((key, name, path, node))
    return result


def _leaf(value: Any) -> Any:
    """The array inside a container that wraps one (a flax ``Variable``), or ``value``."""
    if isinstance(value, (jax.Array, jax.core.Tracer, np.ndarray, np.generic, float, int)):
        return value
    leaves = jax.tree.leaves(value)
    return leaves[0] if len(leaves) == 1 else value


def get_hyperparams(state: Any) -> dict[str, jax.Array]:
    """The hyperparameter values used for the latest update, by name.

    Works on the state of any optx optimizer, through `chain`, `named_chain` and wrappers,
    and on states whose arrays sit in containers (``nnx.Optimizer.opt_state``). Names that
    occur once are bare (``"learning_rate"``); names that occur in several places are
    qualified by the dict keys on their path (``"no_decay/learning_rate"``).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> state = optx.adam(1e-3).init({"w": jnp.zeros(2)})
      >>> sorted(optx.get_hyperparams(state))
      ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    return {key: _leaf(node.values[name]) for key, name, _, node in _qualified_names(state)}


def set_hyperparams(
    state: _StateT, values: Mapping[str, ArrayLike] | None = None, **kwargs: ArrayLike
) -> _StateT:
    """A new state in which the named hyperparameters take the given values.

    A bare name sets every occurrence of it (every group's learning rate); a qualified name
    (as `get_hyperparams` prints it) sets one. The new value takes the old one's shape,
    dtype, sharding, committedness and container (a flax ``Variable`` stays one), so a
    jitted step (``jax.jit``, ``eqx.filter_jit``, ``nnx.jit``) does not compile again. For
    a decay (``b1``, ``b2``, ``momentum``, ...) the state's ``1 - value`` is set with it, in
    double precision when the value is a Python or NumPy number (so ``b2=0.999`` makes the
    update use exactly ``float32(0.001)``, as the factory does).

    Raises:
      KeyError: a name the state does not hold (the message lists those it does).
      ValueError: the hyperparameter is driven by a schedule or by a JAX array given to
        the factory (each update reads it from there), or the value does not broadcast.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> state = optx.sgd(0.1).init(jnp.zeros(2))
      >>> state = optx.set_hyperparams(state, learning_rate=0.01)
      >>> float(optx.get_hyperparams(state)["learning_rate"])
      0.01
    """
    requested = {**(values or {}), **kwargs}
    if not requested:
        return state
    entries = _qualified_names(state)
    targets: dict[tuple, dict[str, Any]] = {}
    for key, value in requested.items():
        matched = [(p, n) for k, n, p, _ in entries if key in (k, n)]
        if not matched:
            known = sorted({k for k, *_ in entries})
            raise KeyError(
                f"optx.set_hyperparams: the state has no hyperparameter {key!r}; it has {known}"
            )
        for path, name in matched:
            targets.setdefault(path, {})[name] = value

    def replace(path, node):
        if not isinstance(node, HyperparamsState) or path not in targets:
            return node
        new_values, new_complements = dict(node.values), dict(node.complements)
        for name, value in targets[path].items():
            _refuse_driven(name, node.scheduled.source(name))
            node.scheduled.constraint(name).check("optx.set_hyperparams", name, value)
            new_values[name] = _like(name, value, node.values[name])
            key = complement_key(name)
            if key in node.complements:
                old = _leaf(node.complements[key])
                exact = exact_complement(value, jnp.result_type(old))
                new_complements[key] = _like(name, exact, node.complements[key])
        return HyperparamsState(new_values, node.scheduled, new_complements)

    return jax.tree_util.tree_map_with_path(
        replace, state, is_leaf=lambda x: isinstance(x, HyperparamsState)
    )


def _like(name: str, value: Any, old: Any) -> Any:
    """``value`` as an array like ``old``: shape, dtype, placement and container."""

    def one(old_leaf):
        shape, dtype = jnp.shape(old_leaf), jnp.result_type(old_leaf)
        try:
            new = jnp.asarray(value, dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"optx.set_hyperparams: {name} must be a number or a scalar array, got {value!r}"
            ) from None
        try:
            new = jnp.broadcast_to(new, shape)
        except ValueError:
            raise ValueError(
                f"optx.set_hyperparams: {name} has shape {shape} in the state; "
                f"a value of shape {jnp.shape(new)} does not broadcast to it"
            ) from None
        if isinstance(old_leaf, jax.Array) and not isinstance(old_leaf, jax.core.Tracer):
            if old_leaf.committed:
                new = jax.device_put(new, old_leaf.sharding)
            elif not isinstance(new, jax.core.Tracer):
                # Uncommitted stays uncommitted (a committed array would be a new
                # signature for jit): built where jnp puts it, as the old one was.
                new = jnp.array(np.asarray(new), dtype)
        return new

    return jax.tree.map(one, old)


def _refuse_driven(name: str, source: str) -> None:
    if source == SCHEDULED:
        raise ValueError(
            f"optx.set_hyperparams: {name} is driven by a schedule, so setting it would be "
            "overridden at the next step; build the optimizer with a float for it, "
            "or change the schedule"
        )
    if source == GIVEN:
        raise ValueError(
            f"optx.set_hyperparams: {name} was given to the factory as a JAX array, so "
            "every update uses that array (as in Optax) and a value set in the state would "
            "be overridden; build the optimizer with a Python float for it to hold it in "
            "the state, or build a new optimizer with the new array"
        )


def rename_hyperparams(
    tx: GradientTransformation, names: Mapping[str, str]
) -> GradientTransformation:
    """Shows ``tx``'s hyperparameters under other names (``{"decay": "momentum"}``).

    Used by aliases so that `get_hyperparams` speaks the alias's vocabulary (``sgd`` reports
    ``momentum``, not the ``decay`` of the `trace` inside it).
    """
    forward = dict(names)
    backward = {v: k for k, v in forward.items()}

    def relabel(state, mapping):
        ckeys = {complement_key(k): complement_key(v) for k, v in mapping.items()}

        def one(node):
            if not isinstance(node, HyperparamsState):
                return node
            return HyperparamsState(
                {mapping.get(k, k): v for k, v in node.values.items()},
                node.scheduled.renamed(mapping),
                {ckeys.get(k, k): v for k, v in node.complements.items()},
            )

        return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, HyperparamsState))

    def init(params):
        return relabel(tx.init(params), forward)

    def update(updates, state, params=None, **extra_args):
        updates, state = tx.update(updates, relabel(state, backward), params, **extra_args)
        return updates, relabel(state, forward)

    return GradientTransformation(init, update)

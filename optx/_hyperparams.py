"""Hyperparameters held in optimizer state: a float, a scalar array or a schedule, read and set
without recompiling.

Every transform with a numeric hyperparameter keeps a `HyperparamsState` in its own state:
``values`` holds the float32 value used for the latest update (the initial value before the
first), ``scheduled`` tells which names a schedule drives, and ``complements`` the exact
``1 - value`` of each decay the transform declares. The arrays are the same whichever kind
of value was passed, so a checkpoint restores into either; ``scheduled`` is static (part
of the pytree structure, no arrays), so a compiled update neither reads nor writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _tree, _validate
from optx._core import GradientTransformation


@jax.tree_util.register_static
class ScheduledFlags(Mapping[str, bool]):
    """Which hyperparameters of a transform a schedule drives: name -> bool, read-only.

    Static: a pytree node without leaves, compared and hashed by its contents, so it lives
    in the state's structure, not in its arrays. A compiled update does not carry it (one
    parameter and one output fewer per hyperparameter), a checkpoint does not store it,
    and `set_hyperparams` reads it on the host, also inside ``jax.jit``.
    """

    __slots__ = ("_flags",)

    def __init__(self, flags: Mapping[str, Any]):
        self._flags = tuple((str(name), bool(flag)) for name, flag in flags.items())

    def __getitem__(self, name: str) -> bool:
        for key, flag in self._flags:
            if key == name:
                return flag
        raise KeyError(name)

    def __iter__(self):
        return (name for name, _ in self._flags)

    def __len__(self) -> int:
        return len(self._flags)

    def __hash__(self) -> int:
        return hash(self._flags)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduledFlags) and self._flags == other._flags

    def __repr__(self) -> str:
        return f"ScheduledFlags({dict(self._flags)})"


class HyperparamsState(NamedTuple):
    """Hyperparameter values of one transform.

    Attributes:
      values: name -> float32 array, the value used for the latest update.
      scheduled: a `ScheduledFlags`, name -> bool, True where a schedule drives the value.
      complements: decay name -> float32 array, ``1 - value`` computed where it is exact:
        in double precision from a Python float (``float32(0.999)`` is 0.99900001, so
        ``1 - b2`` computed from the stored value would be off by 1.3e-5 relative), in
        float32 from an array or a schedule's value. Kept in the state rather than
        recomputed, so the compiled update reads it as one scalar (a select between the
        exact and the computed value would sit in every per-leaf kernel).
    """

    values: dict[str, jax.Array]
    scheduled: ScheduledFlags
    complements: dict[str, jax.Array]


class _Values(dict):
    """The resolved values of one update, by name, with their ``complements`` alongside."""

    complements: dict[str, jax.Array]


class Hyperparams:
    """The hyperparameter specs of one transform, validated when the factory is called.

    Args:
      call: the public name of the factory, for errors.
      decays: the names whose ``1 - value`` the update uses (`complement`); the state
        keeps it exact.
      **specs: name -> float, scalar array or schedule ``count -> value``.
    """

    def __init__(self, call: str, *, decays: tuple[str, ...] = (), **specs: Any):
        for name, spec in specs.items():
            _validate.check_number(call, name, spec)
        unknown = [name for name in decays if name not in specs]
        if unknown:
            raise ValueError(f"{call}: decays {unknown} are not among {sorted(specs)}")
        self.call = call
        self.specs = specs
        self.decays = tuple(decays)

    def init(self) -> HyperparamsState:
        """The state before the first update: schedules evaluated at count 0."""
        zero = jnp.zeros([], jnp.int32)
        values = {name: self._evaluate(spec, zero) for name, spec in self.specs.items()}
        scheduled = ScheduledFlags({name: callable(spec) for name, spec in self.specs.items()})
        complements = {
            name: exact_complement(values[name] if callable(spec) else spec)
            for name, spec in self.specs.items()
            if name in self.decays
        }
        return HyperparamsState(values, scheduled, complements)

    def resolve(
        self, state: HyperparamsState, count: jax.Array
    ) -> tuple[dict[str, jax.Array], HyperparamsState]:
        """The values for the update at ``count`` (0-based updates done) and the new state.

        A scheduled value is ``schedule(count)``; any other is read from the state, so
        `set_hyperparams` can change it between steps.
        """
        if set(state.values) != set(self.specs) or set(state.complements) != set(self.decays):
            raise ValueError(
                f"{self.call}: the state holds hyperparameters {sorted(state.values)} "
                f"(decays {sorted(state.complements)}) but the transform has "
                f"{sorted(self.specs)} (decays {sorted(self.decays)}); was the state built by "
                "another optimizer?"
            )
        values = _Values(
            (name, self._evaluate(spec, count) if callable(spec) else state.values[name])
            for name, spec in self.specs.items()
        )
        values.complements = {
            name: 1 - values[name] if callable(self.specs[name]) else state.complements[name]
            for name in self.decays
        }
        return values, HyperparamsState(dict(values), state.scheduled, values.complements)

    def next_count(self, count: jax.Array) -> jax.Array:
        """The count after this update, for a transform that reads it only for schedules.

        ``count + 1`` (saturating) when a schedule drives one of the hyperparameters. With
        none the count is read by nothing and stays as it is: a counter is a kernel of
        its own in every compiled update (about 8 ms of XLA compile time each, a quarter of
        a one-leaf SGD's). So a state saved while a hyperparameter was a constant starts
        a schedule that later takes its place at step 0.
        """
        if any(callable(spec) for spec in self.specs.values()):
            return _tree.safe_increment(count)
        return count

    def complement(self, values: dict[str, jax.Array], name: str) -> jax.Array:
        """``1 - values[name]`` for a declared decay, as the state keeps it (exact).

        ``values`` is what `resolve` returned. A scheduled decay's complement is
        ``1 - schedule(count)`` in float32.
        """
        if name not in self.decays:
            raise ValueError(f"{self.call}: {name!r} is not declared among the decays")
        return values.complements[name]  # type: ignore[attr-defined]

    def bias_correction(
        self, values: dict[str, jax.Array], name: str, count: jax.Array
    ) -> jax.Array:
        """The scalar ``1 - b**t`` for ``b = values[name]`` and ``t = count``, accurate in float32.

        Computed as ``-expm1(t * log1p(-(1 - b)))`` from `complement`, so at t=1 it is exactly
        the ``1 - b`` the moment used; plain ``1 - b**t`` in float32 is off by up to 1.3e-5
        relative for b = 0.999.
        """
        return _one_minus_power(self.complement(values, name), count)

    def decay_terms(
        self, values: dict[str, jax.Array], names: tuple[str, ...], count: jax.Array
    ) -> tuple[list[jax.Array], list[jax.Array]]:
        """For each decay ``b`` named: ``1 - b`` (`complement`) and ``1 / (1 - b**t)``.

        The same values as `complement` and ``1 / bias_correction``, computed on one vector
        for all the names: XLA then emits one kernel for the bias corrections instead of
        one per decay (each costs compile time; at 2048 leaves the whole update compiles
        about 5% faster, on one leaf about 15%). The vector is `_tree.scalars_vector`, which
        fuses into that kernel where a stack of the complements was a kernel of its own.
        """
        complements = [self.complement(values, name) for name in names]
        inverse = 1 / _one_minus_power(_tree.scalars_vector(complements), count)
        return complements, list(inverse)

    @staticmethod
    def _evaluate(spec: Any, count: jax.Array) -> jax.Array:
        value = spec(count) if callable(spec) else spec
        return jnp.asarray(value, jnp.float32)


def exact_complement(value: Any) -> jax.Array:
    """``1 - value`` as float32, computed in double precision when ``value`` is on the host.

    A Python or NumPy number gives the float32 nearest to the true ``1 - value``
    (``float32(0.001)`` for 0.999); a JAX array (or tracer) gives ``1 - value`` in float32.
    """
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        return 1 - jnp.asarray(value, jnp.float32)
    return jnp.asarray(1.0 - np.asarray(value, np.float64), jnp.float32)


def _one_minus_power(complement: jax.Array, count: jax.Array) -> jax.Array:
    """``1 - b**t`` from ``1 - b``, as ``-expm1(t * log1p(-(1 - b)))`` (accurate in float32)."""
    return -jnp.expm1(count.astype(jnp.float32) * jnp.log1p(-complement))


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


def get_hyperparams(state: Any) -> dict[str, jax.Array]:
    """The hyperparameter values used for the latest update, by name.

    Works on the state of any optx optimizer, through `chain`, `named_chain` and wrappers.
    Names that occur once are bare (``"learning_rate"``); names that occur in several
    places are qualified by the dict keys on their path (``"no_decay/learning_rate"``).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> state = optx.adam(1e-3).init({"w": jnp.zeros(2)})
      >>> sorted(optx.get_hyperparams(state))
      ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    return {key: node.values[name] for key, name, _, node in _qualified_names(state)}


def set_hyperparams(state: Any, values: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """A new state in which the named hyperparameters take the given values.

    A bare name sets every occurrence of it (every group's learning rate); a qualified name
    (as `get_hyperparams` prints it) sets one. The new value is broadcast to the old one's
    shape and kept float32 on the old one's device, so a jitted step does not recompile.
    For a decay (``b1``, ``b2``, ``momentum``, ...) the state's ``1 - value`` is set with it,
    in double precision when the value is a Python or NumPy number (so ``b2=0.999`` makes
    the update use exactly ``float32(0.001)``, as the factory does).

    Raises:
      KeyError: a name the state does not hold (the message lists those it does).
      ValueError: the hyperparameter is driven by a schedule (as Gluon's
        ``set_learning_rate`` refuses), or the value does not broadcast.

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
            _refuse_scheduled(name, node.scheduled[name])
            old = node.values[name]
            new = jnp.asarray(value, jnp.float32)
            try:
                new = jnp.broadcast_to(new, jnp.shape(old))
            except ValueError:
                raise ValueError(
                    f"optx.set_hyperparams: {name} has shape {jnp.shape(old)} in the state; "
                    f"a value of shape {jnp.shape(new)} does not broadcast to it"
                ) from None
            complement = None
            if name in node.complements:
                complement = jnp.broadcast_to(exact_complement(value), jnp.shape(old))
            if isinstance(old, jax.Array) and not isinstance(old, jax.core.Tracer):
                new = jax.device_put(new, old.sharding)
                if complement is not None:
                    complement = jax.device_put(complement, old.sharding)
            new_values[name] = new
            if complement is not None:
                new_complements[name] = complement
        return HyperparamsState(new_values, node.scheduled, new_complements)

    return jax.tree_util.tree_map_with_path(
        replace, state, is_leaf=lambda x: isinstance(x, HyperparamsState)
    )


def _refuse_scheduled(name: str, scheduled: bool) -> None:
    if scheduled:
        raise ValueError(
            f"optx.set_hyperparams: {name} is driven by a schedule, so setting it would be "
            "overridden at the next step; build the optimizer with a float or array for it, "
            "or change the schedule"
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
        def one(node):
            if not isinstance(node, HyperparamsState):
                return node
            return HyperparamsState(
                {mapping.get(k, k): v for k, v in node.values.items()},
                ScheduledFlags({mapping.get(k, k): v for k, v in node.scheduled.items()}),
                {mapping.get(k, k): v for k, v in node.complements.items()},
            )

        return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, HyperparamsState))

    def init(params):
        return relabel(tx.init(params), forward)

    def update(updates, state, params=None, **extra_args):
        updates, state = tx.update(updates, relabel(state, backward), params, **extra_args)
        return updates, relabel(state, forward)

    return GradientTransformation(init, update)

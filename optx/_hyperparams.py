"""Hyperparameters held in optimizer state: a float, a scalar array or a schedule, read and set
without recompiling.

Every transform with a numeric hyperparameter keeps a `HyperparamsState` in its own state:
``values`` holds the value used for the latest update (the initial value before the first),
``scheduled`` tells where each value comes from, and ``complements`` the exact ``1 - value``
of each decay the transform declares. Values are float32, or float64 when the params are
(never narrower than float32), and sit where the params' scalars would (replicated on their
mesh). The arrays are the same whichever kind of value was passed, so a checkpoint restores
into either; ``scheduled`` is static (part of the pytree structure, no arrays), so a compiled
update neither reads nor writes it.

Where a value comes from, by what the factory was given:

- a Python or NumPy number: the state holds it; `set_hyperparams` changes it between steps.
- a JAX array (or a tracer, under ``jit``/``vmap`` or Optax's ``inject_hyperparams``): each
  update uses that array, as Optax does; the state records it.
- a schedule ``count -> value``: each update uses ``schedule(count)``; the state records it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _constraints, _tree, _validate
from optx._constraints import Constraint

HELD = "held"
"""The value is held in the state (the factory got a Python or NumPy number)."""
GIVEN = "given"
"""Each update uses the JAX array the factory was given."""
SCHEDULED = "scheduled"
"""Each update uses ``schedule(count)``."""


def _source(spec: Any) -> str:
    if callable(spec):
        return SCHEDULED
    if isinstance(spec, (jax.Array, jax.core.Tracer)):
        return GIVEN
    return HELD


@jax.tree_util.register_static
class ScheduledFlags(Mapping[str, bool]):
    """Which hyperparameters of a transform the factory's arguments drive: name -> bool.

    True where a schedule or a JAX array given to the factory drives the value (each update
    reads it from there, so `set_hyperparams` refuses it); False where the state holds it.
    `source` tells which of `HELD`, `GIVEN`, `SCHEDULED` a name is.

    Static: a pytree node without leaves, compared and hashed by its contents, so it lives
    in the state's structure, not in its arrays. A compiled update does not carry it, a
    checkpoint does not store it, and `set_hyperparams` reads it on the host, also inside
    ``jax.jit``.
    """

    __slots__ = ("_constraints", "_sources")

    def __init__(
        self, sources: Mapping[str, Any], constraints: Mapping[str, Constraint] | None = None
    ):
        def as_source(value: Any) -> str:
            if isinstance(value, str):
                return value
            return SCHEDULED if value else HELD

        self._sources = tuple((str(name), as_source(value)) for name, value in sources.items())
        constraints = constraints or {}
        self._constraints = tuple(
            (name, constraints.get(name, _constraints.FINITE)) for name, _ in self._sources
        )

    def constraint(self, name: str) -> Constraint:
        """The declared `Constraint` of ``name`` (checked by `set_hyperparams`)."""
        for key, constraint in self._constraints:
            if key == name:
                return constraint
        raise KeyError(name)

    def source(self, name: str) -> str:
        """`HELD`, `GIVEN` or `SCHEDULED`: where the value of ``name`` comes from."""
        for key, source in self._sources:
            if key == name:
                return source
        raise KeyError(name)

    def __getitem__(self, name: str) -> bool:
        return self.source(name) != HELD

    def __iter__(self):
        return (name for name, _ in self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __hash__(self) -> int:
        return hash((self._sources, self._constraints))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ScheduledFlags)
            and self._sources == other._sources
            and self._constraints == other._constraints
        )

    def __repr__(self) -> str:
        return f"ScheduledFlags({dict(self._sources)})"

    def renamed(self, mapping: Mapping[str, str]) -> ScheduledFlags:
        """The same flags with names replaced by ``mapping`` (others kept)."""
        return ScheduledFlags(
            {mapping.get(k, k): v for k, v in self._sources},
            {mapping.get(k, k): c for k, c in self._constraints},
        )


def complement_key(name: str) -> str:
    """The key of ``1 - name`` in `HyperparamsState.complements` (``"one_minus_b2"``).

    Distinct from the value's key, so ``optax.tree.get(state, "b2")`` finds one ``b2``.
    """
    return f"one_minus_{name}"


class HyperparamsState(NamedTuple):
    """Hyperparameter values of one transform.

    Attributes:
      values: name -> scalar array, the value used for the latest update (float32, or
        float64 for float64 params).
      scheduled: a `ScheduledFlags`: where each value comes from.
      complements: ``"one_minus_<decay>"`` -> ``1 - value``, computed where it is exact: in
        double precision from a Python float (``float32(0.999)`` is 0.99900001, so ``1 - b2``
        computed from the stored value would be off by 1.3e-5 relative), from the value
        itself for an array or a schedule. An update uses it only while it is the
        complement of the value beside it (``1 - c == value`` in the value's dtype); a value
        changed by other means (``optax.tree.set``) gets ``1 - value``.
    """

    values: dict[str, jax.Array]
    scheduled: ScheduledFlags
    complements: dict[str, jax.Array]


class Resolved(Mapping[str, jax.Array]):
    """The hyperparameters of one update, from `Hyperparams.resolve`: a mapping name -> value.

    ``resolved["b1"]`` is the scalar the update uses (float32, or float64 for float64
    params). Besides the values it carries what the new state needs and the scalars derived
    from the declared decays:

    Attributes:
      count: the 1-based count of this update (``count + 1`` of the state, saturating at
        the int32 maximum): the new state's ``count`` and the ``t`` of bias corrections.
      state: the new `HyperparamsState`.
    """

    __slots__ = ("_call", "_complements", "_values", "count", "state")

    def __init__(
        self,
        call: str,
        values: dict[str, jax.Array],
        complements: dict[str, jax.Array],
        count: jax.Array,
        state: HyperparamsState,
    ):
        self._call = call
        self._values = values
        self._complements = complements
        self.count = count
        self.state = state

    def __getitem__(self, name: str) -> jax.Array:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Resolved({self._call}, {sorted(self._values)})"

    def complement(self, name: str) -> jax.Array:
        """``1 - value`` of a declared decay, exact (``float32(1 - 0.999)``, not
        ``1 - float32(0.999)``, which is off by 1.3e-5 relative).

        Raises:
          ValueError: ``name`` is not among the ``decays`` of the `Hyperparams`.
        """
        if name not in self._complements:
            raise ValueError(
                f"{self._call}: {name!r} is not a declared decay (declared: "
                f"{sorted(self._complements)}); add it to Hyperparams(..., decays=...)"
            )
        return self._complements[name]

    def bias_correction(self, name: str) -> jax.Array:
        """The scalar ``1 - b**t`` for the decay ``b = self[name]`` and ``t = self.count``.

        Computed as ``-expm1(t * log1p(-(1 - b)))`` from the exact `complement`, so at
        ``t = 1`` it is exactly the ``1 - b`` the moment used; plain ``1 - b**t`` in float32
        is off by up to 1.3e-5 relative for ``b = 0.999``.
        """
        return one_minus_power(self.complement(name), self.count)

    def moment(self, name: str, moments: Any, updates: Any, order: int = 1) -> Any:
        """The moments after this update: ``b * m + (1 - b) * g**order`` per leaf.

        ``b = self[name]`` is a declared decay (its exact `complement` is used). ``order=2``
        averages ``|g|**2``, real for complex ``g``. The arithmetic runs in float32 at
        least (a bf16 moment is widened inside the fused kernel) and the result is stored
        in each moment's dtype.

        Args:
          name: the decay.
          moments: the moments (a pytree like ``updates``).
          updates: the gradients or updates.
          order: 1 (the mean of ``g``) or 2 (the mean of ``|g|**2``).
        """
        if order not in (1, 2):
            raise ValueError(f"{self._call}: moment order must be 1 or 2, got {order!r}")
        complement = self.complement(name)

        def one(g, m):
            wide = _tree.wide_dtype(g)
            term = g.astype(wide) if order == 1 else _tree.abs_sq(g.astype(wide))
            return _tree.ema_leaf(complement, m, term, jnp.result_type(term))

        return jax.tree.map(one, updates, moments)


_SHOWN_AS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "optx_hyperparams_shown_as", default=None
)


@contextlib.contextmanager
def shown_as(names: Mapping[str, str]) -> Iterator[None]:
    """Within the block, `Hyperparams` name ``k`` as ``names[k]`` in their errors.

    For an alias that builds a transform under its own vocabulary (``sgd``'s ``momentum`` is
    the ``decay`` of the `trace` inside it; `rename_hyperparams` renames the state): the
    transform's declared constraint is checked, and the message names the alias's argument.
    """
    token = _SHOWN_AS.set({**(_SHOWN_AS.get() or {}), **names})
    try:
        yield
    finally:
        _SHOWN_AS.reset(token)


DEFAULT_CONSTRAINTS: dict[str, Constraint] = {
    "learning_rate": _constraints.NON_NEGATIVE,
    "eps": _constraints.NON_NEGATIVE,
    "eps_root": _constraints.NON_NEGATIVE,
    "weight_decay": _constraints.NON_NEGATIVE,
}
"""Constraints of names that mean the same in every transform; a decay is in [0, 1)."""


class Hyperparams:
    """The hyperparameter specs of one transform, validated when the factory is called.

    Each hyperparameter is declared once, with its constraint; the declaration is checked
    on the factory's value, on a schedule's value at ``init``, by `set_hyperparams`, and
    inside compiled updates under `optx.debug_checks`.

    Args:
      call: the public name of the factory, for errors.
      decays: the names whose ``1 - value`` the update uses (`complement`); the state
        keeps it exact. A decay must lie in [0, 1) unless ``constraints`` says otherwise.
      constraints: name -> `optx.Constraint` for the names whose constraint is not the
        default: `DEFAULT_CONSTRAINTS` by name, [0, 1) for decays, else finite.
      **specs: name -> float, scalar array or schedule ``count -> value``.

    Raises:
      TypeError: a value that is not a number, a scalar array or a schedule of one
        argument.
      ValueError: a concrete value that breaks its constraint.
    """

    def __init__(
        self,
        call: str,
        *,
        decays: tuple[str, ...] = (),
        constraints: Mapping[str, Constraint] | None = None,
        **specs: Any,
    ):
        unknown = [name for name in (*decays, *(constraints or {})) if name not in specs]
        if unknown:
            raise ValueError(f"{call}: {unknown} are not among the hyperparameters {sorted(specs)}")
        self.call = _validate.current_call(call)  # the public factory: optx.sgd, not its parts
        shown_as_ = _SHOWN_AS.get() or {}
        self.shown = {name: shown_as_.get(name, name) for name in specs}  # names in errors
        self.specs = specs
        self.decays = tuple(decays)
        self.constraints = {
            name: (constraints or {}).get(
                name,
                _constraints.UNIT_INTERVAL
                if name in decays
                else DEFAULT_CONSTRAINTS.get(name, _constraints.FINITE),
            )
            for name in specs
        }
        for name, spec in specs.items():
            _validate.check_number(call, self.shown[name], spec)
            if callable(spec):
                _validate.check_schedule(call, self.shown[name], spec)
            else:
                self.constraints[name].check(self.call, self.shown[name], spec)

    def init(self, params: Any = None) -> HyperparamsState:
        """The state before the first update: schedules evaluated at count 0.

        Values are in `_tree.scalar_dtype` of ``params`` and replicated where the params are.
        """
        dtype = _tree.scalar_dtype(params)
        sharding = _tree.replicated_sharding(params)
        zero = jnp.zeros([], jnp.int32)
        values = {name: self._evaluate(spec, zero, dtype) for name, spec in self.specs.items()}
        for name, spec in self.specs.items():
            if callable(spec):  # a schedule's first value, where it is concrete
                self._check_value(name, values[name], "the schedule's value at count 0")
        scheduled = ScheduledFlags(
            {name: _source(spec) for name, spec in self.specs.items()}, self.constraints
        )
        complements = {
            complement_key(name): exact_complement(
                spec if _source(spec) == HELD else values[name], dtype
            )
            for name, spec in self.specs.items()
            if name in self.decays
        }
        place = lambda x: _tree.place(x, sharding)  # noqa: E731
        return HyperparamsState(
            {k: place(v) for k, v in values.items()},
            scheduled,
            {k: place(v) for k, v in complements.items()},
        )

    def init_count(self, params: Any = None) -> jax.Array:
        """The update counter of a new state: int32 zero, replicated where the params are."""
        return _tree.zero_count(params)

    def resolve(self, state: HyperparamsState, count: jax.Array) -> Resolved:
        """The hyperparameters of the update after ``count`` updates, as one `Resolved`.

        A scheduled value is ``schedule(count)``, a value given as a JAX array is that
        array; any other is read from the state, so `set_hyperparams` can change it between
        steps. ``resolved.state`` and ``resolved.count`` are what the new state holds.

        Raises:
          ValueError: ``state`` holds other hyperparameters (built by another transform),
            or a schedule returns a non-scalar.
        """
        wanted = {complement_key(name) for name in self.decays}
        if set(state.values) != set(self.specs) or set(state.complements) != wanted:
            raise ValueError(
                f"{self.call}: the state holds hyperparameters {sorted(state.values)} "
                f"but the transform has {sorted(self.specs)}; was the state built by another "
                "optimizer? Call init of this optimizer on the params"
            )
        values: dict[str, jax.Array] = {}
        for name, spec in self.specs.items():
            held = state.values[name]
            if _source(spec) == HELD:
                values[name] = held
            else:
                values[name] = self._evaluate(spec, count, jnp.result_type(held))
                if jnp.shape(values[name]) != jnp.shape(held):
                    raise ValueError(
                        f"{self.call}: {self.shown[name]} must be a scalar, but the "
                        f"{'schedule' if callable(spec) else 'array'} gives shape "
                        f"{jnp.shape(values[name])}; return a scalar from the schedule"
                    )
            shown, constraint = self.shown[name], self.constraints[name]
            _constraints.check_on_device(self.call, shown, constraint, values[name])
        complements, new_complements = {}, dict(state.complements)
        for name in self.decays:
            key = complement_key(name)
            value, stored = values[name], state.complements[key]
            if _source(self.specs[name]) == HELD:
                # Exact while it belongs to the value beside it (set_hyperparams keeps them
                # together); else 1 - value. The state keeps what it held, so the select
                # fuses into the update instead of being an output of its own.
                one = jnp.ones([], jnp.result_type(value))
                complements[name] = jnp.where(one - stored == value, stored, one - value)
            else:
                complements[name] = new_complements[key] = 1 - value
        new_state = HyperparamsState(dict(values), state.scheduled, new_complements)
        return Resolved(self.call, values, complements, _tree.safe_increment(count), new_state)

    def _check_value(self, name: str, value: Any, what: str) -> None:
        shown = self.shown[name]
        if jnp.shape(value) != ():
            raise ValueError(
                f"{self.call}: {shown} must be a scalar, but {what} has shape "
                f"{jnp.shape(value)}; return a scalar from the schedule"
            )
        constraint = self.constraints[name]
        host = None if isinstance(value, jax.core.Tracer) else np.asarray(value, np.float64)
        if host is not None and not bool(constraint.holds(host)):
            raise ValueError(
                f"{self.call}: {shown} must be {constraint.describe()}, but {what} is "
                f"{float(host):g}; fix the schedule or its arguments"
            )

    @staticmethod
    def _evaluate(spec: Any, count: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        value = spec(count) if callable(spec) else spec
        return jnp.asarray(value, dtype)


def exact_complement(value: Any, dtype: Any = jnp.float32) -> jax.Array:
    """``1 - value`` in ``dtype``, computed in double precision when ``value`` is on the host.

    A Python or NumPy number gives the ``dtype`` value nearest to the true ``1 - value``
    (``float32(0.001)`` for 0.999); a JAX array (or tracer) gives ``1 - value`` in ``dtype``.
    """
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        return 1 - jnp.asarray(value, dtype)
    return jnp.asarray(1.0 - np.asarray(value, np.float64), dtype)


def one_minus_power(complement: jax.Array, count: jax.Array) -> jax.Array:
    """``1 - b**t`` from the complement ``1 - b`` and ``t = count``, accurately.

    Computed as ``-expm1(t * log1p(-(1 - b)))``.
    """
    return -jnp.expm1(count.astype(jnp.result_type(complement)) * jnp.log1p(-complement))

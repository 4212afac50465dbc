"""The gradient-transformation protocol and the combinators every optimizer is built from.

A gradient transformation is a pair of pure functions::

    state = tx.init(params)
    updates, state = tx.update(grads, state, params, **extra_args)

`GradientTransformation` is a NamedTuple with the fields ``init`` and ``update`` in that
order, so an optx transform is accepted wherever Optax's is (flax ``TrainState``,
``optax.chain``), and an Optax transform chains into `optx.chain`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

# Type aliases for type checkers (mypy, pyright); at run time they are plain typing objects.
# A custom pytree node (an equinox Module, a registered dataclass) is a valid tree at run
# time but not an ArrayTree to a type checker: annotate such a tree yourself, or cast it.
if TYPE_CHECKING:
    from optx._flat import FlatParams

ArrayTree: TypeAlias = (
    ArrayLike | None | Iterable["ArrayTree"] | Mapping[Any, "ArrayTree"] | "FlatParams"
)
"""A pytree of arrays: an array or scalar, ``None``, or a sequence or mapping of trees."""
Numeric: TypeAlias = jax.Array | np.ndarray | np.number | float | int
"""A real number: a JAX or NumPy array (a scalar one for a hyperparameter), or a Python one."""

Params: TypeAlias = ArrayTree
"""A pytree of arrays: the parameters being optimized.

For a type checker, ``ArrayTree = jax.typing.ArrayLike | None | Iterable[ArrayTree] |
Mapping[Any, ArrayTree]``: dicts, lists, tuples, NamedTuples, flax ``FrozenDict`` and
``nnx.State`` of arrays (``None`` leaves stay ``None``). Another registered pytree node
(an equinox Module, a dataclass) works at run time; annotate it ``Any`` (or
``cast(optx.Params, tree)``) for mypy.
"""
Updates: TypeAlias = ArrayTree
"""A pytree of arrays shaped like the params: gradients or updates (the `Params` type)."""
OptState: TypeAlias = ArrayTree
"""A pytree of arrays: the state of a transformation (NamedTuples, tuples and dicts of
arrays; the `Params` type). Read hyperparameters from it with `optx.get_hyperparams`."""

_ParamsT = TypeVar("_ParamsT", bound=ArrayTree)


class Schedule(Protocol):
    """A pure function of the 0-based update count (updates already applied) -> a scalar.

    optx calls a schedule with a traced int32 count; its own schedules also take a Python
    int (``[float(s(i)) for i in range(10)]``) and return a scalar array. For a type
    checker, the count and the value are ``Numeric = jax.Array | np.ndarray | np.number |
    float | int``: annotate your own schedule ``(count: jax.typing.ArrayLike) -> jax.Array``
    (or leave it unannotated); one that only takes ``count: jax.Array`` is too narrow.
    """

    def __call__(self, count: Numeric) -> Numeric: ...


ScalarOrSchedule: TypeAlias = Numeric | Schedule
"""A hyperparameter: a Python float or int, a NumPy or JAX scalar (``vmap`` can sweep a JAX
one), or a `Schedule` ``count -> value``."""


class TransformInitFn(Protocol):
    """``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None, **extra_args) -> (updates, state)``."""

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)`` that transforms gradients.

    Attributes:
      init: ``init(params) -> state`` builds the initial state.
      update: ``update(updates, state, params=None, **extra_args) -> (updates, state)``.
        Unknown keyword arguments (``value``, ``loss``, ``key``, ...) are accepted and ignored.

    Every public transform checks its inputs at trace time (no cost in a compiled step): its
    ``init`` refuses integer and bool params (naming the leaf) and takes Python scalar leaves
    (``{"w": 1.0}``) as arrays, as Optax does; its ``update`` promotes integer gradients to
    the float dtype of their param, as Optax effectively does, and refuses ``None`` or a
    state built by another transform, naming the transform and the state it expected.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.sgd(learning_rate=0.1)
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> optx.apply_updates(params, updates)["w"]
      Array([0.9, 0.9, 0.9], dtype=float32)
    """

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


def identity() -> GradientTransformation:
    """Returns updates unchanged; keeps no state.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.identity()
      >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
      Array([1., 1.], dtype=float32)
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init, update)


def set_to_zero() -> GradientTransformation:
    """Replaces every update with zeros (used for frozen parameters); keeps no state."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)


def stateless(
    f: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    """Builds a state-free transformation from ``f(updates, params) -> updates``.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> negate = optx.stateless(lambda g, p: jax.tree.map(lambda x: -x, g))
      >>> negate.update(jnp.ones(2), negate.init(None))[0]
      Array([-1., -1.], dtype=float32)
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return f(updates, params), state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies transformations in sequence; the state is a tuple of their states.

    Extra keyword arguments given to ``update`` are forwarded to every transformation.
    Optax transformations chain in too (they must accept ``**extra_args`` themselves, as
    Optax's ``GradientTransformationExtraArgs`` do; plain ones are called without them).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.chain(optx.clip(1.0), optx.scale(-0.5))
      >>> tx.update(jnp.array([3.0, -0.2]), tx.init(jnp.zeros(2)))[0]
      Array([-0.5,  0.1], dtype=float32)
    """
    init, update = _in_sequence("optx.chain", transforms)
    return GradientTransformation(init, update)


class _SequenceInitFn(Protocol):
    def __call__(self, params: Params) -> tuple[OptState, ...]: ...


class _SequenceUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, tuple[OptState, ...]]: ...


def _in_sequence(
    call: str, transforms: tuple[GradientTransformation, ...]
) -> tuple[_SequenceInitFn, _SequenceUpdateFn]:
    """`chain`'s init and update, typed with the tuple state that `named_chain` relies on."""
    for i, tx in enumerate(transforms):
        if not is_transformation(tx):
            raise TypeError(
                f"{call}: argument {i} is {type(tx).__name__}, not a gradient "
                "transformation (an object with init and update); did you forget to call "
                "the factory, e.g. optx.adam(1e-3) rather than optx.adam?"
            )
    updaters = tuple(_accepting_extra_args(tx.update) for tx in transforms)

    def init(params: Params) -> tuple[OptState, ...]:
        return tuple(tx.init(params) for tx in transforms)

    def update(
        updates: Updates, state: Any, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, tuple[OptState, ...]]:
        # state is Any, not OptState: it is a tuple only once the check below passes.
        if len(state) != len(transforms):
            raise ValueError(
                f"optx.chain: the state has {len(state)} entries but the chain has "
                f"{len(transforms)} transformations; was it built by a different chain?"
            )
        new_state = []
        for tx_update, s in zip(updaters, state):
            updates, s = tx_update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return init, update


def named_chain(*named: tuple[str, GradientTransformation]) -> GradientTransformation:
    """Like `chain`, with the state a dict keyed by the given names.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.named_chain(("clip", optx.clip(1.0)), ("lr", optx.scale(-0.1)))
      >>> sorted(tx.init(jnp.zeros(2)))
      ['clip', 'lr']
    """
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"optx.named_chain: names must be unique, got {names}")
    inner_init, inner_update = _in_sequence("optx.named_chain", tuple(tx for _, tx in named))

    def init(params):
        return dict(zip(names, inner_init(params)))

    def update(updates, state, params=None, **extra_args):
        if set(state) != set(names):
            raise ValueError(
                f"optx.named_chain: the state has keys {sorted(state)} but the chain has "
                f"{sorted(names)}"
            )
        states = tuple(state[n] for n in names)
        updates, new = inner_update(updates, states, params, **extra_args)
        return updates, dict(zip(names, new))

    return GradientTransformation(init, update)


def apply_updates(params: _ParamsT, updates: Updates) -> _ParamsT:
    """Returns ``params + updates``, each result in its parameter's dtype.

    ``None`` leaves in ``params`` stay ``None``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> p = jnp.ones(2, jnp.bfloat16)
      >>> optx.apply_updates(p, jnp.full(2, 0.5, jnp.float32)).dtype
      dtype(bfloat16)
    """

    def add(p, u):
        if p is None:
            return None
        p = jnp.asarray(p)
        u = jnp.asarray(u)
        if u.dtype == p.dtype:
            return p + u
        wide = max(p.dtype, u.dtype, key=lambda d: d.itemsize)
        return (p.astype(wide) + u.astype(wide)).astype(p.dtype)

    return jax.tree.map(add, params, updates, is_leaf=lambda x: x is None)


def _accepting_extra_args(update: Callable) -> Callable:
    """Wraps an update function that does not accept ``**extra_args`` so it ignores them."""
    import inspect

    try:
        signature = inspect.signature(update)
    except (TypeError, ValueError):
        return update
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return update

    def call_without_extra_args(updates, state, params=None, **extra_args):
        del extra_args
        return update(updates, state, params)

    return call_without_extra_args


def is_transformation(obj: Any) -> bool:
    """True for anything with callable ``init`` and ``update`` (optx's or Optax's)."""
    return callable(getattr(obj, "init", None)) and callable(getattr(obj, "update", None))


__all__ = [
    "EmptyState",
    "GradientTransformation",
    "OptState",
    "Params",
    "Schedule",
    "ScalarOrSchedule",
    "TransformInitFn",
    "TransformUpdateFn",
    "Updates",
    "apply_updates",
    "chain",
    "identity",
    "is_transformation",
    "named_chain",
    "set_to_zero",
    "stateless",
]

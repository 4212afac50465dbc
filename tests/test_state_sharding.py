"""The optimizer state follows the params: every registered optimizer, on sharded params.

Every array of a state is created like the param it shadows (`_tree.zeros_like`,
`moments_like`, `_tree.zeros_reduced`, `_tree.zero_count`; see CONTRIBUTING.md):

- a leaf shaped like its param has the param's sharding;
- a leaf with a reduced shape (Adafactor's row/column statistics, SM3's accumulators) has
  the param's partition spec with the reduced axes removed, on the param's mesh;
- scalars (counts, hyperparameters, per-leaf norms) and leaves that shadow no single param
  (`flatten`'s one vector, a PRNG key) are replicated on the params' mesh.

That holds after `init`, and is unchanged (with shapes and dtypes) by a jitted update and
by an eager one. Params live on 4 simulated devices: a 1-D mesh ``('x',)`` with leaves
sharded on their first axis, and a 2-D ``('data', 'model')`` mesh with leaves sharded on
'model' and replicated over 'data'; both with Auto and with Explicit axes.

What a user must do: nothing beyond placing the params. With Explicit axes ``jax.jit``
of ``tx.update`` needs no mesh context (``jax.set_mesh``; jax 0.10 has no
``jax.sharding.use_mesh``): the shardings travel in the arrays' types, and the test below
runs the jitted update without one. A context is needed only for code that names a bare
``PartitionSpec`` (``jnp.zeros(..., out_sharding=P(...))``) under ``jit``; optx does not.
One documented exception, per registry case (``Case.replicated_state``, each with its
reason): fields of Kronecker-factored preconditioners (Shampoo's and SOAP's ``(n, n)``
factors, roots and eigenbases) are replicated on the params' mesh although they sit under
a param's key; both of their axes index one param axis, so no reduced param spec fits.
"""

import itertools

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
from registry import CASES

LAYOUTS = {
    # mesh shape, axis names, then each param: (shape, partition spec)
    "1d": (
        (4,),
        ("x",),
        {"w": ((8, 4), P("x")), "v": ((4,), P("x")), "b": ((), P())},
    ),
    "2d": (
        (2, 2),
        ("data", "model"),
        {"w": ((4, 8), P(None, "model")), "v": ((8,), P("model")), "b": ((), P())},
    ),
}
AXIS_TYPES = {"auto": AxisType.Auto, "explicit": AxisType.Explicit}


def _params(layout, axis_type):
    shape, names, leaves = LAYOUTS[layout]
    mesh = jax.make_mesh(shape, names, axis_types=(axis_type,) * len(names))
    params = {}
    for i, (name, (leaf_shape, spec)) in enumerate(sorted(leaves.items())):
        size = max(1, int(jnp.prod(jnp.array(leaf_shape))))
        value = jnp.linspace(-1.0 + 0.1 * i, 1.0, size).reshape(leaf_shape)
        params[name] = jax.device_put(value, NamedSharding(mesh, spec))
    return mesh, params


def _padded(spec, ndim):
    return tuple(spec) + (None,) * (ndim - len(spec))


def _param_name(path, params):
    """The param a state leaf shadows: the first dict key on its path naming a param."""
    for entry in path:
        if isinstance(entry, jax.tree_util.DictKey) and entry.key in params:
            return entry.key
    return None


def _sharding_problem(leaf, param, mesh):
    """Why ``leaf`` (a state array) is not placed like ``param`` (None if it is)."""
    sharding = leaf.sharding
    if not isinstance(sharding, NamedSharding) or sharding.mesh != mesh:
        return f"not on the params' mesh: {sharding}"
    if param is None or leaf.ndim == 0:
        return None if sharding.is_fully_replicated else f"not replicated: {sharding.spec}"
    if leaf.shape == param.shape:
        if sharding.is_equivalent_to(param.sharding, leaf.ndim):
            return None
        return f"spec {sharding.spec}, param has {param.sharding.spec}"
    # A reduced leaf: the param's spec along some kept axes of matching sizes.
    spec = _padded(sharding.spec, leaf.ndim)
    param_spec = _padded(param.sharding.spec, param.ndim)
    for kept in itertools.combinations(range(param.ndim), leaf.ndim):
        sizes = tuple(param.shape[a] for a in kept)
        if sizes == leaf.shape and tuple(param_spec[a] for a in kept) == spec:
            return None
    return f"reduced leaf {leaf.shape} has spec {sharding.spec}; param {param_spec}"


def _replicated_field(path, fields):
    return any(isinstance(e, jax.tree_util.GetAttrKey) and e.name in fields for e in path)


def _problems(state, params, mesh, replicated_fields=()):
    problems = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if not isinstance(leaf, jax.Array):
            continue  # static placeholders (MaskedNode) hold no array
        name = None if _replicated_field(path, replicated_fields) else _param_name(path, params)
        problem = _sharding_problem(leaf, params.get(name), mesh)
        if problem:
            problems.append(f"{jax.tree_util.keystr(path)}: {problem}")
    return problems


def _layout(state):
    return [
        (jax.tree_util.keystr(p), x.shape, x.dtype, x.sharding.spec)
        for p, x in jax.tree_util.tree_flatten_with_path(state)[0]
        if isinstance(x, jax.Array)
    ]


def _normalized(layout):
    return [(path, shape, dtype, _padded(spec, len(shape))) for path, shape, dtype, spec in layout]


def _check_all(states, params, mesh, before, when, cases=CASES):
    problems = []
    for case, state, layout in zip(cases, states, before):
        found = _problems(state, params, mesh, tuple(case.replicated_state))
        problems += [f"{case.name} {when}: {p}" for p in found]
        if _normalized(_layout(state)) != layout:
            problems.append(f"{case.name} {when}: state layout changed by the update")
    assert not problems, "\n".join(problems)


def _setup(layout, axis_type, cases=CASES):
    mesh, params = _params(layout, AXIS_TYPES[axis_type])
    grads = jax.tree.map(lambda p: 0.5 * p + 0.25, params)  # placed like the params
    txs = [case.build() for case in cases]
    extras = [case.extra_args(jax.random.key(0)) if case.extra_args else {} for case in cases]
    states = [tx.init(params) for tx in txs]
    return mesh, params, grads, txs, extras, states


# All optimizers in one jitted step per layout: one compile instead of sixty (~3x faster).
@pytest.mark.slow  # every registered optimizer on 4 sharded layouts
@pytest.mark.parametrize("axis_type", AXIS_TYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_state_follows_param_sharding_under_jit(layout, axis_type):
    mesh, params, grads, txs, extras, states = _setup(layout, axis_type)
    before = [_normalized(_layout(state)) for state in states]
    _check_all(states, params, mesh, before, "after init")

    @jax.jit
    def step(grads, states, params):  # arguments, not closed over: constants lose sharding
        return [tx.update(grads, s, params, **e)[1] for tx, s, e in zip(txs, states, extras)]

    for when in ("after a jitted update", "after a second jitted update"):
        states = jax.block_until_ready(step(grads, states, params))  # sync each step: DESIGN.md
        _check_all(states, params, mesh, before, when)


# Eagerly (op by op), on the Explicit 2-D layout only; the registry in four parts, so
# that test workers share the ~50 s of CPU this takes.
EAGER_PARTS = 4


@pytest.mark.slow  # every registered optimizer, eagerly
@pytest.mark.parametrize("part", range(EAGER_PARTS))
def test_state_follows_param_sharding_eagerly(part):
    cases = CASES[part::EAGER_PARTS]
    mesh, params, grads, txs, extras, states = _setup("2d", "explicit", cases)
    before = [_normalized(_layout(state)) for state in states]
    for _ in range(2):
        states = [
            jax.block_until_ready(tx.update(grads, s, params, **e)[1])
            for tx, s, e in zip(txs, states, extras)
        ]
        _check_all(states, params, mesh, before, "after an eager update", cases)

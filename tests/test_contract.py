"""The contract every registered optimizer obeys (driven by tests/registry.py)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from registry import CASES

import optx
from optx.testing import ALL_CHECKS, check_transform

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}


def _extra(case, key):
    return case.extra_args(key) if case.extra_args else {}


# Every check here runs over every registered optimizer: the heaviest sweep of the suite.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_contract(case):
    checks = [c for c in ALL_CHECKS if c not in case.skip_checks]
    check_transform(
        case.build(),
        PARAMS,
        extra_args=_extra(case, jax.random.key(1)),
        checks=checks,
        make_tx=case.build,
    )


def _minimize(tx, loss, x0, steps, extra_args):
    @jax.jit
    def run(x):
        def body(carry, key):
            x, state = carry
            grads = jax.grad(loss)(x)
            updates, state = tx.update(grads, state, x, **extra_args(key))
            return (optx.apply_updates(x, updates), state), None

        keys = jax.random.split(jax.random.key(0), steps)
        (x, _), _ = jax.lax.scan(body, (x, tx.init(x)), keys)
        return x

    return run(x0)


def _quadratic(x):
    a = jnp.linspace(1.0, 10.0, x.shape[0])
    return 0.5 * jnp.sum(a * (x - 1.0) ** 2)


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_converges_on_quadratic(case):
    if case.quadratic is None:
        assert case.why_not_quadratic  # documented in the registry
        return
    x = _minimize(
        case.make(**case.quadratic),
        _quadratic,
        jnp.zeros(10),
        case.quadratic_steps,
        lambda k: _extra(case, k),
    )
    assert float(_quadratic(x)) < 1e-2 * float(_quadratic(jnp.zeros(10)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_converges_on_rosenbrock(case):
    if case.rosenbrock is None:
        assert case.why_not_rosenbrock
        return
    x = _minimize(
        case.make(**case.rosenbrock),
        _rosenbrock,
        jnp.array([-1.2, 1.0]),
        case.rosenbrock_steps,
        lambda k: _extra(case, k),
    )
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], atol=0.1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hyperparams_read_and_set_without_retrace(case):
    tx = case.build()
    state = tx.init(PARAMS)
    values = optx.get_hyperparams(state)
    assert case.hyperparam in values, sorted(values)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    extra = _extra(case, jax.random.key(2))
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state):
        return tx.update(grads, state, PARAMS, **extra)

    _, state = step(state)  # one step first, so momentum-like hyperparameters matter
    values = optx.get_hyperparams(state)
    updates_a, _ = step(state)
    changed = optx.set_hyperparams(state, {case.hyperparam: values[case.hyperparam] * 0.5})
    updates_b, after = step(changed)
    assert float(optx.get_hyperparams(after)[case.hyperparam]) == pytest.approx(
        float(values[case.hyperparam]) * 0.5
    )
    # Halving a hyperparameter that the update reads must change the update.
    differs = any(
        not np.allclose(a, b)
        for a, b in zip(jax.tree.leaves(updates_a), jax.tree.leaves(updates_b))
    )
    assert differs, f"setting {case.hyperparam} had no effect on the update"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_state_arrays_independent_of_hyperparam_kind(case):
    """A float, an array and a schedule give states with the same arrays (paths, shapes,
    dtypes), so a checkpoint restores into either; only the static flags differ."""
    value = float(optx.get_hyperparams(case.build().init(PARAMS))[case.hyperparam])
    kinds = [value, jnp.asarray(value), lambda count: value + 0.0 * count.astype(jnp.float32)]
    # The registry's hyperparam is an argument name of the factory, or renamed from one.
    argument = case.hyperparam
    states = [case.build(**{argument: v}).init(PARAMS) for v in kinds]
    arrays = [
        [(jax.tree_util.keystr(path), jnp.shape(x), jnp.result_type(x)) for path, x in flat]
        for flat in (jax.tree_util.tree_flatten_with_path(s)[0] for s in states)
    ]
    assert arrays[0] == arrays[1] == arrays[2]

    def sources(state):
        nodes = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, optx.HyperparamsState))
        return [
            node.scheduled.source(case.hyperparam)
            for node in nodes
            if isinstance(node, optx.HyperparamsState) and case.hyperparam in node.scheduled
        ]

    # Only the static flags differ: held in the state, given as an array, scheduled.
    assert [set(sources(s)) for s in states] == [{"held"}, {"given"}, {"scheduled"}]

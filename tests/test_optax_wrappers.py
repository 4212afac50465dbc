"""Optax's own wrappers and tree tools around optx, and set_hyperparams without compiling.

- ``optax.inject_hyperparams(optx.X)`` behaves as ``optax.inject_hyperparams(optax.X)``:
  injected values and schedules take effect (a JAX array given to an optx factory is used
  as given, as in Optax).
- ``optax.tree.get`` / ``optax.tree.set`` read and write optx hyperparameters; a decay set
  that way takes effect with its own ``1 - value``.
- ``optx.set_hyperparams`` compiles nothing: XLA compiles are counted, not traces.
"""

import contextlib

import _fast
import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import optx

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 8).reshape(2, 4), "b": jnp.zeros(4)}


def _grads(step):
    key = jax.random.fold_in(jax.random.key(0), step)
    return jax.tree.map(lambda p: jax.random.normal(key, p.shape), PARAMS)


@contextlib.contextmanager
def count_compiles():
    """Counts XLA backend compiles while the block runs (``counted[0]``)."""
    counted = [0]

    def listen(event, duration, **kwargs):
        del duration, kwargs
        if event == "/jax/core/compile/backend_compile_duration":
            counted[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield counted
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _run(tx, steps=5, mutate=None):
    state = tx.init(PARAMS)
    params, out = PARAMS, []
    for t in range(steps):
        if mutate is not None:
            state = mutate(t, state)
        updates, state = tx.update(_grads(t), state, params)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return params, out


INJECTED = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("adam", {"learning_rate": 0.01, "b1": 0.8, "b2": 0.99}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("rmsprop", {"learning_rate": 0.01, "decay": 0.8}),
    ("lion", {"learning_rate": 0.01, "b1": 0.8}),
    ("adagrad", {"learning_rate": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), _fast.cases(INJECTED, name=lambda c: c[0]))
def test_inject_hyperparams_takes_injected_values_as_with_optax(name, kwargs):
    def halve_lr(t, state):
        if t == 2:
            state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] / 2
        return state

    ours = optax.inject_hyperparams(getattr(optx, name))(**kwargs)
    theirs = optax.inject_hyperparams(getattr(optax, name))(**kwargs)
    got, got_updates = _run(ours, mutate=halve_lr)
    with jax.numpy_dtype_promotion("standard"):  # Optax's injected Adam mixes int and float
        expected, expected_updates = _run(theirs, mutate=halve_lr)
    chex.assert_trees_all_close(got_updates, expected_updates, rtol=2e-5, atol=1e-7)
    chex.assert_trees_all_close(got, expected, rtol=2e-5, atol=1e-7)


def test_inject_hyperparams_schedule_drives_the_optx_update():
    schedule = optax.linear_schedule(1.0, 0.0, 10)
    ours = optax.inject_hyperparams(optx.sgd)(learning_rate=schedule)
    theirs = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    _, got = _run(ours, steps=4)
    _, expected = _run(theirs, steps=4)
    chex.assert_trees_all_close(got, expected, rtol=1e-6)
    assert float(got[3]["b"][0] / _grads(3)["b"][0]) == pytest.approx(-0.7, rel=1e-6)


def test_optax_tree_get_and_set_work_on_optx_states():
    tx = optx.adam(1e-2)
    state = tx.init(PARAMS)
    assert float(optax.tree.get(state, "learning_rate")) == pytest.approx(1e-2)
    assert float(optax.tree.get(state, "b2")) == pytest.approx(0.999)
    changed = optax.tree.set(state, b2=jnp.asarray(0.9, jnp.float32), learning_rate=0.5)
    fresh = optx.adam(0.5, b2=0.9)
    got = tx.update(_grads(0), changed, PARAMS)[0]
    expected = fresh.update(_grads(0), fresh.init(PARAMS), PARAMS)[0]
    chex.assert_trees_all_close(got, expected, rtol=1e-6)


def test_an_array_given_to_a_factory_is_used_and_cannot_be_set_in_the_state():
    tx = optx.sgd(jnp.asarray(0.5))
    state = tx.init(PARAMS)
    updates, state = tx.update(_grads(0), state, PARAMS)
    chex.assert_trees_all_close(updates, jax.tree.map(lambda g: -0.5 * g, _grads(0)))
    with pytest.raises(ValueError, match="learning_rate was given to the factory as a JAX arr"):
        optx.set_hyperparams(state, learning_rate=0.1)


def _jit_steps(jit, tx, state, steps=2):
    step = jit(lambda g, s, p: tx.update(g, s, p))
    for t in range(steps):
        _, state = step(_grads(t), state, PARAMS)
    return step, jax.block_until_ready(state)


@pytest.mark.parametrize("jit", [jax.jit, eqx.filter_jit], ids=["jax.jit", "eqx.filter_jit"])
@pytest.mark.parametrize("tx_name", ["sgd_momentum", "adam", "chain"])
def test_set_hyperparams_compiles_nothing(jit, tx_name):
    tx = {
        "sgd_momentum": optx.sgd(0.1, momentum=0.9),
        "adam": optx.adam(1e-2),
        "chain": optx.chain(optx.clip_by_global_norm(1.0), optx.adamw(1e-2)),
    }[tx_name]
    step, state = _jit_steps(jit, tx, tx.init(PARAMS))
    with count_compiles() as compiles:
        for lr in (0.05, 0.02, 0.01):
            state = optx.set_hyperparams(state, learning_rate=lr)
            _, state = step(_grads(0), state, PARAMS)
        if tx_name == "adam":
            state = optx.set_hyperparams(state, b1=0.5, b2=0.9)
            _, state = step(_grads(1), state, PARAMS)
        jax.block_until_ready(state)
    assert compiles[0] == 0
    assert float(optx.get_hyperparams(state)["learning_rate"]) == pytest.approx(0.01)


@pytest.mark.parametrize("axis_type", [AxisType.Auto, AxisType.Explicit])
def test_set_hyperparams_keeps_sharding_and_compiles_nothing_on_a_mesh(axis_type):
    mesh = jax.make_mesh((4,), ("x",), axis_types=(axis_type,))
    params = {"w": jax.device_put(jnp.ones((8, 4)), NamedSharding(mesh, PartitionSpec("x")))}
    tx = optx.adam(1e-2)
    grads = jax.tree.map(jnp.ones_like, params)
    with jax.set_mesh(mesh):
        step = jax.jit(lambda g, s, p: tx.update(g, s, p))
        state = tx.init(params)
        for _ in range(2):
            _, state = step(grads, state, params)
        before = [leaf.sharding for leaf in jax.tree.leaves(state)]
        with count_compiles() as compiles:
            state = optx.set_hyperparams(state, learning_rate=1e-3, b2=0.99)
            _, state = step(grads, state, params)
            jax.block_until_ready(state)
    assert compiles[0] == 0
    assert [leaf.sharding for leaf in jax.tree.leaves(state)] == before


def test_set_hyperparams_keeps_a_wrapping_container():
    @jax.tree_util.register_pytree_node_class
    class Box:
        def __init__(self, value):
            self.value = value

        def tree_flatten(self):
            return (self.value,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            del aux
            return cls(*children)

    state = jax.tree.map(Box, optx.adam(1e-2).init(PARAMS))
    changed = optx.set_hyperparams(state, learning_rate=0.5, b2=0.9)
    assert jax.tree.structure(changed) == jax.tree.structure(state)
    assert float(optx.get_hyperparams(changed)["learning_rate"]) == 0.5
    assert np.float32(optx.get_hyperparams(changed)["b2"]) == np.float32(0.9)

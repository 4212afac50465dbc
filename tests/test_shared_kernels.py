"""Trees whose leaves share a shape: per-step scalars read from one vector change no value.

`optx._xla_cpu.pack_scalars` packs an update's runtime scalars into one vector when leaves
repeat a shape (so XLA compiles one kernel per shape); these tests check the packed update
equals each leaf updated on its own, where nothing is packed.
"""

import _fast
import chex
import jax
import jax.numpy as jnp
import pytest

import optx
from optx import _xla_cpu

OPTIMIZERS = {
    "adam": lambda: optx.adam(1e-2),
    "adam_nesterov": lambda: optx.adam(1e-2, nesterov=True),
    "adamw": lambda: optx.adamw(1e-2, weight_decay=0.1),
    "lion": lambda: optx.lion(1e-3, weight_decay=0.1),
    "sgd": lambda: optx.sgd(1e-2, momentum=0.9),
}


def _tree_of_repeated_shapes():
    keys = jax.random.split(jax.random.key(0), 5)
    shapes = [(4, 3), (4, 3), (4, 3), (7,), (7,)]
    return {f"w{i}": jax.random.normal(k, s) for i, (k, s) in enumerate(zip(keys, shapes))}


@pytest.mark.parametrize("name", _fast.cases(sorted(OPTIMIZERS)))
def test_repeated_shapes_update_as_each_leaf_alone(name):
    params = _tree_of_repeated_shapes()
    grads = jax.tree.map(lambda p: jnp.sin(3 * p), params)
    tx = OPTIMIZERS[name]()
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    state = tx.init(params)
    alone = {k: tx.init(v) for k, v in params.items()}
    for _ in range(3):
        updates, state = step(grads, state, params)
        for key in params:
            single, alone[key] = step(grads[key], alone[key], params[key])
            chex.assert_trees_all_close(updates[key], single, rtol=1e-6, atol=1e-7)


def test_per_step_scalars_pack_only_where_shapes_repeat():
    a, b = jnp.float32(0.5), jnp.float32(-2.0)
    unique = {f"x{i}": jnp.zeros(i + 1) for i in range(20)}  # many leaves, none alike
    repeated = {"x": jnp.zeros(3), "y": jnp.zeros(3)}
    for tree in (unique, repeated):
        got = _xla_cpu.pack_scalars(tree, a, b)
        assert [float(x) for x in got] == [0.5, -2.0]
        assert all(x.dtype == jnp.float32 and x.shape == () for x in got)
    lowered = jax.jit(lambda t, a, b: _xla_cpu.pack_scalars(t, a, b)).lower(repeated, a, b)
    assert "reduce_precision" in lowered.as_text()
    lowered = jax.jit(lambda t, a, b: _xla_cpu.pack_scalars(t, a, b)).lower(unique, a, b)
    assert "reduce_precision" not in lowered.as_text()

"""`optx.FlatParams` and `optx.flat`: layout, gradients, groups, sharding, jit, checkpoints."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from _compiles import counting_compiles

import optx


def _tree():
    k = jax.random.split(jax.random.key(0), 4)
    return {
        "dense": {"kernel": jax.random.normal(k[0], (4, 3)), "bias": jnp.full(3, 0.1)},
        "norm": jax.random.normal(k[1], (5,)).astype(jnp.bfloat16),
        "head": [jax.random.normal(k[2], (2, 2)), jax.random.normal(k[3], ())],
    }


def _loss(tree):
    leaves = [x.astype(jnp.float32) for x in jax.tree.leaves(tree)]
    return sum(jnp.sum(jnp.sin(x) * (i + 1.0) + x**2) for i, x in enumerate(leaves))


def test_round_trip_and_layout():
    params = _tree()
    fp = optx.FlatParams.from_tree(params)
    chex.assert_trees_all_equal(fp.tree(), params)
    chex.assert_trees_all_equal_dtypes(fp.tree(), params)
    # bf16 and f32 leaves go to separate buffers, each in its own dtype
    assert [(b.dtype, b.shape) for b in fp.buffers] == [
        (jnp.float32, (3 + 12 + 4 + 1,)),
        (jnp.bfloat16, (5,)),
    ]
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    assert list(fp.paths) == paths
    # f32 buffer holds the leaves in tree order: dense/bias, dense/kernel, head[0], head[1]
    np.testing.assert_array_equal(fp.buffers[0][3:15], np.ravel(params["dense"]["kernel"]))


def test_a_long_group_is_split_into_buffers_of_64_leaves_with_the_same_results():
    # 130 float32 leaves of one group: buffers of 64, 64 and 2 leaves (packing thousands of
    # leaves into one buffer is a concatenation XLA:CPU compiles and runs slowly).
    params = {f"w{i:03d}": jnp.full((3,), 0.01 * i) for i in range(130)}
    fp = optx.FlatParams.from_tree(params)
    assert [b.shape for b in fp.buffers] == [(64 * 3,), (64 * 3,), (2 * 3,)]
    assert [leaf.group for leaf in fp.layout.leaves] == [0] * 64 + [1] * 64 + [2] * 2
    chex.assert_trees_all_equal(fp.tree(), params)
    grads = jax.tree.map(lambda x: jnp.sin(x) + 0.5, params)
    tx = optx.adam(0.1)
    flat_grads = optx.FlatParams.from_tree(grads, layout=fp.layout)
    updates, _ = jax.jit(tx.update)(flat_grads, tx.init(fp), fp)
    expected, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    chex.assert_trees_all_close(updates.tree(), expected, rtol=1e-6)


def test_grad_is_flatparams_and_equals_tree_grad():
    params = _tree()
    fp = optx.FlatParams.from_tree(params)
    both = jax.jit(
        lambda fp, params: (jax.grad(lambda f: _loss(f.tree()))(fp), jax.grad(_loss)(params))
    )
    grads, expected = both(fp, params)
    assert isinstance(grads, optx.FlatParams)
    assert grads.layout == fp.layout
    chex.assert_trees_all_close(grads.tree(), expected, rtol=1e-6)


def test_grad_is_one_concatenation_per_buffer():
    fp = optx.FlatParams.from_tree(_tree())
    jaxpr = jax.make_jaxpr(jax.grad(lambda f: _loss(f.tree())))(fp)
    names = [e.primitive.name for e in jaxpr.jaxpr.eqns]
    assert names.count("concatenate") == 1  # the f32 buffer; the bf16 one holds one leaf
    assert "pad" not in names and "scatter-add" not in names


def test_apply_updates_is_one_op_per_buffer():
    fp = optx.FlatParams.from_tree(_tree())
    jaxpr = jax.make_jaxpr(optx.apply_updates)(fp, fp)
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns] == ["add"] * len(fp.buffers)
    out = optx.apply_updates(fp, fp)
    chex.assert_trees_all_equal(out.tree(), jax.tree.map(lambda x: x + x, _tree()))


def test_elementwise_state_is_buffers_and_step_does_not_recompile():
    fp = optx.FlatParams.from_tree(_tree())
    tx = optx.chain(optx.clip_by_global_norm(1.0), optx.adamw(1e-2, weight_decay=0.1))
    state = tx.init(fp)
    mu = state[1][0].mu
    assert isinstance(mu, optx.FlatParams)
    assert [m.shape for m in mu.buffers] == [b.shape for b in fp.buffers]
    assert [m.dtype for m in mu.buffers] == [jnp.float32, jnp.float32]  # bf16 moments in f32

    @jax.jit
    def step(fp, state):
        grads = jax.grad(lambda f: _loss(f.tree()))(fp)
        updates, state = tx.update(grads, state, fp)
        return optx.apply_updates(fp, updates), state

    fp, state = step(fp, state)
    jax.block_until_ready(fp)
    with counting_compiles() as compiles:
        for _ in range(3):
            fp, state = step(fp, state)
        state = optx.set_hyperparams(state, learning_rate=5e-3)
        fp, state = step(fp, state)
        jax.block_until_ready(fp)
    assert compiles.count == 0
    np.testing.assert_allclose(optx.get_hyperparams(state)["learning_rate"], 5e-3)
    assert fp.buffers[1].dtype == jnp.bfloat16


def test_schedule_on_flat_params():
    schedule = optx.schedules.linear_schedule(0.1, 0.0, 4)
    params = _tree()
    fp = optx.FlatParams.from_tree(params)
    tx = optx.sgd(schedule, momentum=0.9)
    ref = optx.sgd(schedule, momentum=0.9)
    state, ref_state = tx.init(fp), ref.init(params)
    for _ in range(3):
        g = jax.grad(lambda f: _loss(f.tree()))(fp)
        u, state = tx.update(g, state, fp)
        fp = optx.apply_updates(fp, u)
        ru, ref_state = ref.update(jax.grad(_loss)(params), ref_state, params)
        params = optx.apply_updates(params, ru)
    f32 = lambda t: jax.tree.map(lambda x: x.astype(jnp.float32), t)  # noqa: E731
    chex.assert_trees_all_close(f32(fp.tree()), f32(params), atol=1e-6)
    as_floats = lambda h: {k: float(v) for k, v in h.items()}  # noqa: E731
    assert as_floats(optx.get_hyperparams(state)) == as_floats(optx.get_hyperparams(ref_state))


def test_padding_keeps_results_and_pads_with_zeros():
    params = _tree()
    fp = optx.FlatParams.from_tree(params, pad_to=8)
    assert [b.shape for b in fp.buffers] == [(24,), (8,)]
    np.testing.assert_array_equal(fp.buffers[0][20:], np.zeros(4, np.float32))
    chex.assert_trees_all_equal(fp.tree(), params)
    tx = optx.adam(0.1)

    @jax.jit
    def both(fp, params):
        g = jax.grad(lambda f: _loss(f.tree()))(fp)
        u, _ = tx.update(g, tx.init(fp), fp)
        ref, _ = tx.update(jax.grad(_loss)(params), tx.init(params), params)
        return u, ref

    u, ref = both(fp, params)
    chex.assert_trees_all_close(u.tree(), ref)


def test_from_tree_errors():
    fp = optx.FlatParams.from_tree(_tree())
    with pytest.raises(ValueError, match=r"optx.FlatParams.from_tree: pad_to must be a positive"):
        optx.FlatParams.from_tree(_tree(), pad_to=0)
    other = {**_tree(), "norm": jnp.zeros(5, jnp.float32)}
    with pytest.raises(ValueError, match=r"at \['norm'\] is float32\[5\] but the layout holds "):
        optx.FlatParams.from_tree(other, layout=fp.layout)
    with pytest.raises(ValueError, match=r"does not match the layout \(missing \['norm'\]"):
        optx.FlatParams.from_tree(
            {k: v for k, v in _tree().items() if k != "norm"}, layout=fp.layout
        )


def test_sharded_groups_keep_sharding():
    mesh = jax.make_mesh((4,), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
    row = jax.sharding.NamedSharding(mesh, jax.P("x", None))
    rep = jax.sharding.NamedSharding(mesh, jax.P())
    k = jax.random.split(jax.random.key(1), 3)
    params = {
        "a": jax.device_put(jax.random.normal(k[0], (8, 3)), row),
        "b": jax.device_put(jax.random.normal(k[1], (4, 5)), row),
        "c": jax.device_put(jax.random.normal(k[2], (3,)), rep),
    }
    fp = optx.FlatParams.from_tree(params)
    # one buffer per sharding: the sharded leaves' buffer is split evenly over "x"
    assert [b.shape for b in fp.buffers] == [(44,), (3,)]
    assert fp.buffers[0].sharding.spec == jax.P("x")
    assert fp.buffers[1].sharding.spec == jax.P()
    tx = optx.adam(0.1)
    state = tx.init(fp)
    assert state[0].mu.buffers[0].sharding == fp.buffers[0].sharding

    @jax.jit
    def step(fp, state):
        grads = jax.grad(lambda f: _loss(f.tree()))(fp)
        updates, state = tx.update(grads, state, fp)
        return optx.apply_updates(fp, updates), state

    new, state = step(fp, state)
    assert new.buffers[0].sharding.spec == jax.P("x")
    assert state[0].mu.buffers[0].sharding.spec == jax.P("x")
    tree = new.tree()
    assert tree["a"].sharding.is_equivalent_to(row, 2) and tree["c"].sharding.spec == jax.P()

    @jax.jit
    def per_leaf_step(params):
        ref, _ = tx.update(jax.grad(_loss)(params), tx.init(params), params)
        return optx.apply_updates(params, ref)

    chex.assert_trees_all_close(tree, per_leaf_step(params), atol=1e-6)


def test_orbax_round_trip(tmp_path):
    fp = optx.FlatParams.from_tree(_tree())
    tx = optx.adam(1e-2)
    state = tx.init(fp)
    g = jax.grad(lambda f: _loss(f.tree()))(fp)
    _, state = tx.update(g, state, fp)
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "ckpt", {"params": fp, "state": state})
        ckpt.wait_until_finished()
        target = jax.eval_shape(lambda: {"params": fp, "state": state})
        restored = ckpt.restore(tmp_path / "ckpt", target)
    assert isinstance(restored["params"], optx.FlatParams)
    assert restored["params"].layout == fp.layout
    chex.assert_trees_all_equal(restored, {"params": fp, "state": state})


def test_train_checkpoint_round_trip(tmp_path):
    fp = optx.FlatParams.from_tree(_tree())
    tx = optx.flat(optx.adam(1e-2))
    tree = {"flat": fp, "state": optx.adam(1e-2).init(fp), "flat_tx": tx.init(_tree())}
    optx.train.save(tmp_path / "ckpt", tree)
    restored = optx.train.restore(tmp_path / "ckpt", tree)
    chex.assert_trees_all_equal(restored, tree)
    assert restored["flat"].layout == fp.layout


# optx.flat: per-leaf params and gradients in, per-leaf updates out, state in buffers.
FLAT_TX = {
    "adam": lambda: optx.adam(1e-2),
    "clip_adamw": lambda: optx.chain(optx.clip_by_global_norm(1.0), optx.adamw(1e-2)),
    "lamb": lambda: optx.lamb(1e-2),
    "lion": lambda: optx.lion(1e-3),
}


def _three_steps(tx, params):
    def step(p, _):
        p, state = p
        u, state = tx.update(jax.grad(_loss)(p), state, p)
        return (optx.apply_updates(p, u), state), None

    return jax.lax.scan(step, (params, tx.init(params)), length=3)[0][0]


def test_flat_equals_per_leaf():
    # Every FLAT_TX, flat and per leaf, three steps each, in one jitted program.
    @jax.jit
    def run(params):
        return {
            name: (_three_steps(optx.flat(make()), params), _three_steps(make(), params))
            for name, make in FLAT_TX.items()
        }

    f32 = lambda t: jax.tree.map(lambda x: x.astype(jnp.float32), t)  # noqa: E731
    failures = {}
    for name, (flat, per_leaf) in run(_tree()).items():
        try:
            chex.assert_trees_all_equal_dtypes(flat, per_leaf)
            chex.assert_trees_all_close(f32(flat), f32(per_leaf), atol=1e-6, rtol=1e-6)
        except AssertionError as error:
            failures[name] = str(error)[:300]
    assert not failures, failures


def test_flat_state_is_buffers_with_hyperparams():
    tx = optx.flat(optx.adam(1e-2))
    state = tx.init(_tree())
    assert isinstance(state, optx.FlatState)
    assert [m.shape for m in state.inner_state[0].mu.buffers] == [(20,), (5,)]
    state = optx.set_hyperparams(state, learning_rate=0.5)
    assert float(optx.get_hyperparams(state)["learning_rate"]) == 0.5


def test_flat_errors():
    tx = optx.flat(optx.adam(1e-2))
    state = tx.init(_tree())
    bad = {**_tree(), "norm": jnp.zeros(5, jnp.float32)}
    with pytest.raises(ValueError, match=r"optx.flat: the leaf at \['norm'\] is float32\[5\]"):
        tx.update(bad, state)
    with pytest.raises(ValueError, match=r"optx.flat: the state is tuple, not a FlatState"):
        tx.update(_tree(), optx.adam(1e-2).init(_tree()))

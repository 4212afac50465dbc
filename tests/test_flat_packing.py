"""Which leaves share a buffer: ``max_packed_size`` of `optx.FlatParams.from_tree` and
`optx.flat`. Leaves above it get a buffer of their own, which is the leaf itself (its shape
and sharding), so packing gradients into it and viewing it copy nothing; results do not
depend on it."""

import _fast
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx


def _tree():
    k = jax.random.split(jax.random.key(0), 3)
    return {
        "big": jax.random.normal(k[0], (8, 5)),  # 40 elements
        "bias": jnp.full(3, 0.1),
        "small": jax.random.normal(k[1], (2, 2)),
        "wide": jax.random.normal(k[2], (33,)),
    }


def _loss(tree):
    return sum(jnp.sum(jnp.sin(x) * (i + 1.0) + x**2) for i, x in enumerate(jax.tree.leaves(tree)))


def test_leaves_above_the_limit_get_a_buffer_each_in_tree_order():
    fp = optx.FlatParams.from_tree(_tree(), max_packed_size=32)
    # leaves in tree order: bias (3), big (40, own), small (4), wide (33, own); a buffer
    # comes where its first leaf is; a leaf of its own keeps its shape
    assert [b.shape for b in fp.buffers] == [(7,), (8, 5), (33,)]
    np.testing.assert_array_equal(fp.buffers[1], _tree()["big"])
    # padded for even shards, a leaf of its own is a padded 1-D buffer
    padded = optx.FlatParams.from_tree(_tree(), max_packed_size=32, pad_to=16)
    assert [b.shape for b in padded.buffers] == [(16,), (48,), (48,)]
    chex.assert_trees_all_equal(padded.tree(), _tree())
    chex.assert_trees_all_equal(fp.tree(), _tree())
    assert [b.shape for b in optx.FlatParams.from_tree(_tree(), max_packed_size=None).buffers] == [
        (80,)
    ]
    # the default (2**14 elements) packs leaves this small together
    assert len(optx.FlatParams.from_tree(_tree()).buffers) == 1


def test_an_own_buffer_is_packed_and_viewed_without_a_copy():
    fp = optx.FlatParams.from_tree({"a": jnp.ones((8, 5)), "b": jnp.ones(33)}, max_packed_size=32)
    jaxpr = jax.make_jaxpr(jax.grad(lambda f: _loss(f.tree())))(fp)
    names = [e.primitive.name for e in jaxpr.jaxpr.eqns]
    assert "concatenate" not in names and "slice" not in names and "split" not in names

    tx = optx.flat(optx.adam(0.1), max_packed_size=32)
    params = {"a": jnp.ones((8, 5)), "b": jnp.ones(33)}
    state = tx.init(params)
    jaxpr = jax.make_jaxpr(lambda g, s: tx.update(g, s, params))(params, state)
    # no concatenation or split of leaf-sized data (small scalar vectors may be packed)
    copies = [
        e
        for e in jaxpr.jaxpr.eqns
        if e.primitive.name in ("concatenate", "split")
        and max(v.aval.size for v in (*e.invars, *e.outvars)) >= 33
    ]
    assert not copies, copies


@pytest.mark.parametrize("limit", _fast.cases([1, 4, 32, None], 2))
def test_flat_results_do_not_depend_on_the_limit(limit):
    params = _tree()
    runs = []
    for tx in (optx.flat(optx.adamw(1e-2), max_packed_size=limit), optx.adamw(1e-2)):

        @jax.jit
        def run(p, tx=tx):
            def body(carry, _):
                p, s = carry
                u, s = tx.update(jax.grad(_loss)(p), s, p)
                return (optx.apply_updates(p, u), s), None

            return jax.lax.scan(body, (p, tx.init(p)), None, length=3)[0][0]

        runs.append(run(params))
    chex.assert_trees_all_close(runs[0], runs[1], rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # four packing limits, every flat optimizer
def test_flatparams_step_does_not_depend_on_the_limit():
    tx = optx.adam(1e-2)
    out = []
    for limit in (4, None):
        fp = optx.FlatParams.from_tree(_tree(), max_packed_size=limit)
        grads = jax.grad(lambda f: _loss(f.tree()))(fp)
        updates, _ = tx.update(grads, tx.init(fp), fp)
        out.append(optx.apply_updates(fp, updates).tree())
    chex.assert_trees_all_close(out[0], out[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "16"])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match=r"optx.FlatParams.from_tree: max_packed_size must be"):
        optx.FlatParams.from_tree(_tree(), max_packed_size=bad)
    with pytest.raises(ValueError, match=r"optx.flat: max_packed_size must be"):
        optx.flat(optx.adam(0.1), max_packed_size=bad)

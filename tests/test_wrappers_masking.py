"""masked, partition (with path rules), freeze: behaviour, state allocation and errors."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx


def _flax_model(key):
    """A flax-style nested dict of layers: Dense -> LayerNorm -> Dense."""
    k = jax.random.split(key, 2)
    return {
        "params": {
            "Dense_0": {"kernel": jax.random.normal(k[0], (4, 8)), "bias": jnp.zeros(8)},
            "LayerNorm_0": {"scale": jnp.ones(8), "bias": jnp.zeros(8)},
            "Dense_1": {"kernel": jax.random.normal(k[1], (8, 3)), "bias": jnp.zeros(3)},
        }
    }


@functools.partial(jax.tree_util.register_dataclass, data_fields=["weight", "bias"], meta_fields=[])
@dataclasses.dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array


@functools.partial(jax.tree_util.register_dataclass, data_fields=["linear", "norm"], meta_fields=[])
@dataclasses.dataclass
class Block:
    linear: Linear
    norm: Linear  # an equinox-style LayerNorm: weight and bias attributes


def _equinox_model(key):
    k = jax.random.split(key, 2)
    return [
        Block(
            Linear(jax.random.normal(k[i], (3, 3)), jnp.zeros(3)), Linear(jnp.ones(3), jnp.zeros(3))
        )
        for i in range(2)
    ]


RULES = {"*bias": "no_decay", "*norm*": "no_decay", "*": "decay"}


def _grads(params, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), params)


def _run(tx, params, steps=3):
    state = tx.init(params)
    update = jax.jit(tx.update)
    for i in range(steps):
        updates, state = update(_grads(params, i), state, params)
        params = optx.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("make_model", [_flax_model, _equinox_model], ids=["flax", "equinox"])
def test_path_rules_no_decay_on_bias_and_norm_equals_masked_adamw(make_model):
    params = make_model(jax.random.key(0))
    labels = optx.path_rules(RULES)(params)
    paths = {
        optx._wrappers._masking.path_string(p): lab
        for p, lab in jax.tree_util.tree_flatten_with_path(labels)[0]
    }
    no_decay = sorted(p for p, lab in paths.items() if lab == "no_decay")
    assert all(p.endswith("bias") or "norm" in p.lower() for p in no_decay)
    assert sorted(p for p, lab in paths.items() if lab == "decay") == sorted(
        p for p in paths if not (p.endswith("bias") or "norm" in p.lower())
    )
    tx = optx.partition(
        {"decay": optx.adamw(1e-2, weight_decay=0.5), "no_decay": optx.adam(1e-2)}, RULES
    )
    mask = jax.tree.map(lambda lab: lab == "decay", labels)
    reference = optx.adamw(1e-2, weight_decay=0.5, mask=mask)
    got, _ = _run(tx, params)
    want, _ = _run(reference, params)
    chex.assert_trees_all_close(got, want, rtol=1e-6, atol=1e-7)


def test_partition_hyperparams_are_qualified_and_settable_per_group():
    params = _flax_model(jax.random.key(1))
    tx = optx.partition({"decay": optx.sgd(0.1), "no_decay": optx.sgd(0.1)}, RULES)
    state = tx.init(params)
    values = optx.get_hyperparams(state)
    assert set(values) == {"decay/learning_rate", "no_decay/learning_rate"}
    state = optx.set_hyperparams(state, {"no_decay/learning_rate": 0.0})
    updates, _ = tx.update(_grads(params, 0), state, params)
    inner = updates["params"]
    np.testing.assert_array_equal(inner["LayerNorm_0"]["scale"], 0.0)
    np.testing.assert_array_equal(inner["Dense_0"]["bias"], 0.0)
    assert np.all(np.abs(inner["Dense_0"]["kernel"]) > 0)


def test_frozen_group_allocates_no_state():
    params = {"body": {"w": jnp.ones((5, 7))}, "head": {"w": jnp.ones((2, 3))}}
    for tx in (
        optx.partition(
            {"train": optx.adam(1e-2), "frozen": optx.set_to_zero()},
            {"body": "frozen", "head": "train"},
        ),
        optx.freeze({"body": True, "head": False}, optx.adam(1e-2)),
    ):
        state = tx.init(params)
        shapes = {x.shape for x in jax.tree.leaves(state)}
        assert (5, 7) not in shapes and (2, 3) in shapes
        updates, _ = tx.update(_grads(params, 0), state, params)
        np.testing.assert_array_equal(updates["body"]["w"], 0.0)
        assert np.all(updates["head"]["w"] != 0)


def test_freeze_without_inner_zeroes_and_keeps_no_state():
    tx = optx.chain(optx.sgd(0.1), optx.freeze(optx.path_rules({"*bias": True}, False)))
    params = {"kernel": jnp.ones(2), "bias": jnp.ones(2)}
    updates, _ = tx.update(_grads(params, 0), tx.init(params), params)
    np.testing.assert_array_equal(updates["bias"], 0.0)
    np.testing.assert_allclose(updates["kernel"], -0.1 * _grads(params, 0)["kernel"], rtol=1e-6)
    assert tx.init(params)[1] == optx.EmptyState()


def test_masked_runs_inner_on_masked_leaves_only():
    params = {"a": jnp.ones(3), "b": {"c": jnp.ones(2), "d": jnp.ones(4)}}
    grads = _grads(params, 3)
    # A prefix mask: {"b": False} covers both leaves below "b".
    tx = optx.masked(optx.scale_by_adam(), {"a": True, "b": False})
    state = tx.init(params)
    assert [x.shape for x in jax.tree.leaves(state.inner_state.mu)] == [(3,)]
    updates, _ = tx.update(grads, state, params)
    chex.assert_trees_all_equal(updates["b"], grads["b"])  # passed through unchanged
    np.testing.assert_allclose(updates["a"], jnp.sign(grads["a"]), rtol=1e-4)
    # The same through a callable mask.
    tx = optx.masked(optx.scale(2.0), lambda p: jax.tree.map(lambda x: x.size > 2, p))
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["b"]["d"], 2 * grads["b"]["d"])
    chex.assert_trees_all_equal(updates["b"]["c"], grads["b"]["c"])


def test_masked_global_norm_sees_masked_leaves_only():
    params = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([100.0])}
    tx = optx.masked(optx.clip_by_global_norm(1.0), {"a": True, "b": False})
    updates, _ = tx.update(params, tx.init(params), params)
    np.testing.assert_allclose(updates["a"], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(updates["b"], [100.0])


def test_mask_and_label_errors_name_the_wrapper_and_path():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"optx\.masked: the mask tree does not match.*'x'"):
        optx.masked(optx.scale(1.0), {"w": True, "x": False}).init(params)
    with pytest.raises(ValueError, match=r"optx\.masked: the mask at 'b' is 'yes'"):
        optx.masked(optx.scale(1.0), {"w": True, "b": "yes"}).init(params)
    with pytest.raises(ValueError, match=r"optx\.partition: the parameter at 'b' has label 'z'"):
        optx.partition({"a": optx.sgd(0.1)}, {"w": "a", "b": "z"}).init(params)
    with pytest.raises(ValueError, match=r"optx\.partition: the labels tree does not match"):
        optx.partition({"a": optx.sgd(0.1)}, {"w": "a"}).init(params)
    with pytest.raises(ValueError, match=r"optx\.partition: no rule matches the parameter at 'w'"):
        optx.partition({"a": optx.sgd(0.1)}, {"*b": "a"}).init(params)
    with pytest.raises(ValueError, match=r"optx\.freeze: the mask tree does not match"):
        optx.freeze({"w": True}).init(params)
    with pytest.raises(TypeError, match=r"optx\.partition: transforms\['a'\]"):
        optx.partition({"a": optx.sgd}, {"w": "a", "b": "a"})
    tx = optx.partition({"a": optx.sgd(0.1)}, {"w": "a", "b": "a"})
    with pytest.raises(ValueError, match=r"optx\.partition: the updates tree does not match"):
        tx.update({"w": jnp.ones(2)}, tx.init(params), {"w": jnp.ones(2), "b": jnp.ones(2)})


def test_path_rules_first_match_wins_and_are_case_insensitive():
    rules = optx.path_rules({"*Norm*/bias": "norm_bias", "*bias": "bias"}, default="other")
    assert rules.label("BatchNorm_0/bias") == "norm_bias"
    assert rules.label("dense/BIAS") == "bias"
    assert rules.label("dense/kernel") == "other"
    assert rules({"x": jnp.ones(1)}) == {"x": "other"}


def test_wrappers_forward_extra_args_to_inner():
    def scale_by_extra():
        def update(updates, state, params=None, *, factor=1.0, **extra_args):
            return jax.tree.map(lambda g: g * factor, updates), state

        return optx.GradientTransformation(lambda p: optx.EmptyState(), update)

    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    for tx in (
        optx.masked(scale_by_extra(), {"w": True, "b": True}),
        optx.partition({"a": scale_by_extra()}, {"w": "a", "b": "a"}),
        optx.freeze({"w": False, "b": False}, scale_by_extra()),
    ):
        updates, _ = tx.update(params, tx.init(params), params, factor=3.0, other=1)
        np.testing.assert_allclose(updates["w"], 3.0)

"""Parameter paths through value wrappers, and ``optax.tree.map_params`` on optx mask states."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx
from optx import _paths


@jax.tree_util.register_pytree_with_keys_class
class Boxed:
    """A value wrapper like a flax Variable: one child, under the attribute ``value``."""

    def __init__(self, value, tag="param"):
        self.value, self.tag = value, tag

    def tree_flatten_with_keys(self):
        return ((jax.tree_util.GetAttrKey("value"), self.value),), self.tag

    @classmethod
    def tree_unflatten(cls, tag, children):
        return cls(children[0], tag)


@jax.tree_util.register_pytree_with_keys_class
class Layer:
    """A module with one array field (named ``value``), next to a static one: not a wrapper."""

    def __init__(self, weight, value):
        self.weight, self.value = weight, value

    def tree_flatten_with_keys(self):
        keys = jax.tree_util.GetAttrKey
        return ((keys("weight"), self.weight), (keys("value"), self.value)), None

    @classmethod
    def tree_unflatten(cls, _, children):
        return cls(*children)


class Single(NamedTuple):
    weight: jax.Array


def test_a_value_wrapper_adds_nothing_to_the_path():
    boxed = {"dense": {"bias": Boxed(jnp.zeros(2)), "kernel": Boxed(jnp.ones((2, 2)))}}
    plain = {"dense": {"bias": jnp.zeros(2), "kernel": jnp.ones((2, 2))}}
    assert _paths.leaf_path_strings(boxed) == ["dense/bias", "dense/kernel"]
    assert _paths.leaf_path_strings(boxed) == _paths.leaf_path_strings(plain)
    assert _paths.leaf_path_strings(Boxed(Boxed(jnp.ones(2)))) == [""]


def test_nodes_that_are_not_value_wrappers_keep_their_keys():
    tree = {"a": Layer(jnp.ones(2), jnp.ones(3)), "b": Single(jnp.ones(2)), "c": [jnp.ones(1)]}
    assert _paths.leaf_path_strings(tree) == ["a/weight", "a/value", "b/weight", "c/0"]


def test_rules_and_masks_label_a_wrapper_as_its_value():
    boxed = {"dense": {"bias": Boxed(jnp.zeros(2)), "kernel": Boxed(jnp.ones((2, 2)))}}
    plain = {"dense": {k: v.value for k, v in boxed["dense"].items()}}
    tx = optx.masked(optx.scale(-1.0), {"*bias": False, "*": True})
    state = tx.init(boxed)  # built from wrappers, used with the bare arrays
    updates, _ = tx.update(plain, state, plain)
    np.testing.assert_array_equal(updates["dense"]["bias"], plain["dense"]["bias"])
    np.testing.assert_array_equal(updates["dense"]["kernel"], -plain["dense"]["kernel"])
    assert jax.tree.structure(state) == jax.tree.structure(tx.init(plain))


def _params():
    return {
        "dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.full((3,), 2.0)},
        "scale": jnp.ones(1),
    }


def _optx_and_optax():
    mask = {"dense": {"kernel": True, "bias": False}, "scale": True}
    labels = {"dense": {"kernel": "a", "bias": "b"}, "scale": "b"}
    frozen = {"dense": {"kernel": False, "bias": True}, "scale": False}
    return {
        "masked": (
            optx.masked(optx.adam(1e-2), mask),
            optax.masked(optax.adam(1e-2), mask),
        ),
        "masked_rules": (
            optx.masked(optx.adam(1e-2), {"*bias": False, "*": True}),
            optax.masked(optax.adam(1e-2), mask),
        ),
        "partition": (
            optx.partition({"a": optx.adam(1e-2), "b": optx.sgd(1e-2, momentum=0.9)}, labels),
            optax.partition({"a": optax.adam(1e-2), "b": optax.sgd(1e-2, momentum=0.9)}, labels),
        ),
        "freeze": (
            optx.freeze(frozen, optx.adam(1e-2)),
            optax.chain(
                optax.masked(optax.adam(1e-2), jax.tree.map(lambda x: not x, frozen)),
                optax.masked(optax.set_to_zero(), frozen),
            ),
        ),
        "adamw_mask": (
            optx.adamw(1e-2, weight_decay=0.1, mask=mask),
            optax.adamw(1e-2, weight_decay=0.1, mask=mask),
        ),
        "adamw_mask_fn": (
            optx.adamw(
                1e-2, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
            ),
            optax.adamw(
                1e-2, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
            ),
        ),
    }


def _changed(before, after):
    """Shapes of the leaves ``map_params`` changed, checking each changed by exactly +1."""
    shapes = []
    for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
        if not np.array_equal(np.asarray(x), np.asarray(y)):
            np.testing.assert_array_equal(np.asarray(y), np.asarray(x) + 1.0)
            shapes.append(tuple(x.shape))
    return sorted(shapes)


@pytest.mark.parametrize("name", list(_optx_and_optax()))
def test_map_params_maps_the_same_leaves_as_on_the_optax_state(name):
    tx, reference = _optx_and_optax()[name]
    params = _params()
    state = tx.init(params)
    mapped = optax.tree.map_params(tx, lambda x: x + 1.0, state)
    assert jax.tree.structure(mapped) == jax.tree.structure(state)
    with jax.numpy_dtype_promotion("standard"):
        ref_state = reference.init(params)
        ref_mapped = optax.tree.map_params(reference, lambda x: x + 1.0, ref_state)
    # The moments of the owned params, and nothing else (no counter, no hyperparameter).
    assert _changed(state, mapped) == _changed(ref_state, ref_mapped) != []


@pytest.mark.parametrize("name", list(_optx_and_optax()))
def test_map_params_with_a_specs_tree_like_optax(name):
    """``is_leaf=MaskedNode`` lets a tree shaped like the params be mapped alongside."""
    tx, reference = _optx_and_optax()[name]
    params = _params()
    specs = {"dense": {"kernel": "K", "bias": "B"}, "scale": "S"}
    out = optax.tree.map_params(
        tx,
        lambda _, spec: spec,
        tx.init(params),
        specs,
        transform_non_params=lambda _: None,
        is_leaf=lambda v: isinstance(v, optx.MaskedNode),
    )
    with jax.numpy_dtype_promotion("standard"):
        ref = optax.tree.map_params(
            reference,
            lambda _, spec: spec,
            reference.init(params),
            specs,
            transform_non_params=lambda _: None,
            is_leaf=lambda v: isinstance(v, optax.MaskedNode),
        )
    strings = lambda t: sorted(x for x in jax.tree.leaves(t) if isinstance(x, str))
    assert strings(out) == strings(ref) and strings(out)

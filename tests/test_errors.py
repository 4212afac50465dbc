"""Bad input gets a clear error naming the call, the argument, the value and the fix."""

import jax
import jax.numpy as jnp
import pytest

import optx

PARAMS = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}}


def test_bad_beta_names_call_argument_and_value():
    with pytest.raises(ValueError, match=r"^optx\.adam: b1 must be in \[0, 1\), got 1\.2$"):
        optx.adam(b1=1.2)


def test_negative_learning_rate():
    with pytest.raises(ValueError, match=r"^optx\.sgd: learning_rate must be >= 0, got -1$"):
        optx.sgd(-1.0)


def test_nan_hyperparameter_is_refused():
    with pytest.raises(ValueError, match=r"optx\.rmsprop: decay must be in \[0, 1\), got nan"):
        optx.rmsprop(1e-3, decay=float("nan"))


def test_wrong_type_of_hyperparameter():
    with pytest.raises(
        TypeError, match=r"optx\.adam: b2 must be a float, a scalar array or a schedule"
    ):
        optx.adam(1e-3, b2="0.999")
    with pytest.raises(ValueError, match=r"optx\.sgd: learning_rate must be a scalar"):
        optx.sgd(jnp.ones(3))


def test_transform_needing_params_says_so():
    tx = optx.add_decayed_weights(0.1)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    with pytest.raises(
        ValueError, match=r"optx\.add_decayed_weights: update\(\) needs the current params"
    ):
        tx.update(grads, tx.init(PARAMS))


def test_mismatched_gradient_tree_names_transform_and_path():
    tx = optx.adam(1e-3)
    state = tx.init(PARAMS)
    missing = {"dense": {"w": jnp.ones((2, 3))}}
    with pytest.raises(ValueError, match=r"optx\.scale_by_adam: .*missing \['dense'\]\['b'\]"):
        tx.update(missing, state)
    reshaped = {"dense": {"w": jnp.ones((3, 2)), "b": jnp.zeros(3)}}
    with pytest.raises(
        ValueError, match=r"optx\.scale_by_adam: updates at \['dense'\]\['w'\] has shape \(3, 2\)"
    ):
        tx.update(reshaped, state)


def test_chain_rejects_a_factory_that_was_not_called():
    with pytest.raises(TypeError, match=r"optx\.chain: argument 1 is function.*optx\.adam\(1e-3\)"):
        optx.chain(optx.clip(1.0), optx.adam)


def test_nesterov_without_momentum():
    with pytest.raises(ValueError, match=r"optx\.sgd: nesterov=True needs a momentum"):
        optx.sgd(0.1, nesterov=True)


def test_mask_that_does_not_match_params():
    tx = optx.add_decayed_weights(0.1, mask={"dense": {"w": True}})
    with pytest.raises(
        ValueError, match=r"optx\.add_decayed_weights: the mask tree does not match"
    ):
        tx.init(PARAMS)


def test_state_from_another_optimizer():
    with pytest.raises(
        TypeError, match=r"optx\.adamw\.update got a tuple state of length 2, expected 3"
    ):
        optx.adamw(1e-3).update(PARAMS, optx.adam(1e-3).init(PARAMS), PARAMS)


def test_set_unknown_hyperparameter_lists_known_ones():
    state = optx.sgd(0.1).init(PARAMS)
    with pytest.raises(KeyError, match=r"no hyperparameter 'lr'; it has \['learning_rate'\]"):
        optx.set_hyperparams(state, lr=0.1)


def test_traced_hyperparameters_are_not_checked_at_construction():
    """A swept value under vmap cannot be checked eagerly; it must not raise there."""
    states = jax.vmap(lambda lr: optx.sgd(lr).init(PARAMS))(jnp.array([0.1, 0.2]))
    assert optx.get_hyperparams(states)["learning_rate"].shape == (2,)

"""The adaptive catalogue's construction-time checks and default behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

BAD = [
    (optx.adamax, {"b2": 1.0}, "b2", "1"),
    (optx.adamaxw, {"weight_decay": -0.5}, "weight_decay", "-0.5"),
    (optx.adadelta, {"rho": 1.5}, "rho", "1.5"),
    (optx.adadelta, {"eps": 0.0}, "eps", "0"),
    (optx.amsgrad, {"max_of": "torch"}, "max_of", "'torch'"),
    (optx.radam, {"threshold": 3.0}, "threshold", "3"),
    (optx.radam, {"softplus_beta": -1.0}, "softplus_beta", "-1"),
    (optx.nadam, {"schedule_decay": -0.1}, "schedule_decay", "-0.1"),
    (optx.nadamw, {"b1": -0.1}, "b1", "-0.1"),
    (optx.adabelief, {"eps": -1.0}, "eps", "-1"),
    (optx.yogi, {"initial_accumulator_value": -1.0}, "initial_accumulator_value", "-1"),
    (optx.novograd, {"b2": 2.0}, "b2", "2"),
    (optx.adafactor, {"clipping_threshold": 0.0}, "clipping_threshold", "0"),
    (optx.adafactor, {"momentum": 1.5}, "momentum", "1.5"),
    (optx.adafactor, {"decay_rate": 0.0}, "decay_rate", "0"),
    (optx.qhadam, {"nu1": 1.5}, "nu1", "1.5"),
    (optx.ftml, {"learning_rate": 0.0}, "learning_rate", "0"),
    (optx.sm3, {"momentum": 1.0}, "momentum", "1"),
    (optx.adam, {"eps_convention": "tf"}, "eps_convention", "'tf'"),
    (optx.scale_by_sm3, {"b2": 1.5}, "b2", "1.5"),
    (optx.scale_by_factored_rms, {"min_dim_size_to_factor": 0}, "min_dim_size_to_factor", "0"),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "argument", "value"), BAD, ids=lambda x: getattr(x, "__name__", "")
)
def test_bad_hyperparameter_names_call_argument_and_value(factory, kwargs, argument, value):
    with pytest.raises(ValueError) as error:
        factory(**kwargs)
    message = str(error.value)
    assert message.startswith(f"optx.{factory.__name__}: {argument} "), message
    assert value in message, message


@pytest.mark.parametrize(
    "factory",
    [optx.adamax, optx.amsgrad, optx.radam, optx.nadam, optx.adabelief, optx.yogi, optx.qhadam],
)
def test_a_non_number_is_a_type_error(factory):
    with pytest.raises(TypeError, match=f"optx.{factory.__name__}: b1"):
        factory(b1="0.9")


def test_adadelta_defaults_move_downhill():
    """learning_rate defaults to 1.0 (PyTorch, MXNet 2.0): Optax's default ascends."""
    loss = lambda w: jnp.sum((w - 3.0) ** 2)  # noqa: E731
    tx, w = optx.adadelta(), jnp.zeros(4)
    state = tx.init(w)
    for _ in range(20):
        updates, state = tx.update(jax.grad(loss)(w), state, w)
        w = optx.apply_updates(w, updates)
    assert float(loss(w)) < float(loss(jnp.zeros(4)))
    assert bool(jnp.all(w > 0))


def test_ftml_and_novograd_with_weight_decay_say_they_need_params():
    for tx in (optx.ftml(), optx.novograd(weight_decay=0.1), optx.adafactor()):
        state = tx.init(jnp.ones(3))
        with pytest.raises(ValueError, match="needs the current params"):
            tx.update(jnp.ones(3), state)


def test_novograd_without_weight_decay_needs_no_params():
    tx = optx.novograd()
    updates, _ = tx.update(jnp.ones(3), tx.init(jnp.ones(3)))
    assert updates.shape == (3,)


def test_structure_mismatch_names_the_transform():
    tx = optx.scale_by_factored_rms()
    state = tx.init({"a": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match="optx.scale_by_factored_rms"):
        tx.update({"b": jnp.ones((2, 2))}, state)


def test_scalar_and_high_rank_leaves():
    """SM3 and Adafactor accept rank-0 leaves (Optax's sm3 does not) and rank-3 leaves."""
    params = {"s": jnp.asarray(2.0), "t": jnp.ones((3, 4, 5))}
    grads = {"s": jnp.asarray(-1.0), "t": jnp.full((3, 4, 5), 0.5)}
    for tx in (optx.sm3(0.1), optx.adafactor(0.1, min_dim_size_to_factor=2)):
        updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
        assert float(updates["s"]) > 0  # descends
        assert bool(jnp.all(updates["t"] < 0))


def test_adafactor_factored_state_is_small():
    state = optx.scale_by_factored_rms(min_dim_size_to_factor=2).init(jnp.ones((3, 4, 5)))
    assert state.v_row.shape == (3, 4) and state.v_col.shape == (3, 5) and state.v.shape == ()


def test_hyperparameters_are_readable_by_their_alias_names():
    params = {"w": jnp.ones(2)}
    names = {
        "sm3": (optx.sm3(), {"momentum", "b2", "eps", "learning_rate"}),
        "adafactor": (
            optx.adafactor(0.1, momentum=0.9),
            {"decay_rate", "epsilon", "clipping_threshold", "momentum", "learning_rate"},
        ),
        "nadam": (optx.nadam(), {"b1", "b2", "eps", "eps_root", "schedule_decay", "learning_rate"}),
        "ftml": (optx.ftml(), {"learning_rate", "b1", "b2", "eps"}),
    }
    for tx, expected in names.values():
        assert set(optx.get_hyperparams(tx.init(params))) == expected


def test_scheduled_b1_drives_nadam_product():
    b1 = lambda count: 0.5 + 0.0 * count.astype(jnp.float32)  # noqa: E731
    tx = optx.nadam(1e-2, b1=b1, schedule_decay=0.004)
    state = tx.init(jnp.zeros(2))
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state)
    expected = np.prod([0.5 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 2, 3)])
    np.testing.assert_allclose(float(state[0].mu_product), expected, rtol=1e-6)

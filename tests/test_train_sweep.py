"""Ensembles and hyperparameter sweeps: one vmapped call equals N separate runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _train_problem import batches, init_params, loss_fn, max_abs_diff, take

import optx
from optx.train import (
    TrainState,
    ensemble_states,
    make_sweep_step,
    make_train_step,
    stack_states,
    sweep_states,
    unstack_states,
)

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one

STEPS = 20
DATA = batches(STEPS, seed=2)
LEARNING_RATES = [1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 1.5e-2, 2e-2, 3e-2]


@jax.jit
def _adam_run(learning_rate, init_key, rng_key, data):
    """One run on its own (no vmap): optx.adam(learning_rate), jitted once for every lr."""
    opt = optx.adam(learning_rate)
    state = TrainState.create(init_params(init_key), opt, rng=rng_key)
    return make_train_step(loss_fn, opt, steps_per_call=STEPS, jit=False)(state, data)


def test_sweep_over_8_learning_rates_equals_8_separate_runs():
    opt = optx.adam(1e-3)
    params = init_params(jax.random.key(0))
    states = sweep_states(params, opt, learning_rate=LEARNING_RATES)
    assert states.params["w1"].shape == (8, *params["w1"].shape)
    step = make_sweep_step(loss_fn, opt, steps_per_call=STEPS)
    states, metrics = step(states, DATA)
    assert metrics["loss"].shape == (8, STEPS)
    np.testing.assert_allclose(metrics["hyperparams"]["learning_rate"][:, -1], LEARNING_RATES)
    members = unstack_states(states)
    finals = []
    for i, lr in enumerate(LEARNING_RATES):
        alone, alone_metrics = _adam_run(lr, jax.random.key(0), jax.random.key(0), DATA)
        assert max_abs_diff(members[i].params, alone.params) < 1e-5
        np.testing.assert_allclose(metrics["loss"][i], alone_metrics["loss"], rtol=1e-4, atol=1e-6)
        finals.append(float(alone_metrics["loss"][-1]))
    assert len(set(finals)) == 8  # the members really differ


def test_sweep_two_hyperparameters_and_distinct_rngs():
    opt = optx.sgd(0.1, momentum=0.0)
    states = sweep_states(
        init_params(jax.random.key(0)),
        opt,
        rng=3,
        same_rng=False,
        learning_rate=[0.1, 0.05],
        momentum=[0.0, 0.9],
    )
    hp = optx.get_hyperparams(states.opt_state)
    np.testing.assert_allclose(hp["momentum"], [0.0, 0.9])
    keys = jax.random.key_data(states.rng)
    assert not np.array_equal(keys[0], keys[1])
    states, metrics = make_sweep_step(loss_fn, opt)(states, take(DATA, 0))
    np.testing.assert_allclose(metrics["hyperparams"]["learning_rate"], [0.1, 0.05])
    np.testing.assert_allclose(metrics["hyperparams"]["momentum"], [0.0, 0.9])


def test_ensemble_equals_separate_runs_with_per_member_batches():
    opt = optx.adam(1e-2)
    states = ensemble_states(init_params, opt, 3, rng=7)
    assert states.params["w2"].shape == (3, 8, 1)
    member_data = jax.tree.map(
        lambda *xs: np.stack(xs), *[batches(STEPS, seed=s) for s in (4, 5, 6)]
    )
    step = make_sweep_step(loss_fn, opt, shared_batch=False, steps_per_call=STEPS)
    states, _ = step(states, member_data)
    members = unstack_states(states)
    for i, seed in enumerate((4, 5, 6)):
        init_key, rng_key = jax.random.split(jax.random.fold_in(jax.random.key(7), i))
        alone, _ = _adam_run(1e-2, init_key, rng_key, batches(STEPS, seed=seed))
        assert max_abs_diff(members[i].params, alone.params) < 1e-5
    w1 = states.params["w1"]
    assert not np.allclose(w1[0], w1[1])  # different initial keys


def test_stack_and_unstack_round_trip():
    opt = optx.sgd(0.1)
    members = [TrainState.create(init_params(jax.random.key(s)), opt, rng=s) for s in range(3)]
    back = unstack_states(stack_states(members))
    assert len(back) == 3
    for a, b in zip(members, back):
        assert max_abs_diff(a.params, b.params) == 0.0
        assert np.array_equal(jax.random.key_data(a.rng), jax.random.key_data(b.rng))


def test_sweep_errors():
    params = {"w": jnp.zeros(2)}
    with pytest.raises(ValueError, match="same number"):
        sweep_states(params, optx.adam(1e-3), learning_rate=[1e-3, 1e-2], b1=[0.9])
    with pytest.raises(ValueError, match="name at least one hyperparameter"):
        sweep_states(params, optx.adam(1e-3))
    with pytest.raises(KeyError, match="no hyperparameter 'momentum'"):
        sweep_states(params, optx.adam(1e-3), momentum=[0.1, 0.2])
    with pytest.raises(ValueError, match="driven by a schedule"):
        sweep_states(params, optx.sgd(lambda c: 0.1), learning_rate=[0.1, 0.2])
    with pytest.raises(ValueError, match="num_members must be >= 1"):
        ensemble_states(init_params, optx.sgd(0.1), 0)
    with pytest.raises(ValueError, match="no states"):
        stack_states([])

"""Same positional arguments, same updates: optx aliases against Optax's.

Every argument is passed positionally with a non-default value, so an argument that
means something else in optx (``lars``'s second, ``nadam``'s sixth) changes the result.
"""

from __future__ import annotations

import _fast
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

MASK = {"w": True, "b": False}

# name -> positional arguments shared by optx.X and optax.X (non-default values).
POSITIONAL = {
    "adabelief": (0.05, 0.8, 0.99, 1e-12, 1e-14),
    "adadelta": (0.5, 0.8, 1e-5, 0.01, MASK),
    "adam": (0.05, 0.8, 0.99, 1e-6, 1e-9, jnp.float32),
    "adamax": (0.05, 0.8, 0.99, 1e-6),
    "adamaxw": (0.05, 0.8, 0.99, 1e-6, 0.01, MASK),
    "adamw": (0.05, 0.8, 0.99, 1e-6, 1e-9, jnp.float32, 0.01, MASK),
    "amsgrad": (0.05, 0.8, 0.99, 1e-6, 1e-9, jnp.float32),
    "fromage": (0.05, 1e-5),
    "lamb": (0.05, 0.8, 0.99, 1e-5, 1e-9, 0.01, MASK),
    "lars": (0.1, 0.01, MASK, 0.02, 1e-6, {"w": False, "b": True}, 0.8, True),
    "lion": (0.01, 0.8, 0.95, jnp.float32, 0.01, MASK),
    "nadam": (0.05, 0.8, 0.99, 1e-6, 1e-9, jnp.float32),
    "nadamw": (0.05, 0.8, 0.99, 1e-6, 1e-9, jnp.float32, 0.01, MASK),
    "radam": (0.05, 0.8, 0.99, 1e-6, 1e-9, 6.0),
    "rmsprop": (0.05, 0.8, 1e-6, 0.1, False, True, 0.5, True, True),
    "sgd": (0.05, 0.8, True, jnp.float32),
    "sign_sgd": (0.05,),
    "signum": (0.05, 0.7, jnp.float32),
}


def _problem():
    params = {"w": jnp.array([[0.5, -1.0], [2.0, 0.3]]), "b": jnp.array([0.1, -0.2])}
    key = jax.random.PRNGKey(0)
    grads = []
    for i in range(4):
        kw, kb = jax.random.split(jax.random.fold_in(key, i))
        w, b = jax.random.normal(kw, (2, 2)), jax.random.normal(kb, (2,))
        grads.append({"w": w * (i + 1), "b": b - 0.5})
    return params, grads


def _run(tx, params, grads, optax_tx=False):
    """The updates of each step; Optax relies on implicit promotion, so it leaves strict mode."""
    if optax_tx:
        with jax.numpy_dtype_promotion("standard"):
            return _run(tx, params, grads)
    state, out = tx.init(params), []
    for g in grads:
        u, state = tx.update(g, state, params)
        params = optax.apply_updates(params, u)
        out.append(u)
    return out


@pytest.mark.parametrize("name", _fast.cases(sorted(POSITIONAL)))
def test_same_positional_arguments_give_optax_updates(name):
    args = POSITIONAL[name]
    params, grads = _problem()
    got = _run(getattr(optx, name)(*args), params, grads)
    want = _run(getattr(optax, name)(*args), params, grads, optax_tx=True)
    for t, (a, b) in enumerate(zip(got, want)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=1e-7, err_msg=f"{k} step {t}")


def test_lars_second_argument_is_weight_decay():
    """optax.lars(0.1, 1e-1) decays the weights; optx used to read 1e-1 as the momentum."""
    tx = optx.lars(0.1, 0.1)
    values = optx.get_hyperparams(tx.init(_problem()[0]))
    assert float(values["weight_decay"]) == pytest.approx(0.1)
    assert float(values["momentum"]) == pytest.approx(0.9)


def test_nadam_sixth_argument_is_mu_dtype():
    params = {"w": jnp.ones(3)}
    state = optx.nadam(0.1, 0.9, 0.999, 1e-8, 0.0, jnp.bfloat16).init(params)
    assert state[0].mu["w"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"optx\.nadam\(nesterov=False, schedule_decay=0\.004\)"):
        optx.nadam(0.1, nesterov=False, schedule_decay=0.004)


def test_nadam_nesterov_false_is_adam():
    params, grads = _problem()
    got = _run(optx.nadam(0.05, nesterov=False), params, grads)
    want = _run(optax.nadam(0.05, nesterov=False), params, grads, optax_tx=True)
    for a, b in zip(got, want):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=1e-7)


@pytest.mark.slow
def test_wrappers_take_optax_arguments():
    params, grads = _problem()
    labels = {"w": "a", "b": "b"}
    cases = [
        (
            optx.partition({"a": optx.sgd(0.1), "b": optx.adam(0.1)}, param_labels=labels),
            optax.partition({"a": optax.sgd(0.1), "b": optax.adam(0.1)}, param_labels=labels),
        ),
        (
            optx.conditionally_transform(optx.scale(3.0), lambda c: c % 2 == 1, False),
            optax.conditionally_transform(optax.scale(3.0), lambda c: c % 2 == 1, False),
        ),
        (
            optx.MultiSteps(optx.adam(0.1), 2, False).gradient_transformation(),
            optax.MultiSteps(optax.adam(0.1), 2, False).gradient_transformation(),
        ),
    ]
    for ours, theirs in cases:
        for a, b in zip(_run(ours, params, grads), _run(theirs, params, grads, optax_tx=True)):
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=1e-7)


def test_conditionally_transform_forwards_extra_args_to_the_predicate():
    tx = optx.conditionally_transform(optx.scale(3.0), lambda c, loss: loss > 1.0, True)
    state = tx.init(jnp.ones(1))
    low, state = tx.update(jnp.ones(1), state, loss=0.5)
    high, state = tx.update(jnp.ones(1), state, loss=2.0)
    assert float(low[0]) == 1.0 and float(high[0]) == 3.0


def test_lookahead_reset_state_reinitializes_the_fast_optimizer():
    tx = optx.lookahead(optx.sgd(0.1, 0.9), 2, 0.5, True)
    w = jnp.ones(2)
    state = tx.init(w)
    for _ in range(2):
        u, state = tx.update(jnp.ones(2), state, w)
        w = optx.apply_updates(w, u)
    fresh = optx.sgd(0.1, 0.9).init(w)
    for a, b in zip(jax.tree.leaves(state.fast_state), jax.tree.leaves(fresh)):
        np.testing.assert_allclose(a, b)
    assert any(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(fresh))  # not all zero


def test_multisteps_refuses_what_it_cannot_do():
    with pytest.raises(TypeError, match=r"optx\.MultiSteps\(every_k_schedule="):
        optx.MultiSteps(optx.sgd(0.1), lambda step: 2)
    with pytest.raises(NotImplementedError, match="should_skip_update_fn"):
        optx.MultiSteps(optx.sgd(0.1), 2, True, optax.skip_not_finite)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_matches_optax(staircase):
    ours = optx.schedules.exponential_decay(0.5, 3, 0.7, 2, staircase, 0.2)
    theirs = optax.exponential_decay(0.5, 3, 0.7, 2, staircase, 0.2)
    counts = jnp.arange(20)
    with jax.numpy_dtype_promotion("standard"):
        want = jax.vmap(theirs)(counts)
        want_warm = optax.warmup_constant_schedule(0.1, 1.0, 5)(counts)
    np.testing.assert_allclose(jax.vmap(ours)(counts), want, rtol=1e-6)
    warm = optx.schedules.warmup_constant_schedule(0.1, 1.0, 5)
    np.testing.assert_allclose(jax.vmap(warm)(counts), want_warm, rtol=1e-6)

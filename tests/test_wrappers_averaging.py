"""ema_params / polyak_params (parameter averaging) and with_master_weights."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

RNG = np.random.default_rng(1)
GRADS = RNG.normal(size=(6, 3)).astype(np.float32)


def _sgd_trajectory(lr, steps):
    w = np.zeros(3, np.float64)
    out = []
    for g in GRADS[:steps]:
        w = w - lr * g
        out.append(w.copy())
    return out


def _run_average(tx, steps=6):
    w = jnp.zeros(3)
    state = tx.init(w)
    update = jax.jit(tx.update)
    for g in GRADS[:steps]:
        u, state = update(jnp.asarray(g), state, w)
        w = optx.apply_updates(w, u)
    return w, state


@pytest.mark.parametrize("debias", [True, False])
def test_ema_params_matches_numpy(debias):
    decay = 0.8
    _, state = _run_average(optx.chain(optx.sgd(0.1), optx.ema_params(decay, debias)))
    ws = _sgd_trajectory(0.1, 6)
    ema = np.zeros(3)  # with debias: debiased EMA from zero; without: EMA from w0 = 0
    for w in ws:
        ema = decay * ema + (1 - decay) * w
    expected = ema / (1 - decay**6) if debias else ema
    np.testing.assert_allclose(optx.averaged_params(state), expected, rtol=1e-5, atol=1e-7)


def test_ema_params_debias_is_exact_for_a_scheduled_decay():
    decays = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    schedule = lambda count: jnp.asarray(decays)[count]
    _, state = _run_average(optx.chain(optx.sgd(0.1), optx.ema_params(schedule)))
    ema, product = np.zeros(3), 1.0
    for d, w in zip(decays, _sgd_trajectory(0.1, 6)):
        ema, product = d * ema + (1 - d) * w, product * d
    np.testing.assert_allclose(optx.averaged_params(state), ema / (1 - product), rtol=1e-5)


def test_polyak_params_is_the_tail_mean():
    _, state = _run_average(optx.chain(optx.sgd(0.1), optx.polyak_params(start=2)))
    expected = np.mean(_sgd_trajectory(0.1, 6)[2:], axis=0)
    np.testing.assert_allclose(optx.averaged_params(state), expected, rtol=1e-5)


def test_averaged_params_reader():
    tx = optx.chain(optx.adam(0.1), optx.ema_params(0.9))
    params = {"w": jnp.ones(2, jnp.bfloat16)}
    state = tx.init(params)
    assert state[1].average["w"].dtype == jnp.float32  # held in float32
    assert "decay" in optx.get_hyperparams(state)
    chex.assert_trees_all_equal(  # before any update: the params themselves
        optx.averaged_params(state, like=params), params
    )
    assert optx.averaged_params(state, like=params)["w"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="optx.averaged_params: the state holds 0"):
        optx.averaged_params(optx.adam(0.1).init(params))
    with pytest.raises(ValueError, match="optx.ema_params: update.. needs the current params"):
        tx.update(params, state)


def _bf16_problem():
    target = jnp.asarray(RNG.normal(size=16), jnp.float32)
    loss = lambda w: 0.5 * jnp.sum((w.astype(jnp.float32) - target) ** 2)
    return target, jax.grad(loss)


def _train(tx, w, grad_fn, steps=200):
    def body(carry, _):
        w, state = carry
        g = grad_fn(w).astype(w.dtype)
        u, state = tx.update(g, state, w)
        return (optx.apply_updates(w, u), state), None

    (w, state), _ = jax.jit(lambda w: jax.lax.scan(body, (w, tx.init(w)), None, steps))(w)
    return w, state


def test_master_weights_follow_the_float32_trajectory():
    _, grad_fn = _bf16_problem()
    w0 = jnp.ones(16, jnp.float32)
    lr = 2e-3  # small steps that bf16 cannot add to weights near 1
    w32, _ = _train(optx.sgd(lr), w0, grad_fn)
    w16, state = _train(optx.with_master_weights(optx.sgd(lr)), w0.astype(jnp.bfloat16), grad_fn)
    assert w16.dtype == jnp.bfloat16
    master = np.asarray(optx.master_params(state))
    ref = np.asarray(w32)
    ulp = np.abs(ref) * 2.0**-8  # bf16 spacing relative to the value (8 mantissa bits)
    # Gradients are taken at the bf16 weights, so the master copy differs from float32
    # training by the bf16 rounding of the weights, and the returned params by one more.
    assert np.all(np.abs(master - ref) <= ulp)
    assert np.all(np.abs(np.asarray(w16, np.float32) - ref) <= 2 * ulp)
    # Plain bf16 training loses the small updates and stays far behind.
    plain, _ = _train(optx.sgd(lr), w0.astype(jnp.bfloat16), grad_fn)
    assert np.max(np.abs(np.asarray(plain, np.float32) - ref) / ulp) > 20


def test_master_weights_state_layout():
    params = {"half": jnp.ones(3, jnp.bfloat16), "full": jnp.ones(2, jnp.float32)}
    tx = optx.with_master_weights(optx.adam(1e-2))
    state = tx.init(params)
    assert isinstance(state.master["full"], optx.MaskedNode)  # no copy of float32 params
    assert state.master["half"].dtype == jnp.float32
    assert {x.dtype for x in jax.tree.leaves(state.inner_state[0].mu)} == {jnp.dtype("float32")}
    assert "learning_rate" in optx.get_hyperparams(state)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, state = tx.update(grads, state, params)
    assert updates["half"].dtype == jnp.bfloat16 and updates["full"].dtype == jnp.float32
    full = optx.master_params(state, like=params)
    assert full["half"].dtype == jnp.float32 and full["full"] is params["full"]
    with pytest.raises(ValueError, match="optx.with_master_weights: update.. needs"):
        tx.update(grads, state)

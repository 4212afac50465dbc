"""lookahead, ranger, conditionally_transform, keep_params_nonnegative, flatten; forwarding."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

RNG = np.random.default_rng(2)
GRADS = RNG.normal(size=(14, 3)).astype(np.float32)
W0 = np.array([0.5, -1.0, 2.0], np.float32)


def _run(tx, steps):
    w = jnp.asarray(W0)
    state = tx.init(w)
    update = jax.jit(tx.update)
    out = []
    for g in GRADS[:steps]:
        u, state = update(jnp.asarray(g), state, w)
        w = optx.apply_updates(w, u)
        out.append(np.asarray(w))
    return out, state


def _np_lookahead_momentum(lr, mu, k, alpha, steps):
    w, slow, m, out = W0.astype(np.float64), W0.astype(np.float64), np.zeros(3), []
    for t, g in enumerate(GRADS[:steps], 1):
        m = mu * m + g
        w = w - lr * m
        if t % k == 0:
            slow = slow + alpha * (w - slow)
            w = slow.copy()
        out.append(w)
    return out


def test_lookahead_matches_numpy_and_keeps_fast_state():
    tx = optx.lookahead(optx.sgd(0.1, momentum=0.9), sync_period=3, slow_step_size=0.4)
    got, state = _run(tx, 9)
    want = _np_lookahead_momentum(0.1, 0.9, 3, 0.4, 9)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.slow, want[-1], rtol=1e-5)
    assert set(optx.get_hyperparams(state)) == {"slow_step_size", "learning_rate", "momentum"}


def _np_ranger(lr, steps, mom=0.95, sqr=0.99, eps=1e-6, wd=0.01, k=6, alpha=0.5):
    """fastai's ranger written from its update rules (RAdam + decoupled wd + Lookahead)."""
    w, slow = W0.astype(np.float64), W0.astype(np.float64)
    m, v, out = np.zeros(3), np.zeros(3), []
    rho_inf = 2 / (1 - sqr) - 1
    for t, g in enumerate(GRADS[:steps].astype(np.float64), 1):
        w = w * (1 - lr * wd)
        m, v = mom * m + (1 - mom) * g, sqr * v + (1 - sqr) * g * g
        d1, d2 = 1 - mom**t, 1 - sqr**t
        rho = rho_inf - 2 * t * sqr**t / d2
        if rho > 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * r * (m / d1) / (np.sqrt(v / d2) + eps)
        else:
            w = w - lr * m / d1
        if t % k == 0:
            slow = slow + alpha * (w - slow)
            w = slow.copy()
        out.append(w)
    return out


def test_ranger_matches_fastai_rules():
    got, state = _run(optx.ranger(0.05), 14)
    np.testing.assert_allclose(np.array(got), np.array(_np_ranger(0.05, 14)), rtol=1e-5, atol=1e-6)
    values = optx.get_hyperparams(state)
    assert float(values["slow_step_size"]) == 0.5 and float(values["b1"]) == pytest.approx(0.95)


def test_lookahead_needs_params():
    tx = optx.lookahead(optx.sgd(0.1))
    with pytest.raises(ValueError, match=r"optx\.lookahead: update\(\) needs the current params"):
        tx.update(jnp.ones(3), tx.init(jnp.ones(3)))
    with pytest.raises(ValueError, match="optx.lookahead: slow_step_size must be in"):
        optx.lookahead(optx.sgd(0.1), slow_step_size=1.5)


def test_conditionally_transform_predicate_and_step_rule():
    g = jnp.ones(1)
    for tx, expected in (
        (optx.conditionally_transform(optx.scale(3.0), lambda c: c % 2 == 1), [1, 3, 1, 3, 1]),
        (optx.conditionally_transform(optx.scale(3.0), every_k=2, start=1), [1, 3, 1, 3, 1]),
        (optx.conditionally_transform(optx.scale(3.0), start=3), [1, 1, 1, 3, 3]),
    ):
        state = tx.init(g)
        got = []
        for _ in range(5):
            u, state = jax.jit(tx.update)(g, state)
            got.append(float(u[0]))
        assert got == expected
    # The inner state advances only on transformed steps.
    tx = optx.conditionally_transform(optx.trace(0.5), start=2)
    state = tx.init(g)
    for _ in range(3):
        _, state = tx.update(g, state)
    np.testing.assert_allclose(state.inner_state.trace, [1.0])
    with pytest.raises(ValueError, match="optx.conditionally_transform: give should_transform"):
        optx.conditionally_transform(optx.scale(1.0), lambda c: True, every_k=2)


def test_keep_params_nonnegative():
    tx = optx.chain(optx.sgd(1.0), optx.keep_params_nonnegative())
    w = jnp.array([0.5, 2.0, 0.0])
    u, _ = tx.update(jnp.array([1.0, 1.0, -1.0]), tx.init(w), w)
    new = optx.apply_updates(w, u)
    np.testing.assert_allclose(new, [0.0, 1.0, 1.0])


def test_flatten_equals_per_leaf_adam_and_keeps_one_vector():
    params = {"a": jnp.ones((2, 3)), "b": {"c": jnp.zeros(4), "d": jnp.full([], 2.0)}}
    grads = jax.tree.map(lambda p: jnp.asarray(RNG.normal(size=p.shape), jnp.float32), params)
    flat, per_leaf = optx.flatten(optx.adam(0.1)), optx.adam(0.1)
    s_flat, s_leaf = flat.init(params), per_leaf.init(params)
    flat_update, leaf_update = jax.jit(flat.update), jax.jit(per_leaf.update)
    for _ in range(3):
        u_flat, s_flat = flat_update(grads, s_flat, params)
        u_leaf, s_leaf = leaf_update(grads, s_leaf, params)
    chex.assert_trees_all_close(u_flat, u_leaf, rtol=1e-6)
    assert [x.shape for x in jax.tree.leaves(s_flat.inner_state[0].mu)] == [(11,)]
    mixed = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(3)}
    u, _ = flat.update(mixed, flat.init(mixed), mixed)
    assert u["a"].dtype == jnp.bfloat16 and u["b"].dtype == jnp.float32


def _scale_by_extra():
    def update(updates, state, params=None, *, factor=1.0, **extra_args):
        return jax.tree.map(lambda g: g * factor, updates), state

    return optx.GradientTransformation(lambda p: optx.EmptyState(), update)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: optx.accumulate_gradients(t, every_k=1),
        lambda t: optx.apply_if_finite(t, 1),
        lambda t: optx.lookahead(t, sync_period=5),
        lambda t: optx.conditionally_transform(t),
        lambda t: optx.flatten(t),
        lambda t: optx.with_master_weights(t),
    ],
    ids=["accumulate", "apply_if_finite", "lookahead", "conditionally", "flatten", "master"],
)
def test_wrappers_forward_extra_args_and_expose_hyperparams(wrap):
    params = jnp.ones(2, jnp.bfloat16)
    tx = wrap(_scale_by_extra())
    u, _ = tx.update(params, tx.init(params), params, factor=3.0, loss=1.0)
    np.testing.assert_allclose(np.asarray(u, np.float32), 3.0)
    state = wrap(optx.sgd(0.1, momentum=0.9)).init(params)
    assert {"learning_rate", "momentum"} <= set(optx.get_hyperparams(state))

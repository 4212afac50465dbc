"""optx transforms work where Optax's do, and Optax's chain into optx."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx


def _loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _data():
    key_x, key_w = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (64, 3))
    y = x @ jax.random.normal(key_w, (3,)) + 0.5
    return x, y


def _optax_style_loop(tx, steps=200):
    """A loop written for Optax: it only calls init, update and optax.apply_updates."""
    x, y = _data()
    params = {"w": jnp.zeros(3), "b": jnp.zeros([])}
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(_loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    return params, losses


def test_optx_optimizer_in_an_optax_loop():
    _, losses = _optax_style_loop(optx.adam(0.05))
    assert losses[-1] < 1e-3 * losses[0]


def test_optx_is_a_gradient_transformation_for_optax():
    tx = optx.sgd(0.1, 0.9)
    assert isinstance(tx, tuple) and tx._fields == optax.GradientTransformation._fields
    init, update = tx  # unpacks like Optax's NamedTuple


def test_optx_inside_optax_chain_equals_optx_chain():
    with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
        mixed = _optax_style_loop(optax.chain(optax.clip(0.5), optx.adam(0.05)), 50)
    pure = _optax_style_loop(optx.chain(optx.clip(0.5), optx.adam(0.05)), 50)
    np.testing.assert_allclose(mixed[1], pure[1], rtol=1e-6)
    assert mixed[1][-1] < 0.2 * mixed[1][0]


def test_optax_inside_optx_chain_equals_optax_chain():
    with jax.numpy_dtype_promotion("standard"):
        mixed = _optax_style_loop(optx.chain(optax.scale_by_adam(), optax.scale(-0.05)), 50)
        pure = _optax_style_loop(optax.chain(optax.scale_by_adam(), optax.scale(-0.05)), 50)
    np.testing.assert_allclose(mixed[1], pure[1], rtol=1e-6)
    assert mixed[1][-1] < 0.2 * mixed[1][0]


def test_plain_update_without_extra_args_chains():
    """A user's transform whose update takes no **extra_args still chains."""

    def init(params):
        return optx.EmptyState()

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: 2 * g, updates), state

    tx = optx.chain(optx.GradientTransformation(init, update), optx.scale(-1.0))
    out, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), None, loss=jnp.asarray(1.0))
    np.testing.assert_allclose(out, [-2.0, -2.0])


def test_optax_multisteps_wraps_optx():
    with jax.numpy_dtype_promotion("standard"):
        tx = optax.MultiSteps(optx.sgd(0.1), every_k_schedule=2)
        params = jnp.ones(2)
        state = tx.init(params)
        u1, state = tx.update(jnp.ones(2), state, params)
        u2, state = tx.update(jnp.ones(2), state, params)
    np.testing.assert_allclose(u1, [0.0, 0.0])
    np.testing.assert_allclose(u2, [-0.1, -0.1], rtol=1e-6)

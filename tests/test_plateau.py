"""reduce_on_plateau: Optax's semantics, fastai's mapping, the loss as an extra argument."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

# A loss that improves, plateaus, improves a little, plateaus again (seeded noise).
_RNG = np.random.default_rng(0)
LOSSES = np.concatenate(
    [
        np.linspace(2.0, 1.0, 10),
        np.full(15, 1.0),
        np.linspace(1.0, 0.9, 5),
        np.full(30, 0.9),
    ]
) + 1e-3 * _RNG.standard_normal(60)


def _run(tx, losses):
    """The scales applied to a gradient of ones, one update per loss, in one jitted scan."""
    params = jnp.zeros(2)

    @jax.jit
    def scan(losses):
        def body(state, loss):
            updates, state = tx.update(jnp.ones(2), state, params, value=loss)
            return state, updates[0]

        return jax.lax.scan(body, tx.init(params), losses)

    return scan(jnp.asarray(losses, jnp.float32))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(factor=0.5, patience=3),
        dict(factor=0.5, patience=2, cooldown=3, rtol=0.0, atol=1e-2),
        dict(factor=0.1, patience=1, min_scale=0.05),
        dict(factor=0.5, patience=2, accumulation_size=4, rtol=1e-3),
    ],
)
def test_equals_optax(kwargs):
    _, ours = _run(optx.reduce_on_plateau(**kwargs), LOSSES)
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes dtypes in its state update
        _, theirs = _run(optax.contrib.reduce_on_plateau(**kwargs), LOSSES)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6)
    assert float(ours[-1]) < 1.0  # the plateaus did reduce the scale


def test_fastai_mapping_divides_by_its_factor():
    # fastai ReduceLROnPlateau(patience=1, factor=10, min_delta=0): lr / 10 after one epoch
    # without improvement. Here factor multiplies, so fastai's 10 is 0.1.
    tx = optx.reduce_on_plateau(factor=0.1, patience=1, rtol=0.0, atol=0.0)
    _, scales = _run(tx, [1.0, 0.5, 0.5, 0.4, 0.6, 0.6])
    np.testing.assert_allclose(scales, [1, 1, 0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_factor_above_one_raises_with_the_fastai_hint():
    with pytest.raises(
        ValueError,
        match=r"optx\.reduce_on_plateau: factor must be in \(0, 1\], "
        r"got 10; fastai's factor=10 divides.*factor=0\.1",
    ):
        optx.reduce_on_plateau(factor=10.0)
    with pytest.raises(ValueError, match=r"optx\.reduce_on_plateau: patience must be >= 1"):
        optx.reduce_on_plateau(patience=0)
    with pytest.raises(ValueError, match=r"optx\.reduce_on_plateau: rtol must be >= 0"):
        optx.reduce_on_plateau(rtol=-1.0)


def test_value_is_required_and_loss_is_accepted():
    tx = optx.reduce_on_plateau()
    state = tx.init(jnp.zeros(2))
    with pytest.raises(
        ValueError,
        match=r"optx\.reduce_on_plateau: update\(\) needs the "
        r"monitored value.*value=loss",
    ):
        tx.update(jnp.ones(2), state)
    with pytest.raises(ValueError, match=r"value must be a scalar, got shape \(2,\)"):
        tx.update(jnp.ones(2), state, value=jnp.ones(2))
    _, by_loss = tx.update(jnp.ones(2), state, loss=jnp.asarray(3.0, jnp.bfloat16))
    assert float(by_loss.best_value) == 3.0 and by_loss.best_value.dtype == jnp.float32


def test_scale_is_a_hyperparameter_read_and_reset_without_retrace():
    tx = optx.chain(optx.adam(1e-2), optx.reduce_on_plateau(factor=0.5, patience=1))
    params = jnp.zeros(2)
    state = tx.init(params)
    assert float(optx.get_hyperparams(state)["scale"]) == 1.0
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, loss):
        return tx.update(jnp.ones(2), state, params, value=loss)

    for loss in [1.0, 1.0, 1.0]:
        _, state = step(state, loss)
    assert float(optx.get_hyperparams(state)["scale"]) == 0.25
    state = optx.set_hyperparams(state, scale=1.0)
    updates, state = step(state, 0.5)  # improves: scale stays at the reset value
    assert float(optx.get_hyperparams(state)["scale"]) == 1.0
    assert isinstance(state[1], optx.ReduceOnPlateauState)
    assert state[1].count.dtype == jnp.int32 and int(state[1].count) == 4

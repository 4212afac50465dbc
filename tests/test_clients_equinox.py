"""optx in an equinox loop: ``eqx.filter_jit``, ``eqx.filter(model, eqx.is_array)``,
``tx.update(grads, state, params)``, ``eqx.apply_updates``; equal to the plain jitted loop on
the array leaves, path rules label equinox paths (``layers/0/bias``), and the second step
does not recompile."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _compiles import count_compiles

import optx

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one

STEPS = 5
SCHEDULE = optx.schedules.warmup_cosine_decay_schedule(0.0, 3e-2, 2, 10, 1e-3)
OPTAX_SCHEDULE = optax.warmup_cosine_decay_schedule(0.0, 3e-2, 2, 10, 1e-3)


def _model():
    model = eqx.nn.MLP(3, 2, 8, depth=2, key=jax.random.key(0))
    # Nonzero biases, so that decaying them (a wrong mask) would show.
    biases = lambda m: [layer.bias for layer in m.layers]
    keys = jax.random.split(jax.random.key(1), len(model.layers))
    new = [jax.random.normal(k, b.shape, b.dtype) for k, b in zip(keys, biases(model))]
    return eqx.tree_at(biases, model, new)


def _data():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
    return x, y


def _loss(model, x, y):
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _no_bias(params):
    """Optax's mask for ``params``: True except on biases."""
    mask = jax.tree_util.tree_map_with_path(lambda p, _: p[-1].name != "bias", params)
    return lambda _: mask  # an equinox mask tree is callable, so Optax would call it


CASES = {
    "clip_adamw_mask_rules": (
        lambda: optx.chain(
            optx.clip_by_global_norm(1.0),
            optx.adamw(SCHEDULE, weight_decay=0.1, mask={"*bias": False, "*": True}),
        ),
        lambda p: optax.chain(
            optax.clip_by_global_norm(1.0),
            optax.adamw(OPTAX_SCHEDULE, weight_decay=0.1, mask=_no_bias(p)),
        ),
    ),
    "partition_rules": (
        lambda: optx.partition(
            {"decay": optx.adamw(SCHEDULE, weight_decay=0.1), "no_decay": optx.adam(SCHEDULE)},
            {"*bias": "no_decay", "*": "decay"},
        ),
        lambda p: optax.partition(
            {
                "decay": optax.adamw(OPTAX_SCHEDULE, weight_decay=0.1),
                "no_decay": optax.adam(OPTAX_SCHEDULE),
            },
            # An equinox labels tree is callable, so Optax would call it: pass a function.
            lambda _: jax.tree.map(lambda m: "decay" if m else "no_decay", _no_bias(p)(p)),
        ),
    ),
    "freeze_first_layer": (
        lambda: optx.freeze({"layers/0/*": True, "*": False}, optx.adam(1e-2)),
        lambda p: optax.partition(
            {"frozen": optax.set_to_zero(), "train": optax.adam(1e-2)},
            lambda _: jax.tree_util.tree_map_with_path(
                lambda path, _: "frozen" if path[1].idx == 0 else "train", p
            ),
        ),
    ),
}


def _equinox_run(tx, steps=STEPS):
    """The equinox idiom; returns the model, the state, the losses and the compile counts."""

    @eqx.filter_jit
    def step(model, state, x, y):
        params = eqx.filter(model, eqx.is_array)
        loss, grads = eqx.filter_value_and_grad(_loss)(model, x, y)
        updates, state = tx.update(grads, state, params)
        return eqx.apply_updates(model, updates), state, loss

    model = _model()
    state = tx.init(eqx.filter(model, eqx.is_array))
    x, y = _data()
    losses, compiles = [], []
    for _ in range(steps):
        (model, state, loss), n = count_compiles(step, model, state, x, y)
        losses.append(float(loss))
        compiles.append(n)
    return model, state, losses, compiles


@functools.cache
def _case_run(name):
    """`_equinox_run` of a case's optx transform, shared by the tests that read it (the
    model and state are immutable pytrees)."""
    return _equinox_run(CASES[name][0]())


@functools.cache
def _plain_case(name):
    """A case's optx transform and its Optax counterpart on the array leaves (jax.jit,
    optx.apply_updates), both runs scanned in one compiled call.

    Returns optx's params and state and Optax's params after STEPS steps.
    """
    make_tx, make_optax = CASES[name]
    params, static = eqx.partition(_model(), eqx.is_array)
    tx, optax_tx = make_tx(), make_optax(eqx.filter(_model(), eqx.is_array))

    def run(tx, p, x, y):
        def step(carry, _):
            p, s = carry
            g = jax.grad(lambda p: _loss(eqx.combine(p, static), x, y))(p)
            u, s = tx.update(g, s, p)
            return (optx.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, tx.init(p)), None, length=STEPS)[0]

    @jax.jit
    def both(p, x, y):
        mine = run(tx, p, x, y)
        with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
            theirs, _ = run(optax_tx, p, x, y)
        return mine, theirs

    (plain_params, plain_state), optax_params = both(params, *_data())
    return plain_params, plain_state, optax_params


def _close(a, b, tol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(CASES))
def test_filter_jit_loop_equals_the_plain_loop_and_optax(name):
    model, state, losses, _ = _case_run(name)
    params, plain_state, optax_params = _plain_case(name)
    assert losses[-1] < losses[0]
    trained = eqx.filter(model, eqx.is_array)
    _close(trained, params, 1e-6)
    _close(state, plain_state, 1e-6)
    _close(trained, optax_params, 1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_second_and_later_steps_do_not_recompile(name):
    _, _, _, compiles = _case_run(name)  # counted per step while the case's run first ran
    assert compiles[0] >= 1  # the counter sees the first compile
    assert compiles[1:] == [0] * (STEPS - 1)


def test_frozen_layer_is_bitwise_unchanged():
    model, state, _, _ = _case_run("freeze_first_layer")
    start = _model()
    np.testing.assert_array_equal(model.layers[0].weight, start.layers[0].weight)
    np.testing.assert_array_equal(model.layers[0].bias, start.layers[0].bias)
    assert not np.allclose(model.layers[1].weight, start.layers[1].weight)
    moments = jax.tree.leaves(state[0].inner_state[0].mu)  # trainable layers only
    assert sorted(m.shape for m in moments) == [(2,), (2, 8), (8,), (8, 8)]


def test_path_rules_see_equinox_paths():
    labels = optx.path_rules({"*bias": "no_decay", "*": "decay"})(
        eqx.filter(_model(), eqx.is_array)
    )
    assert [layer.bias for layer in labels.layers] == ["no_decay"] * 3
    assert [layer.weight for layer in labels.layers] == ["decay"] * 3

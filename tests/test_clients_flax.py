"""optx inside flax: ``nnx.Optimizer`` (init on ``nnx.Param`` Variables, update on arrays) and
linen's ``TrainState``; each run equals the same optx transform on the plain pytree of arrays,
and each parameter group gets what Optax gives it."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _compiles import count_compiles
from flax import linen as nn, nnx
from flax.training import train_state

import optx

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one

STEPS = 6
SCHEDULE = optx.schedules.warmup_cosine_decay_schedule(0.0, 3e-2, 2, 10, 1e-3)
OPTAX_SCHEDULE = optax.warmup_cosine_decay_schedule(0.0, 3e-2, 2, 10, 1e-3)
NO_BIAS = {"*bias": False, "*": True}


class MLP(nnx.Module):
    def __init__(self, rngs):
        biases = nnx.initializers.normal(1.0)  # nonzero, so that decaying them shows
        self.l1 = nnx.Linear(3, 8, bias_init=biases, rngs=rngs)
        self.norm = nnx.LayerNorm(8, bias_init=biases, rngs=rngs)
        self.l2 = nnx.Linear(8, 2, bias_init=biases, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.norm(self.l1(x))))


def _data():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
    return x, y


def _loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def _bias_mask(params):
    """Optax's mask for the plain params: True on kernels and norm scales."""
    return jax.tree_util.tree_map_with_path(lambda p, _: p[-1].key != "bias", params)


# name -> (optx transform, the Optax transform that gives every group its intended update)
CASES = {
    "clip_adamw_schedule": (
        lambda: optx.chain(optx.clip_by_global_norm(1.0), optx.adamw(SCHEDULE, weight_decay=0.1)),
        lambda p: optax.chain(
            optax.clip_by_global_norm(1.0), optax.adamw(OPTAX_SCHEDULE, weight_decay=0.1)
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
            jax.tree.map(lambda m: "decay" if m else "no_decay", _bias_mask(p)),
        ),
    ),
    "masked_decay": (
        lambda: optx.chain(
            optx.scale_by_adam(),
            optx.masked(optx.add_decayed_weights(0.1), NO_BIAS),
            optx.scale_by_learning_rate(SCHEDULE),
        ),
        lambda p: optax.chain(
            optax.scale_by_adam(),
            optax.masked(optax.add_decayed_weights(0.1), _bias_mask(p)),
            optax.scale_by_learning_rate(OPTAX_SCHEDULE),
        ),
    ),
    "adamw_mask_rules": (
        lambda: optx.adamw(SCHEDULE, weight_decay=0.1, mask=NO_BIAS),
        lambda p: optax.adamw(OPTAX_SCHEDULE, weight_decay=0.1, mask=_bias_mask(p)),
    ),
    "freeze_l1": (
        lambda: optx.freeze({"l1/*": True, "*": False}, optx.adam(1e-2)),
        lambda p: optax.partition(
            {"frozen": optax.set_to_zero(), "train": optax.adam(1e-2)},
            {
                k: jax.tree.map(lambda _: "frozen" if k == "l1" else "train", v)
                for k, v in p.items()
            },
        ),
    ),
    "param_groups_no_decay_rules": (
        lambda: optx.param_groups(
            optx.scale_by_adam(), 1e-2, 0.1, param_labels=optx.NO_DECAY_RULES
        ),
        # NO_DECAY_RULES: no decay on biases and on every norm parameter.
        lambda p: optax.chain(
            optax.scale_by_adam(),
            optax.add_decayed_weights(
                0.1,
                mask={
                    k: jax.tree.map(lambda m, k=k: m and k != "norm", v)
                    for k, v in _bias_mask(p).items()
                },
            ),
            optax.scale(-1e-2),
        ),
    ),
}


def _nnx_run(make_tx):
    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, make_tx(), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(_loss)(model, x, y)
        optimizer.update(model, grads)
        return loss

    x, y = _data()
    losses = [float(step(model, optimizer, x, y)) for _ in range(STEPS)]
    return model, optimizer, losses


@functools.cache
def _nnx_case(name):
    """A case's `_nnx_run` as pure arrays (trained params, optimizer state, losses), shared
    by the tests that read it."""
    model, optimizer, losses = _nnx_run(CASES[name][0])
    return nnx.to_pure_dict(nnx.state(model, nnx.Param)), nnx.as_pure(optimizer.opt_state), losses


@functools.cache
def _plain_case(name):
    """A case's optx transform and its Optax counterpart on the plain dict of arrays of the
    same model (same init, same loss), both runs in one compiled call.

    Returns the start params, optx's params and state, and Optax's params after STEPS steps.
    """
    make_tx, make_optax = CASES[name]
    graphdef, variables = nnx.split(MLP(nnx.Rngs(0)), nnx.Param)
    params = nnx.to_pure_dict(variables)
    as_variables = jax.tree.structure(variables)
    tx, optax_tx = make_tx(), make_optax(params)

    def loss(p, x, y):
        return _loss(nnx.merge(graphdef, as_variables.unflatten(jax.tree.leaves(p))), x, y)

    def run(tx, p, x, y):
        def step(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(loss)(p, x, y), s, p)
            return (optx.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, tx.init(p)), None, length=STEPS)[0]

    @jax.jit
    def both(p, x, y):
        mine = run(tx, p, x, y)
        with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
            theirs, _ = run(optax_tx, p, x, y)
        return mine, theirs

    (plain_params, plain_state), optax_params = both(params, *_data())
    return params, plain_params, plain_state, optax_params


def _close(a, b, tol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(CASES))
def test_nnx_optimizer_equals_the_plain_run_and_each_group_gets_optax_update(name):
    trained, opt_state, losses = _nnx_case(name)
    _, plain_params, plain_state, optax_params = _plain_case(name)
    assert losses[-1] < losses[0]
    _close(trained, plain_params, 1e-6)
    _close(trained, optax_params, 1e-5)
    # The state built from Variables at init is the state updated on arrays.
    nnx_state = jax.tree.leaves(opt_state)
    assert len(nnx_state) == len(jax.tree.leaves(plain_state))
    for x, y in zip(nnx_state, jax.tree.leaves(plain_state)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-6)


def test_frozen_params_are_bitwise_unchanged_and_have_no_state():
    trained, opt_state, _ = _nnx_case("freeze_l1")
    start = _plain_case("freeze_l1")[0]
    for a, b in zip(jax.tree.leaves(trained["l1"]), jax.tree.leaves(start["l1"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(trained["l2"]["kernel"], start["l2"]["kernel"])
    moments = jax.tree.leaves(opt_state[0].inner_state[0].mu)
    assert sorted(m.shape for m in moments) == [(2,), (8,), (8,), (8, 2)]


def test_param_groups_labels_nnx_variables_like_their_values():
    variables = nnx.state(MLP(nnx.Rngs(0)), nnx.Param)
    rules = optx.path_rules(optx.NO_DECAY_RULES)
    from_variables = jax.tree.leaves(rules(variables))
    assert from_variables == jax.tree.leaves(rules(nnx.to_pure_dict(variables)))
    assert from_variables == ["no_decay", "decay", "no_decay", "decay", "no_decay", "no_decay"]


def test_set_hyperparams_on_an_nnx_optimizer_state_between_jitted_steps():
    """Needs `optx.set_hyperparams` to keep flax Variable containers (the lead's change)."""
    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optx.adamw(1e-2, weight_decay=0.1), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(_loss)(model, x, y)
        optimizer.update(model, grads)
        return loss

    x, y = _data()
    step(model, optimizer, x, y)
    fresh = nnx.Optimizer(MLP(nnx.Rngs(0)), optx.adamw(1e-2, weight_decay=0.1), wrt=nnx.Param)
    rate = jnp.asarray(1e-3, jnp.float32)
    optimizer.opt_state = optx.set_hyperparams(optimizer.opt_state, learning_rate=rate)
    assert jax.tree.structure(optimizer.opt_state) == jax.tree.structure(fresh.opt_state)
    _, compiles = count_compiles(step, model, optimizer, x, y)
    assert compiles == 0
    assert float(optx.get_hyperparams(nnx.as_pure(optimizer.opt_state))["learning_rate"]) == (
        pytest.approx(1e-3)
    )


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jax.nn.relu(nn.LayerNorm()(nn.Dense(8)(x)))
        return nn.Dense(2)(x)


@pytest.mark.parametrize("name", ["clip_adamw_schedule", "partition_rules", "freeze_l1"])
def test_linen_train_state_apply_gradients_equals_the_plain_loop(name):
    make_tx = CASES[name][0]
    if name == "freeze_l1":  # linen names the first layer Dense_0, under "params"
        make_tx = lambda: optx.freeze({"*dense_0/*": True, "*": False}, optx.adam(1e-2))
    module = LinenMLP()
    x, y = _data()
    params = module.init(jax.random.key(0), x)["params"]

    def loss(p, x, y):
        return jnp.mean((module.apply({"params": p}, x) - y) ** 2)

    state = train_state.TrainState.create(apply_fn=module.apply, params=params, tx=make_tx())

    tx = make_tx()
    opt_state = tx.init(params)
    plain = params

    @jax.jit  # both loops' steps in one compiled call
    def both_steps(state, p, s, x, y):
        state = state.apply_gradients(grads=jax.grad(loss)(state.params, x, y))
        u, s = tx.update(jax.grad(loss)(p, x, y), s, p)
        return state, optx.apply_updates(p, u), s

    for _ in range(STEPS):
        state, plain, opt_state = both_steps(state, plain, opt_state, x, y)
    assert int(state.step) == STEPS
    _close(state.params, plain, 1e-6)
    _close(state.opt_state, opt_state, 1e-6)
    assert float(loss(state.params, x, y)) < float(loss(params, x, y))
    if name == "freeze_l1":
        _close(state.params["Dense_0"], params["Dense_0"], 0.0)

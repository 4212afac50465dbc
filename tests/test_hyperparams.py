"""Reading and setting hyperparameters in state; scheduled momentum against hand-rolled loops."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx
from optx import schedules as S

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}


def _grads(params, step):
    key = jax.random.fold_in(jax.random.key(3), step)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, p.shape, jnp.float32).astype(p.dtype) for k, p in zip(keys, leaves)]
    )


def test_setting_a_scheduled_hyperparameter_raises_clearly():
    tx = optx.adam(S.cosine_decay_schedule(1e-3, 100), b1=0.9)
    state = tx.init(PARAMS)
    with pytest.raises(
        ValueError,
        match=r"optx\.set_hyperparams: learning_rate is driven by a "
        r"schedule",
    ):
        optx.set_hyperparams(state, learning_rate=0.1)
    # A hyperparameter given as a float in the same optimizer is still settable.
    changed = optx.set_hyperparams(state, b1=0.5)
    assert float(optx.get_hyperparams(changed)["b1"]) == 0.5
    with pytest.raises(
        KeyError,
        match=r"optx\.set_hyperparams: the state has no "
        r"hyperparameter 'lr'.*'learning_rate'",
    ):
        optx.set_hyperparams(state, lr=0.1)


@pytest.mark.slow
def test_bf16_params_keep_float32_hyperparameters_and_stay_finite():
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    tx = optx.adam(1e-3, b2=0.999)
    state = tx.init(params)
    values = optx.get_hyperparams(state)
    assert all(v.dtype == jnp.float32 for v in values.values())
    assert float(values["b2"]) == pytest.approx(0.999, abs=1e-7)  # bf16 would round to 1.0

    @jax.jit
    def run(params, state):
        def body(carry, step):
            params, state = carry
            updates, state = tx.update(_grads(params, step), state, params)
            return (optx.apply_updates(params, updates), state), None

        return jax.lax.scan(body, (params, state), jnp.arange(300))[0]

    params, state = run(params, state)
    chex.assert_tree_all_finite(params)
    chex.assert_trees_all_equal_dtypes(
        params, jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    )
    assert optx.get_hyperparams(state)["b2"].dtype == jnp.float32

    # The contrast: Optax's injected hyperparameters take the params' dtype, b2 becomes 1.0.
    theirs = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b2=0.999)
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int32 and bf16 here
        opt_state = theirs.init(params)
        assert float(opt_state.hyperparams["b2"]) == 1.0
        p = params
        update = jax.jit(theirs.update)
        for step in range(2):
            updates, opt_state = update(_grads(p, step), opt_state, p)
            p = optax.apply_updates(p, updates)
    assert np.isnan(np.asarray(p["w"], np.float32)).all()


def test_get_and_set_through_chain_and_named_chain_without_retrace():
    tx = optx.named_chain(
        ("clip", optx.clip_by_global_norm(1.0)),
        ("body", optx.chain(optx.trace(0.9), optx.scale_by_learning_rate(0.1))),
        ("head", optx.scale_by_learning_rate(0.5, flip_sign=False)),
    )
    state = tx.init(PARAMS)
    values = optx.get_hyperparams(state)
    assert {"max_norm", "decay", "body/learning_rate", "head/learning_rate"} <= set(values)
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state):
        return tx.update(_grads(PARAMS, 0), state, PARAMS)

    base, state = step(state)
    one = optx.set_hyperparams(state, {"head/learning_rate": 0.25})
    assert float(optx.get_hyperparams(one)["body/learning_rate"]) == pytest.approx(0.1)
    assert float(optx.get_hyperparams(one)["head/learning_rate"]) == 0.25
    both = optx.set_hyperparams(state, learning_rate=0.2, decay=0.5)  # bare: every occurrence
    assert float(optx.get_hyperparams(both)["body/learning_rate"]) == pytest.approx(0.2)
    assert float(optx.get_hyperparams(both)["head/learning_rate"]) == pytest.approx(0.2)
    updates_one, _ = step(one)
    updates_both, _ = step(both)  # same compiled step, new values take effect
    assert not np.allclose(updates_one["w"], updates_both["w"])


def test_values_report_the_latest_update_of_a_schedule():
    tx = optx.chain(optx.sgd(S.linear_schedule(1.0, 0.0, 10), momentum=S.constant_schedule(0.3)))
    state = tx.init(PARAMS)
    update = jax.jit(tx.update)
    seen = []
    for i in range(3):
        _, state = update(_grads(PARAMS, i), state, PARAMS)
        seen.append(float(optx.get_hyperparams(state)["learning_rate"]))
    np.testing.assert_allclose(seen, [1.0, 0.9, 0.8], rtol=1e-6)


STEPS = 40


def _onecycle():
    return S.onecycle(STEPS, 0.05, pct_start=0.3, moms=(0.95, 0.8, 0.95))


def _optx_run(tx):
    @jax.jit
    def run(params):
        def body(carry, step):
            params, state = carry
            updates, state = tx.update(_grads(params, step), state, params)
            return (optx.apply_updates(params, updates), state), None

        return jax.lax.scan(body, (params, tx.init(params)), jnp.arange(STEPS))[0]

    return run(PARAMS)


def _all_grads():
    """The gradients of every step as float64 numpy (they depend on shapes only)."""
    stacked = jax.jit(jax.vmap(lambda t: _grads(PARAMS, t)))(jnp.arange(STEPS))
    return [
        jax.tree.map(lambda x, t=t: np.asarray(x[t], np.float64), stacked) for t in range(STEPS)
    ]


def _schedule_values(schedule):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(STEPS)), np.float64)  # one compile


@pytest.mark.slow
def test_sgd_with_onecycle_momentum_matches_hand_rolled_loop():
    oc = _onecycle()
    params, state = _optx_run(optx.sgd(oc.learning_rate, momentum=oc.momentum))
    lrs, moms = _schedule_values(oc.learning_rate), _schedule_values(oc.momentum)
    grads = _all_grads()
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), PARAMS)
    buf = jax.tree.map(np.zeros_like, p)
    for t in range(STEPS):  # fastai's SGD with mom: buf = mom * buf + g; p -= lr * buf
        g = grads[t]
        buf = jax.tree.map(lambda b, gi, m=moms[t]: m * b + gi, buf, g)
        p = jax.tree.map(lambda x, b, lr=lrs[t]: x - lr * b, p, buf)
    chex.assert_trees_all_close(params, p, rtol=1e-4, atol=1e-6)
    hp = optx.get_hyperparams(state)
    assert float(hp["momentum"]) == pytest.approx(moms[-1], rel=1e-6)


@pytest.mark.slow
def test_adam_with_onecycle_b1_matches_hand_rolled_loop():
    oc = _onecycle()
    params, state = _optx_run(optx.adam(oc.learning_rate, b1=oc.momentum, b2=0.99, eps=1e-5))
    lrs, moms = _schedule_values(oc.learning_rate), _schedule_values(oc.momentum)
    grads = _all_grads()
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), PARAMS)
    m = jax.tree.map(np.zeros_like, p)
    v = jax.tree.map(np.zeros_like, p)
    for t in range(STEPS):  # debiasing with the current b1, as fastai's Adam does
        g = grads[t]
        b1, n = moms[t], t + 1
        m = jax.tree.map(lambda mi, gi: b1 * mi + (1 - b1) * gi, m, g)
        v = jax.tree.map(lambda vi, gi: 0.99 * vi + 0.01 * gi * gi, v, g)
        p = jax.tree.map(
            lambda x, mi, vi, lr=lrs[t]: (
                x - lr * (mi / (1 - b1**n)) / (np.sqrt(vi / (1 - 0.99**n)) + 1e-5)
            ),
            p,
            m,
            v,
        )
    chex.assert_trees_all_close(params, p, rtol=1e-4, atol=1e-6)
    assert float(optx.get_hyperparams(state)["b1"]) == pytest.approx(moms[-1], rel=1e-6)


@pytest.mark.parametrize("kind", ["float", "array", "schedule"])
def test_momentum_and_b1_accept_every_kind_with_the_same_state_arrays(kind):
    value = {"float": 0.9, "array": jnp.asarray(0.9), "schedule": S.constant_schedule(0.9)}[kind]
    sgd_state = optx.sgd(0.1, momentum=value).init(PARAMS)
    adam_state = optx.adam(1e-3, b1=value).init(PARAMS)
    reference = (optx.sgd(0.1, momentum=0.9).init(PARAMS), optx.adam(1e-3, b1=0.9).init(PARAMS))

    def arrays(tree):
        flat = jax.tree_util.tree_flatten_with_path(tree)[0]
        return [(jax.tree_util.keystr(path), jnp.shape(x), jnp.result_type(x)) for path, x in flat]

    assert arrays((sgd_state, adam_state)) == arrays(reference)
    same_structure = jax.tree.structure((sgd_state, adam_state)) == jax.tree.structure(reference)
    assert same_structure == (kind == "float")  # the static ScheduledFlags differ
    assert float(optx.get_hyperparams(adam_state)["b1"]) == pytest.approx(0.9)


def test_scheduled_flags_are_static_and_kept_out_of_the_compiled_update():
    tx = optx.adam(S.linear_schedule(1e-3, 0.0, 10))
    state = tx.init(PARAMS)
    flags = [
        node.scheduled
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, optx.HyperparamsState))
        if isinstance(node, optx.HyperparamsState)
    ]
    assert [dict(f) for f in flags] == [
        {"b1": False, "b2": False, "eps": False, "eps_root": False},
        {"learning_rate": True},
    ]
    assert all(isinstance(f, optx.ScheduledFlags) and hash(f) == hash(f) for f in flags)
    assert not any(isinstance(leaf, (bool, np.bool_)) for leaf in jax.tree.leaves(state))
    assert all(jnp.result_type(leaf) != jnp.bool_ for leaf in jax.tree.leaves(state))
    with pytest.raises(KeyError):
        flags[0]["lr"]
    # Refused on the host even while tracing: no callback needed.
    with pytest.raises(ValueError, match="learning_rate is driven by a schedule"):
        jax.jit(lambda s: optx.set_hyperparams(s, learning_rate=0.1))(state)


def _complements(state):
    nodes = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, optx.HyperparamsState))
    found = {}
    for node in nodes:
        if isinstance(node, optx.HyperparamsState):
            found.update({k.removeprefix("one_minus_"): v for k, v in node.complements.items()})
    return found


def test_decay_complements_are_exact_from_the_factory_and_from_set_hyperparams():
    state = optx.adam(1e-3, b2=0.999).init(PARAMS)
    assert np.asarray(_complements(state)["b2"]) == np.float32(0.001)
    assert np.float32(1) - np.float32(0.999) != np.float32(0.001)  # why it is stored
    state = optx.set_hyperparams(state, b2=0.99)  # a Python float: double precision
    assert np.asarray(_complements(state)["b2"]) == np.float32(0.01)
    state = optx.set_hyperparams(state, b2=jnp.float32(0.99))  # an array: its own 1 - value
    assert np.asarray(_complements(state)["b2"]) == np.float32(1) - np.float32(0.99)


def test_set_hyperparams_gives_the_update_a_fresh_factory_gives():
    grads = _grads(PARAMS, 0)
    fresh = optx.adam(1e-2, b1=0.8, b2=0.99)
    expected = jax.jit(fresh.update)(grads, fresh.init(PARAMS), PARAMS)
    tx = optx.adam(1e-2)
    state = optx.set_hyperparams(tx.init(PARAMS), b1=0.8, b2=0.99)
    got = jax.jit(tx.update)(grads, state, PARAMS)
    chex.assert_trees_all_equal(got, expected)


def test_a_value_changed_outside_set_hyperparams_is_used_with_its_own_complement():
    # Code that edits state.hyperparams.values directly (as Optax-style loops do with
    # inject_hyperparams states) leaves the stored complement behind: the update must use
    # 1 - value, not the stale complement, and the state keeps what it held.
    tx = optx.adam(1e-2, b2=0.999)
    state = tx.init(PARAMS)
    inner = state[0]
    values = {**inner.hyperparams.values, "b2": jnp.float32(0.99)}
    edited = (inner._replace(hyperparams=inner.hyperparams._replace(values=values)), *state[1:])
    grads = _grads(PARAMS, 0)
    fresh = optx.adam(1e-2, b2=jnp.float32(0.99))  # an array: complement 1 - value
    expected, _ = jax.jit(fresh.update)(grads, fresh.init(PARAMS), PARAMS)
    got, new_state = jax.jit(tx.update)(grads, edited, PARAMS)
    chex.assert_trees_all_equal(got, expected)
    assert np.asarray(_complements(new_state)["b2"]) == np.float32(0.001)


def test_sweep_states_keep_exact_decay_complements():
    states = optx.train.sweep_states(PARAMS, optx.adam(1e-3), b2=[0.99, 0.999])
    np.testing.assert_array_equal(_complements(states.opt_state)["b2"], np.float32([0.01, 0.001]))


def test_scheduled_decay_complement_follows_the_schedule():
    tx = optx.ema(S.linear_schedule(0.5, 0.9, 4), debias=False)
    state = tx.init(PARAMS)
    for step in range(3):
        _, state = tx.update(_grads(PARAMS, step), state)
    decay = optx.get_hyperparams(state)["decay"]
    assert np.asarray(_complements(state)["decay"]) == np.float32(1) - np.asarray(decay)


def test_renamed_decays_keep_their_complements():
    tx = optx.sm3(0.1, momentum=0.9)  # scale_by_sm3's b1, shown as momentum
    state = optx.set_hyperparams(tx.init(PARAMS), momentum=0.99)
    assert np.asarray(_complements(state)["momentum"]) == np.float32(0.01)
    fresh = optx.sm3(0.1, momentum=0.99)
    grads = _grads(PARAMS, 0)
    got = jax.jit(tx.update)(grads, state, PARAMS)
    chex.assert_trees_all_equal(got, jax.jit(fresh.update)(grads, fresh.init(PARAMS), PARAMS))


def _counts(state):
    return [int(s.count) for s in state if hasattr(s, "count")]


def test_count_is_the_number_of_updates_applied_in_every_transform():
    grads = _grads(PARAMS, 0)
    constant = optx.sgd(0.1, momentum=0.9)
    scheduled = optx.sgd(S.linear_schedule(0.1, 0.0, 10), momentum=0.9)
    adam = optx.adam(0.1)
    states = [tx.init(PARAMS) for tx in (constant, scheduled, adam)]
    for _ in range(3):
        states = [
            tx.update(grads, s, PARAMS)[1] for tx, s in zip((constant, scheduled, adam), states)
        ]
    # Constant or scheduled, every counter says three updates were applied.
    assert _counts(states[0]) == [3, 3]
    assert _counts(states[1]) == [3, 3]
    assert _counts(states[2]) == [3, 3]
    lr = optx.get_hyperparams(states[1])["learning_rate"]
    assert float(lr) == pytest.approx(0.1 * (1 - 2 / 10))  # schedule(2) for the third update

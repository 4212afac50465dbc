"""optx.train.make_train_step: the pure jitted step, its metrics, aux/state, scan, donation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _train_problem import batches, init_params, loss_fn, max_abs_diff, take

import optx
from optx.train import TrainState, make_train_step


def _fresh_state(opt, seed=0, **kwargs):
    return TrainState.create(init_params(jax.random.key(seed)), opt, **kwargs)


def _manual(opt, data):
    """The plain loop the step must reproduce (grad, update, apply), scanned and jitted."""

    @jax.jit
    def run(params, data):
        def body(carry, batch):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, batch, None)
            updates, state = opt.update(grads, state, params)
            return (optx.apply_updates(params, updates), state), (loss, optax.tree.norm(grads))

        return jax.lax.scan(body, (params, opt.init(params)), data)

    return run(init_params(jax.random.key(0)), data)


def test_step_equals_manual_loop_and_reports_metrics():
    opt = optx.chain(optx.clip_by_global_norm(0.5), optx.adam(1e-2))
    data = batches(5)
    step = make_train_step(loss_fn, opt)
    state = _fresh_state(opt)
    losses, norms = [], []
    for i in range(5):
        state, metrics = step(state, take(data, i))
        losses.append(metrics["loss"])
        norms.append(metrics["grad_norm"])
    (params, opt_state), (expected_losses, expected_norms) = _manual(opt, data)
    chex.assert_trees_all_close(state.params, params, atol=1e-6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    np.testing.assert_allclose(norms, expected_norms, rtol=1e-5)
    assert float(norms[0]) > 0.5  # the clip was active
    assert int(state.step) == 5
    assert set(metrics) == {"loss", "grad_norm", "hyperparams", "skipped"}
    assert not bool(metrics["skipped"])
    assert metrics["grad_norm"].dtype == jnp.float32
    chex.assert_trees_all_close(metrics["hyperparams"], optx.get_hyperparams(opt_state))
    assert sorted(metrics["hyperparams"]) == [
        "b1",
        "b2",
        "eps",
        "eps_root",
        "learning_rate",
        "max_norm",
    ]


def test_hyperparams_metric_follows_set_hyperparams_without_retracing():
    opt = optx.sgd(0.1)
    traces = []

    def counted_loss(params, batch, rng):
        traces.append(1)
        return loss_fn(params, batch, rng)

    step = make_train_step(counted_loss, opt)
    state = _fresh_state(opt)
    batch = take(batches(1), 0)
    state, m1 = step(state, batch)
    state = state._replace(opt_state=optx.set_hyperparams(state.opt_state, learning_rate=0.01))
    state, m2 = step(state, batch)
    assert float(m1["hyperparams"]["learning_rate"]) == pytest.approx(0.1)
    assert float(m2["hyperparams"]["learning_rate"]) == pytest.approx(0.01)
    assert len(traces) == 1


def test_state_is_donated():
    opt = optx.adam(1e-2)
    state = _fresh_state(opt)
    new_state, _ = make_train_step(loss_fn, opt)(state, take(batches(1), 0))
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(state.params))
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(new_state.params))
    kept = _fresh_state(opt)
    make_train_step(loss_fn, opt, donate=False)(kept, take(batches(1), 0))
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(kept.params))


@pytest.mark.parametrize("flat", [False, True], ids=["per_leaf", "flat"])
@pytest.mark.parametrize("grad_norm", [False, True])
def test_the_step_copies_no_param(flat, grad_norm):
    # The metrics (loss, gradient norm) read the donated params that the update overwrites;
    # unless the step orders the write after them, XLA copies every param first.
    params = {"w": jnp.linspace(-1.0, 1.0, 4096), "b": jnp.zeros(64)}
    opt = optx.adam(1e-2)
    state = TrainState.create(params, opt, flat=flat)
    step = make_train_step(
        lambda p, t: jnp.mean((p["w"] - t) ** 2) + jnp.sum(p["b"] ** 2), opt, grad_norm=grad_norm
    )
    text = step.lower(state, jnp.zeros(())).compile().as_text()
    sizes = {str(x.size) for x in jax.tree.leaves(state.params)}
    copies = [
        line
        for line in text.splitlines()
        if " copy(" in line and any(f"[{n}]" in line for n in sizes)
    ]
    assert not copies, copies


def test_optimizer_state_holding_params_is_not_donated_twice():
    def keep_params():  # an init that stores the params themselves (like slow weights)
        return optx.GradientTransformation(
            lambda params: {"slow": params, "again": params},
            lambda updates, state, params=None, **extra: (updates, state),
        )

    opt = optx.chain(keep_params(), optx.sgd(0.1))
    state = _fresh_state(opt)
    state, metrics = make_train_step(loss_fn, opt)(state, take(batches(1), 0))
    assert int(state.step) == 1 and np.isfinite(float(metrics["loss"]))


def test_steps_per_call_scan_equals_single_steps():
    opt = optx.adam(1e-2)
    data = batches(6)
    single = make_train_step(loss_fn, opt)
    state = _fresh_state(opt)
    losses = []
    for i in range(6):
        state, metrics = single(state, take(data, i))
        losses.append(metrics["loss"])
    scanned = make_train_step(loss_fn, opt, steps_per_call=3)
    state3 = _fresh_state(opt)
    state3, m_a = scanned(state3, jax.tree.map(lambda a: a[:3], data))
    state3, m_b = scanned(state3, jax.tree.map(lambda a: a[3:], data))
    chex.assert_trees_all_close(state3.params, state.params, atol=1e-6)
    assert int(state3.step) == 6
    assert m_a["loss"].shape == (3,) and m_a["hyperparams"]["learning_rate"].shape == (3,)
    np.testing.assert_allclose(np.concatenate([m_a["loss"], m_b["loss"]]), losses, rtol=1e-6)


def test_aux_and_rng():
    opt = optx.sgd(0.1)

    def loss_with_aux(params, batch, rng):
        noise = jax.random.uniform(rng, ())
        return loss_fn(params, batch, rng), {"noise": noise, "count": jnp.int32(3)}

    step = make_train_step(loss_with_aux, opt, has_aux=True)
    state = _fresh_state(opt, rng=jax.random.key(5))
    batch = take(batches(1), 0)
    state, m0 = step(state, batch)
    state, m1 = step(state, batch)
    for i, m in enumerate((m0, m1)):
        expected = jax.random.uniform(jax.random.fold_in(jax.random.key(5), i), ())
        assert float(m["aux"]["noise"]) == pytest.approx(float(expected))
        assert int(m["aux"]["count"]) == 3
    assert float(m0["aux"]["noise"]) != float(m1["aux"]["noise"])


@pytest.mark.parametrize("has_aux", [False, True])
def test_model_state_is_threaded(has_aux):
    opt = optx.sgd(0.1)

    def loss_with_state(params, model_state, batch, rng):
        new_state = {"mean": 0.9 * model_state["mean"] + 0.1 * jnp.mean(batch["x"], axis=0)}
        loss = loss_fn(params, batch, rng)
        return (loss, (loss * 2, new_state)) if has_aux else (loss, new_state)

    step = make_train_step(loss_with_state, opt, has_aux=has_aux, has_state=True)
    state = _fresh_state(opt, model_state={"mean": jnp.zeros(3)})
    data = batches(2)
    expected = np.zeros(3, np.float32)
    for i in range(2):
        state, metrics = step(state, take(data, i))
        expected = 0.9 * expected + 0.1 * data["x"][i].mean(axis=0)
    np.testing.assert_allclose(state.model_state["mean"], expected, rtol=1e-5)
    assert ("aux" in metrics) == has_aux
    if has_aux:
        np.testing.assert_allclose(metrics["aux"], 2 * metrics["loss"], rtol=1e-6)


def test_skipped_flag_reports_non_finite_gradients():
    opt = optx.sgd(0.1)
    step = make_train_step(loss_fn, opt, donate=False)
    state = _fresh_state(opt)
    batch = take(batches(1), 0)
    bad = {"x": batch["x"], "y": batch["y"].copy()}
    bad["y"][0] = np.nan
    _, good_metrics = step(state, batch)
    _, bad_metrics = step(state, bad)
    assert not bool(good_metrics["skipped"])
    assert bool(bad_metrics["skipped"])


def test_without_grad_norm_the_update_is_the_same_and_the_metric_is_gone():
    opt = optx.chain(optx.clip_by_global_norm(0.5), optx.adam(1e-2))
    data = batches(3)
    with_norm = make_train_step(loss_fn, opt, steps_per_call=3)
    without = make_train_step(loss_fn, opt, steps_per_call=3, grad_norm=False)
    state_a, metrics_a = with_norm(_fresh_state(opt), data)
    state_b, metrics_b = without(_fresh_state(opt), data)
    chex.assert_trees_all_close(state_a.params, state_b.params, atol=0, rtol=0)
    np.testing.assert_array_equal(metrics_a["loss"], metrics_b["loss"])
    assert "grad_norm" in metrics_a and set(metrics_b) == {"loss", "hyperparams", "skipped"}
    bad = take(batches(1), 0)
    bad["y"][0] = np.nan
    _, bad_metrics = make_train_step(loss_fn, opt, grad_norm=False)(_fresh_state(opt), bad)
    assert bool(bad_metrics["skipped"])  # a non-finite loss is still reported


def test_optax_optimizer_is_accepted():
    data = batches(3)
    results = []
    for opt in (optx.sgd(0.1, 0.9), optax.sgd(0.1, 0.9)):
        step = make_train_step(loss_fn, opt)
        state = _fresh_state(opt)
        for i in range(3):
            state, _ = step(state, take(data, i))
        results.append(state.params)
    assert max_abs_diff(*results) < 1e-6


def test_unjitted_body_is_a_plain_function():
    opt = optx.sgd(0.5)
    body = make_train_step(lambda p, b, rng: jnp.sum((p - b) ** 2), opt, jit=False)
    state = TrainState.create(jnp.zeros(2), opt)
    new_state, metrics = body(state, jnp.ones(2))
    assert not state.params.is_deleted()
    np.testing.assert_allclose(new_state.params, [1.0, 1.0])
    assert int(new_state.step) == 1 and float(metrics["loss"]) == 2.0


def test_argument_errors():
    opt = optx.sgd(0.1)
    with pytest.raises(
        ValueError, match=r"optx.train.make_train_step: steps_per_call must be >= 1"
    ):
        make_train_step(loss_fn, opt, steps_per_call=0)
    with pytest.raises(TypeError, match=r"optx.train.make_train_step: optimizer .*optx.adam"):
        make_train_step(loss_fn, optx.adam)
    with pytest.raises(TypeError, match=r"loss_fn must be callable"):
        make_train_step(None, opt)


def test_reusing_a_donated_state_says_what_happened():
    params = {"w": jnp.zeros(3)}
    tx = optx.sgd(0.1)
    step = optx.train.make_train_step(lambda p, b, r: jnp.sum((p["w"] - b) ** 2), tx)
    step(optx.train.TrainState.create(params, tx), jnp.ones(3))
    with pytest.raises(ValueError, match=r"make_train_step: an input array was already donated"):
        step(optx.train.TrainState.create(params, tx), jnp.ones(3))

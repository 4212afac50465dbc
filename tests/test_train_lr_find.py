"""optx.train.lr_find and fit_one_cycle (fastai semantics)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _train_util import init_params, make_step, regression_batches

import optx
from optx import train

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one


def _xor_batches(n=256, batch=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)
    return [{"x": x[i : i + batch], "y": y[i : i + batch]} for i in range(0, n, batch)]


def _mlp_init(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (2, 32)) * 0.5, "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 2)) * 0.1, "b2": jnp.zeros(2),
    }  # fmt: skip


def _logits(p, x):
    return jnp.tanh(x @ p["w1"] + p["b1"][None]) @ p["w2"] + p["b2"][None]


def _xent(p, batch):
    logp = jax.nn.log_softmax(_logits(p, batch["x"]))
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


XOR = _xor_batches()
ADAM = optx.adam(1e-3)
XOR_STEP = make_step(ADAM, _xent, donate=True)


def _full(batches):
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_lr_find_suggests_a_rate_at_which_training_converges():
    state = train.TrainState.create(_mlp_init(jax.random.key(0)), ADAM)
    before = jax.tree.map(np.asarray, state.params)
    result = train.lr_find(state, XOR_STEP, XOR)
    # the starting state is untouched although the step donates its input
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, state.params), before)
    n = len(result.lrs)
    assert 20 < n <= 100
    np.testing.assert_allclose(result.lrs, 1e-7 * 1e8 ** (np.arange(n) / 100), rtol=1e-5)
    for lr in (result.valley, result.minimum, result.steep):
        assert result.lrs[0] < lr < result.lrs[-1]
    full = _full(XOR)
    initial = float(_xent(state.params, full))

    def train_at(lr):
        fresh = jax.tree.map(lambda x: x.copy(), state)  # the step donates its input
        loop = train.fit_one_cycle(fresh, XOR_STEP, XOR, 16, lr)
        params = loop.state.params
        accuracy = float(jnp.mean(jnp.argmax(_logits(params, full["x"]), -1) == full["y"]))
        return float(_xent(params, full)), accuracy

    loss, accuracy = train_at(result.valley)
    assert loss < 0.35 * initial and accuracy > 0.93, (loss, accuracy)
    too_high, _ = train_at(float(result.lrs[-1]) * 3)
    assert too_high > 2 * loss  # the suggestion matters: a far larger rate does worse


def test_lr_find_stops_when_the_loss_diverges():
    tx = optx.sgd(0.01)
    step = make_step(tx)
    data = regression_batches(n=128, batch=16)
    state = train.TrainState.create(init_params(), tx)
    stopped = train.lr_find(state, step, data)
    assert len(stopped.lrs) < 100
    assert stopped.losses[-1] > 4 * np.min(stopped.losses) or not np.isfinite(stopped.losses[-1])
    full = train.lr_find(state, step, data, stop_div=False)
    assert len(full.lrs) == 100
    short = train.lr_find(state, step, data, start_lr=1e-4, end_lr=1.0, num_it=20)
    np.testing.assert_allclose(short.lrs, 1e-4 * 1e4 ** (np.arange(20) / 20), rtol=1e-5)


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    losses = np.where(x < -4, 2.0, 2.0 - 0.5 * (x + 4)) + np.where(x > -1, 3.0 * (x + 1) ** 2, 0)
    result = train.LRFinderResult(lrs, losses)
    kept = slice(10, 95)  # fastai drops the first tenth and the last five points
    assert result.minimum == pytest.approx(lrs[kept][np.argmin(losses[kept])] / 10)
    assert 1e-4 <= result.steep <= 1e-1  # inside the falling stretch
    assert 1e-4 < result.valley < 1e-1 and result.valley < result.minimum * 10
    fig = result.plot()
    assert len(fig.axes[0].lines) == 4 and fig.axes[0].get_xscale() == "log"
    assert "valley=" in repr(result)
    with pytest.raises(ValueError, match="usable points"):
        train.LRFinderResult([1e-3, 1e-2], [1.0, np.nan])


def test_lr_find_errors():
    tx = optx.sgd(lambda count: 0.1)
    state = train.TrainState.create(init_params(), tx)
    data = regression_batches(n=32, batch=16)
    with pytest.raises(ValueError, match="driven by a schedule"):
        train.lr_find(state, make_step(tx), data)
    with pytest.raises(ValueError, match="0 < start_lr < end_lr"):
        train.lr_find(state, make_step(tx), data, start_lr=1.0, end_lr=0.1)
    with pytest.raises(TypeError, match="needs a len"):
        train.lr_find(state, make_step(tx), iter(data))


def test_fit_one_cycle_matches_fastai_schedules():
    tx = optx.adam(0.01)
    state = train.TrainState.create(init_params(), tx)
    data = regression_batches(n=64, batch=16)
    loop = train.fit_one_cycle(state, make_step(tx), data, 5, 0.01)
    total = 20
    reference = optax.cosine_onecycle_schedule(
        total, 0.01, pct_start=0.25, div_factor=25.0, final_div_factor=4000.0
    )
    with jax.numpy_dtype_promotion("standard"):  # optax mixes bool and float inside
        expected = [float(reference(i)) for i in range(total)]
    np.testing.assert_allclose(loop.recorder.lrs, expected, rtol=1e-5)
    mom = train.combined_cos(0.25, 0.95, 0.85, 0.95)
    np.testing.assert_allclose(loop.recorder.hps["b1"], [mom(i / total) for i in range(total)],
                               rtol=1e-6)  # fmt: skip
    assert min(loop.recorder.moms) == pytest.approx(0.85, abs=1e-3)


def test_fit_one_cycle_momentum_names_and_defaults():
    data = regression_batches(n=32, batch=16)
    tx = optx.sgd(0.02, momentum=0.9)
    loop = train.fit_one_cycle(train.TrainState.create(init_params(), tx), make_step(tx), data, 2)
    peak = 0.02 * train.combined_cos(0.25, 1 / 25, 1, 1e-5)(0.25)  # the optimizer's rate
    assert max(loop.recorder.lrs) == pytest.approx(peak)
    assert loop.recorder.moms[0] == pytest.approx(0.95)
    plain = optx.sgd(0.02)
    state = train.TrainState.create(init_params(), plain)
    with pytest.raises(ValueError, match=r"no momentum hyperparameter.*moms=None"):
        train.fit_one_cycle(state, make_step(plain), data, 1)
    loop = train.fit_one_cycle(state, make_step(plain), data, 1, moms=None)
    assert loop.recorder.moms == [] and len(loop.recorder.lrs) == 2


def test_combined_cos_phases():
    f = train.combined_cos(0.3, 1.0, 10.0, 0.0)
    assert f(0.0) == 1.0 and f(0.3) == 10.0 and f(1.0) == pytest.approx(0.0)
    assert f(0.15) == pytest.approx(5.5)  # cosine midpoint
    assert train.combined_cos(1.0, 1.0, 2.0, 3.0)(0.999) < 2.0

"""Small frictions of optx.train: loss signatures, a missing tqdm, epoch numbering."""

import functools
import io
import sys

import _fast
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _train_util import init_params, make_step, regression_batches

import optx
from optx import train

LR = 0.1
BATCH = regression_batches(n=8, batch=8)[0]


def _mse(params, batch):
    return jnp.mean((batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2)


@functools.cache
def _expected():
    """The initial loss and one plain SGD step from jax.grad, written without optx.train
    (one jitted call, computed once: the result is host NumPy)."""

    @jax.jit
    def run(params):
        loss, grads = jax.value_and_grad(_mse)(params, BATCH)
        return loss, jax.tree.map(lambda p, g: p - LR * g, params, grads)

    loss, params = run(init_params())
    return float(loss), jax.tree.map(np.asarray, params)


def _single(loss_fn, **kwargs):
    opt = optx.sgd(LR)
    step = train.make_train_step(loss_fn, opt, donate=False, **kwargs)
    state, metrics = step(train.TrainState.create(init_params(), opt), BATCH)
    return state.params, metrics


def _sweep(loss_fn, **kwargs):
    opt = optx.sgd(LR)
    states = train.sweep_states(init_params(), opt, learning_rate=[LR, LR])
    states, metrics = train.make_sweep_step(loss_fn, opt, donate=False, **kwargs)(states, BATCH)
    return jax.tree.map(lambda a: a[1], states.params), jax.tree.map(lambda a: a[1], metrics)


def _parallel(loss_fn, **kwargs):
    opt = optx.sgd(LR)
    dp = train.data_parallel(loss_fn, opt, **kwargs)
    state = dp.replicate(train.TrainState.create(init_params(), opt))
    state, metrics = dp(state, dp.shard_batch(BATCH))
    return dp.unreplicate(state).params, metrics


BUILDERS = {"make_train_step": _single, "make_sweep_step": _sweep, "data_parallel": _parallel}


@pytest.mark.parametrize("builder", _fast.cases(sorted(BUILDERS), ("make_train_step",)))
def test_loss_fn_without_rng_is_accepted_by_every_step_builder(builder):
    build = BUILDERS[builder]
    initial_loss, expected = _expected()
    for loss_fn in (_mse, lambda p, b, rng: _mse(p, b)):
        params, metrics = build(loss_fn)
        np.testing.assert_allclose(float(metrics["loss"]), initial_loss)
        for name in ("w", "b"):
            np.testing.assert_allclose(params[name], expected[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("builder", _fast.cases(sorted(BUILDERS), ("make_train_step",)))
def test_loss_fn_without_rng_with_aux_and_with_state(builder):
    build = BUILDERS[builder]
    _, expected = _expected()

    def with_aux(params, batch):
        loss = _mse(params, batch)
        return loss, {"twice": 2.0 * loss}

    params, metrics = build(with_aux, has_aux=True)
    np.testing.assert_allclose(float(metrics["aux"]["twice"]), 2.0 * float(metrics["loss"]))
    np.testing.assert_allclose(params["w"], expected["w"], rtol=1e-6, atol=1e-7)

    def with_state(params, model_state, batch):
        return _mse(params, batch), model_state

    params, _ = build(with_state, has_state=True)
    np.testing.assert_allclose(params["w"], expected["w"], rtol=1e-6, atol=1e-7)


def test_loss_fn_with_rng_still_gets_the_step_key():
    def key_as_aux(params, batch, rng):
        return _mse(params, batch), jax.random.key_data(rng)

    _, metrics = _single(key_as_aux, has_aux=True)
    state = train.TrainState.create(init_params(), optx.sgd(LR))
    expected = jax.random.key_data(jax.random.fold_in(state.rng, state.step))
    np.testing.assert_array_equal(metrics["aux"], expected)


@pytest.mark.parametrize(
    "builder", [train.make_train_step, train.make_sweep_step, train.data_parallel]
)
def test_loss_fn_of_neither_signature_is_refused_when_the_step_is_built(builder):
    call = f"optx.train.{builder.__name__}"
    opt = optx.sgd(LR)
    expected = (
        rf"{call}: loss_fn must take \(params, batch, rng\) or \(params, batch\), "
        r"got a function with signature \(params\)"
    )
    with pytest.raises(TypeError, match=expected):
        builder(lambda params: jnp.sum(params["w"]), opt)
    with pytest.raises(TypeError, match="it takes 4 arguments.*pass has_state=True"):
        builder(lambda params, model_state, batch, rng: (0.0, model_state), opt)
    with pytest.raises(TypeError, match=r"\(params, model_state, batch, rng\).*'rng'.*False"):
        builder(lambda params, batch, rng: 0.0, opt, has_state=True)


def test_progress_bar_use_tqdm_true_without_tqdm_fails_at_construction(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ModuleNotFoundError) as info:
        train.ProgressBar(use_tqdm=True)
    message = str(info.value)
    assert "optx.train.ProgressBar(use_tqdm=True): tqdm is not installed" in message
    assert "pip install 'optx-jax[progress]'" in message and "use_tqdm=False" in message
    bar = train.ProgressBar(file=io.StringIO())  # None falls back to plain text
    assert bar.use_tqdm is False
    opt = optx.sgd(0.05)
    train.fit(train.TrainState.create(init_params(), opt), make_step(opt),
              regression_batches(n=32), 1, callbacks=[bar])  # fmt: skip
    assert bar.file.getvalue().startswith("epoch 1/1  train_loss ")
    with pytest.raises(TypeError, match="use_tqdm must be True, False or None, got 'yes'"):
        train.ProgressBar(use_tqdm="yes")


def test_epochs_are_shown_one_based_and_recorded_zero_based():
    opt = optx.sgd(0.05)
    out = io.StringIO()
    stop = train.EarlyStopping("train_loss", patience=0, min_delta=1e9)  # stops in the 2nd epoch
    loop = train.fit(
        train.TrainState.create(init_params(), opt),
        make_step(opt),
        regression_batches(n=32),
        3,
        callbacks=[train.ProgressBar(use_tqdm=False, file=out), stop],
    )
    rows, lines = loop.recorder.values, out.getvalue().splitlines()
    # The stopping epoch is shown too (the bar runs before EarlyStopping cancels the fit).
    assert [r["epoch"] for r in rows] == [0, 1] == list(range(len(lines)))
    assert stop.stopped_epoch == rows[-1]["epoch"] == loop.epoch == 1
    for row, line in zip(rows, lines, strict=True):
        assert line.startswith(f"epoch {row['epoch'] + 1}/3  train_loss {row['train_loss']:.4g}")


def test_tqdm_bar_uses_the_same_one_based_numbering():
    opt = optx.sgd(0.05)
    out = io.StringIO()
    loop = train.fit(train.TrainState.create(init_params(), opt), make_step(opt),
                     regression_batches(n=32), 3,
                     callbacks=[train.ProgressBar(use_tqdm=True, file=out)])  # fmt: skip
    text = out.getvalue()
    assert [r["epoch"] for r in loop.recorder.values] == [0, 1, 2]
    for shown in (1, 2, 3):
        assert f"epoch {shown}/3:" in text  # the bar's description
        assert f"epoch {shown}/3  train_loss" in text  # the line after the epoch
    assert "epoch 0/3" not in text and "epoch 4/3" not in text

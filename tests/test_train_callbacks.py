"""Built-in callbacks: Recorder, TerminateOnNaN, ProgressBar, EarlyStopping,
ReduceLROnPlateau, Checkpoint, ParamScheduler."""

import io

import chex
import numpy as np
import pytest
from _train_util import init_params, make_eval_step, make_step, regression_batches

import optx
from optx import train

TX = optx.sgd(0.05, momentum=0.9)
STEP = make_step(TX)
EVAL = make_eval_step()
DATA = regression_batches(n=64, batch=16)  # 4 batches
VALID = regression_batches(n=16, batch=16, seed=1)


def _state(tx=TX):
    return train.TrainState.create(init_params(), tx)


def test_recorder_smooths_with_debiased_ema_and_records_hyperparams():
    loop = train.fit(_state(), STEP, DATA, 2, valid_data=VALID, eval_step=EVAL)
    rec = loop.recorder
    raw = np.asarray(rec.raw_losses)
    assert len(raw) == 8 and raw[-1] < raw[0]
    avg, expected = 0.0, []
    for i, loss in enumerate(raw, 1):
        avg = 0.98 * avg + 0.02 * loss
        expected.append(avg / (1 - 0.98**i))
    np.testing.assert_allclose(rec.losses, expected, rtol=1e-12)
    assert rec.losses[0] == pytest.approx(raw[0])  # debiased: the first value is the loss
    np.testing.assert_allclose(rec.lrs, [0.05] * 8, rtol=1e-6)
    np.testing.assert_allclose(rec.moms, [0.9] * 8, rtol=1e-6)
    assert [r["epoch"] for r in rec.values] == [0, 1]
    assert rec.values[1]["train_loss"] == rec.losses[-1]
    assert set(rec.values[1]) == {"epoch", "train_loss", "valid_loss", "mae", "time"}


def test_recorder_plots_return_figures():
    rec = train.fit(_state(), STEP, DATA, 2, valid_data=VALID, eval_step=EVAL).recorder
    fig = rec.plot_loss(skip_start=1)
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [7, 2]
    fig = rec.plot_sched()
    assert [ax.get_title() for ax in fig.axes] == list(rec.hps) == ["learning_rate", "momentum"]
    fig.savefig(io.BytesIO(), format="png")


def test_terminate_on_nan_stops_the_run():
    data = [dict(b) for b in DATA * 3]
    data[5] = {"x": data[5]["x"], "y": np.full_like(data[5]["y"], np.nan)}
    stop = train.TerminateOnNaN()
    loop = train.fit(_state(), STEP, data, 2, callbacks=[stop])
    assert stop.stopped_at == 6 and int(loop.state.step) == 6
    assert len(loop.recorder.raw_losses) == 5  # runs before the Recorder: NaN not recorded
    assert np.all(np.isfinite(loop.recorder.losses))
    loop = train.fit(_state(), STEP, data, 2)
    assert int(loop.state.step) == 24  # without it the run goes on


def test_progress_bar_plain_text_and_tqdm():
    out = io.StringIO()
    train.fit(_state(), STEP, DATA, 2, callbacks=[train.ProgressBar(use_tqdm=False, file=out)],
              valid_data=VALID, eval_step=EVAL)  # fmt: skip
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  train_loss ")
    assert "valid_loss" in lines[0] and "mae" in lines[0] and lines[0].endswith("s")
    out = io.StringIO()
    bar = train.ProgressBar(file=out)
    assert bar.use_tqdm  # tqdm is installed in the test environment
    train.fit(_state(), STEP, DATA, 1, callbacks=[bar])
    text = out.getvalue()
    assert "4/4" in text and "epoch 1/1  train_loss" in text


class Script(train.Callback):
    """Pretends the validation produced ``values[epoch]`` (runs before the trackers)."""

    order = -1

    def __init__(self, values, name="valid_loss"):
        self.values, self.metric = values, name

    def after_epoch(self):
        self.loop.valid_metrics = {self.metric: self.values[self.loop.epoch]}


def test_early_stopping_patience_and_modes():
    stop = train.EarlyStopping(patience=2)
    loop = train.fit(_state(), STEP, DATA[:1], 5, callbacks=[Script([3, 2, 2.5, 2.6, 1]), stop])
    assert stop.stopped_epoch == 3 and int(loop.state.step) == 4 and stop.best == 2
    stop = train.EarlyStopping("accuracy", min_delta=0.05)
    train.fit(_state(), STEP, DATA[:1], 5,
              callbacks=[Script([0.5, 0.6, 0.62, 0.9, 1.0], "accuracy"), stop])  # fmt: skip
    assert stop.mode == "max" and stop.stopped_epoch == 2
    stop = train.EarlyStopping()
    train.fit(_state(), STEP, DATA[:1], 4, callbacks=[Script([4, 3, 2, 1]), stop])
    assert stop.stopped_epoch is None
    with pytest.raises(KeyError, match=r"monitor 'valid_loss' is not available.*train_loss"):
        train.fit(_state(), STEP, DATA[:1], 1, callbacks=[train.EarlyStopping()])


def test_early_stopping_on_train_loss():
    stop = train.EarlyStopping("train_loss", min_delta=1e-6, patience=1)
    loop = train.fit(_state(optx.sgd(0.0)), make_step(optx.sgd(0.0)), DATA[:1], 5,
                     callbacks=[stop])  # fmt: skip
    assert stop.stopped_epoch == 1 and int(loop.state.step) == 2


def test_reduce_lr_on_plateau_divides_and_respects_min_lr():
    tx = optx.sgd(0.1)
    reduce = train.ReduceLROnPlateau(patience=1, factor=10.0, min_lr=5e-4)
    loop = train.fit(_state(tx), make_step(tx), DATA[:1], 5,
                     callbacks=[Script([3, 2, 2.5, 2.6, 2.7]), reduce])  # fmt: skip
    assert [e for e, _ in reduce.reductions] == [2, 3, 4]
    np.testing.assert_allclose([v for _, v in reduce.reductions], [0.01, 1e-3, 5e-4], rtol=1e-6)
    np.testing.assert_allclose(loop.recorder.lrs, [0.1, 0.1, 0.1, 0.01, 1e-3], rtol=1e-6)
    with pytest.raises(ValueError, match="factor=10 here"):
        train.ReduceLROnPlateau(factor=0.1)


def test_param_scheduler_sets_any_hyperparameter_each_batch():
    sched = train.ParamScheduler(
        {"learning_rate": lambda p: 0.1 * (1 - p), "momentum": lambda p: 0.5 + p / 4}
    )
    loop = train.fit(_state(), STEP, DATA, 2, callbacks=[sched])
    pos = np.arange(8) / 8
    np.testing.assert_allclose(loop.recorder.lrs, 0.1 * (1 - pos), rtol=1e-6)
    np.testing.assert_allclose(loop.recorder.moms, 0.5 + pos / 4, rtol=1e-6)
    with pytest.raises(KeyError, match="no hyperparameter"):
        train.fit(_state(), STEP, DATA, 1, callbacks=[train.ParamScheduler({"b2": lambda p: p})])
    tx = optx.sgd(lambda count: 0.1)
    with pytest.raises(ValueError, match="driven by a schedule"):
        train.fit(_state(tx), make_step(tx), DATA, 1,
                  callbacks=[train.ParamScheduler({"learning_rate": lambda p: p})])  # fmt: skip
    with pytest.raises(ValueError, match="has no len"):
        train.fit(_state(), STEP, lambda e: iter(DATA), 1,
                  callbacks=[train.ParamScheduler({"learning_rate": lambda p: p})])  # fmt: skip


def test_checkpoint_saves_every_n_steps_and_at_the_end(tmp_path):
    ckpt = train.Checkpoint(tmp_path, every_n_steps=3, every_epoch=False, max_to_keep=None)
    loop = train.fit(_state(), STEP, DATA, 2, callbacks=[ckpt])
    assert ckpt.manager.all_steps() == [3, 6, 8] and ckpt.saves == 3  # steps 3, 6, end of fit
    assert ckpt.manager.metadata(6) == {"train_iter": 6, "epoch": 1}
    restored = ckpt.manager.restore(target=loop.state)
    np.testing.assert_array_equal(restored.params["w"], loop.state.params["w"])


def test_checkpoint_with_monitor_keeps_the_best(tmp_path):
    ckpt = train.Checkpoint(tmp_path, monitor="valid_loss")

    class Params(train.Callback):
        order = 100

        def before_fit(self):
            self.by_epoch = []

        def after_epoch(self):
            self.by_epoch.append(np.asarray(self.loop.state.params["w"]))

    spy = Params()
    train.fit(_state(), STEP, DATA[:1], 4, callbacks=[Script([3, 1, 2, 5]), ckpt, spy])
    assert ckpt.saves == 2 and ckpt.manager.metadata()["epoch"] == 1
    assert ckpt.manager.best_step() == ckpt.manager.latest_step() == 2
    np.testing.assert_array_equal(ckpt.manager.restore()["params"]["w"], spy.by_epoch[1])
    with pytest.raises(ValueError, match="Use two Checkpoints"):
        train.Checkpoint(tmp_path, monitor="valid_loss", resume=True)


def test_checkpoint_resume_in_process_matches_an_uninterrupted_run(tmp_path):
    path = tmp_path / "resume"
    full = train.fit(_state(), STEP, DATA, 3)

    class Crash(train.Callback):
        order = 100

        def after_batch(self):
            if self.loop.train_iter == 6:
                raise train.CancelFitException()

    first = train.Checkpoint(path, every_n_steps=1, resume=True)
    train.fit(_state(), STEP, DATA, 3, callbacks=[first, Crash()])
    assert first.manager.metadata()["train_iter"] == 6
    log = []

    class Count(train.Callback):
        def before_epoch(self):
            log.append(("epoch", self.loop.epoch))

        def before_batch(self):
            log.append(self.loop.train_iter)

    second = train.Checkpoint(path, every_n_steps=1, resume=True)
    done = train.fit(_state(), STEP, DATA, 3, callbacks=[second, Count()])
    assert second.resumed_from == 6
    assert log == [("epoch", 1), 6, 7, ("epoch", 2), 8, 9, 10, 11]
    assert int(done.state.step) == 12
    chex.assert_trees_all_equal(
        (done.state.step, done.state.params, done.state.opt_state),
        (full.state.step, full.state.params, full.state.opt_state),
    )

"""optx.train.fit: event order, cancel exceptions, callback ordering, validation."""

import jax.numpy as jnp
import numpy as np
import pytest
from _train_util import init_params, library_step, make_eval_step, make_step, regression_batches

import optx
from optx import train

TX = optx.sgd(0.05)
STEP = make_step(TX)
EVAL = make_eval_step()
DATA = regression_batches(n=32, batch=16)  # 2 batches
VALID = regression_batches(n=16, batch=16, seed=1)  # 1 batch

TRAIN_BATCH = [
    "before_batch", "after_pred", "after_loss", "before_backward", "after_backward",
    "before_step", "after_step", "after_batch",
]  # fmt: skip
VALID_BATCH = ["before_batch", "after_pred", "after_loss", "after_batch"]


class Log(train.Callback):
    """Logs every event; raises ``exc`` at the first ``event``."""

    def __init__(self, event=None, exc=None):
        self.log, self.event, self.exc = [], event, exc


def _handler(name):
    def handle(self):
        self.log.append(name)
        if name == self.event and self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc()

    return handle


for _name in train.EVENTS:
    setattr(Log, _name, _handler(_name))


def _state():
    return train.TrainState.create(init_params(), TX)


def _expected(epochs, n_train, n_valid):
    out = ["before_fit"]
    for _ in range(epochs):
        out += ["before_epoch", "before_train", *TRAIN_BATCH * n_train, "after_train"]
        if n_valid:
            out += ["before_validate", *VALID_BATCH * n_valid, "after_validate"]
        out += ["after_epoch"]
    return out + ["after_fit"]


def test_event_order_one_epoch_written_out():
    log = Log()
    train.fit(_state(), STEP, DATA[:1], 1, callbacks=[log], valid_data=VALID, eval_step=EVAL)
    assert log.log == [
        "before_fit", "before_epoch", "before_train",
        "before_batch", "after_pred", "after_loss", "before_backward", "after_backward",
        "before_step", "after_step", "after_batch",
        "after_train", "before_validate",
        "before_batch", "after_pred", "after_loss", "after_batch",
        "after_validate", "after_epoch", "after_fit",
    ]  # fmt: skip


def test_event_order_several_epochs_and_without_validation():
    log = Log()
    loop = train.fit(_state(), STEP, DATA, 3, callbacks=[log], valid_data=VALID, eval_step=EVAL)
    assert log.log == _expected(3, 2, 1)
    assert int(loop.state.step) == 6
    log = Log()
    train.fit(_state(), STEP, DATA, 2, callbacks=[log])
    assert log.log == _expected(2, 2, 0)


CANCELS = [
    (
        "after_pred",
        train.CancelBatchException,
        ["after_cancel_batch", "after_batch", "before_batch"],
        3,
    ),
    (
        "before_step",
        train.CancelStepException,
        ["after_cancel_step", "after_step", "after_batch"],
        3,
    ),
    (
        "before_batch",
        train.CancelTrainException,
        ["after_cancel_train", "after_train", "before_validate"],
        2,
    ),
    (
        "before_validate",
        train.CancelValidException,
        ["after_cancel_validate", "after_validate", "after_epoch"],
        4,
    ),
    (
        "after_train",
        train.CancelEpochException,
        ["after_cancel_epoch", "after_epoch", "before_epoch"],
        4,
    ),
    ("after_batch", train.CancelFitException, ["after_cancel_fit", "after_fit"], 1),
]


@pytest.mark.parametrize("event,exc,then,steps", CANCELS, ids=[c[1].__name__ for c in CANCELS])
def test_cancel_runs_after_cancel_then_after(event, exc, then, steps):
    log = Log(event, exc)
    loop = train.fit(_state(), STEP, DATA, 2, callbacks=[log], valid_data=VALID, eval_step=EVAL)
    i = log.log.index(event)
    assert log.log[i + 1 : i + 1 + len(then)] == then
    cancel_events = [e for e in log.log if e.startswith("after_cancel")]
    assert cancel_events == [then[0]]
    assert int(loop.state.step) == steps
    assert log.log[-1] == "after_fit"


def test_cancel_fit_skips_everything_else():
    log = Log("after_batch", train.CancelFitException)
    train.fit(_state(), STEP, DATA, 2, callbacks=[log], valid_data=VALID, eval_step=EVAL)
    assert log.log == ["before_fit", "before_epoch", "before_train", *TRAIN_BATCH,
                       "after_cancel_fit", "after_fit"]  # fmt: skip


def test_cancel_step_keeps_old_state_and_refuses_a_donated_one():
    log = Log("before_step", train.CancelStepException)
    state = _state()
    loop = train.fit(state, STEP, DATA[:1], 1, callbacks=[log])
    np.testing.assert_array_equal(loop.state.params["w"], state.params["w"])
    with pytest.raises(RuntimeError, match="donated"):
        train.fit(_state(), make_step(TX, donate=True), DATA[:1], 1,
                  callbacks=[Log("before_step", train.CancelStepException)])  # fmt: skip


def test_loop_counters_seen_by_callbacks():
    seen = []

    class Spy(train.Callback):
        def before_batch(self):
            loop = self.loop
            seen.append((loop.training, loop.epoch, loop.iter, loop.train_iter, loop.pct_train))

        def after_batch(self):
            seen.append(("after", self.loop.train_iter))

    train.fit(_state(), STEP, DATA, 2, callbacks=[Spy()], valid_data=VALID, eval_step=EVAL)
    assert seen == [
        (True, 0, 0, 0, 0.0), ("after", 1), (True, 0, 1, 1, 0.25), ("after", 2),
        (False, 0, 0, 2, 0.25), ("after", 2),
        (True, 1, 0, 2, 0.5), ("after", 3), (True, 1, 1, 3, 0.75), ("after", 4),
        (False, 1, 0, 4, 0.75), ("after", 4),
    ]  # fmt: skip


def test_run_train_and_run_valid_filter_batch_events_only():
    class TrainOnly(Log):
        run_valid = False

    class ValidOnly(Log):
        run_train = False

    t, v = TrainOnly(), ValidOnly()
    train.fit(_state(), STEP, DATA[:1], 1, callbacks=[t, v], valid_data=VALID, eval_step=EVAL)
    assert t.log.count("before_batch") == 1 and "after_validate" in t.log
    assert v.log.count("before_batch") == 1 and "before_train" in v.log
    assert "before_step" not in v.log


def _names(cbs):
    return [cb.name for cb in train.sort_callbacks(cbs)]


def test_ordering_by_order_then_constraints():
    class A(train.Callback):
        order = 1

    class B(train.Callback):
        order = 2

    class C(train.Callback):
        order = 3
        run_before = (A,)

    class D(train.Callback):
        order = -5
        run_after = ("B",)

    assert _names([B(), A()]) == ["A", "B"]
    assert _names([A(), B(), C()]) == ["B", "C", "A"]
    assert _names([D(), C(), B(), A()]) == ["B", "D", "C", "A"]
    loop = train.fit(_state(), STEP, DATA[:1], 1, callbacks=[A(), train.TerminateOnNaN()])
    names = [cb.name for cb in loop.callbacks]
    assert names.index("TerminateOnNaN") < names.index("Recorder")


def test_ordering_errors():
    class X(train.Callback):
        run_before = ("Y",)

    class Y(train.Callback):
        run_before = (X,)

    with pytest.raises(ValueError, match=r"cycle among \['X', 'Y'\]"):
        train.sort_callbacks([X(), Y()])
    with pytest.raises(TypeError, match="Callback instances"):
        train.sort_callbacks([object()])


def test_misspelled_events_are_refused_at_class_definition():
    with pytest.raises(TypeError, match="call the method before_fit"):

        class Old(train.Callback):
            def begin_fit(self):
                pass

    with pytest.raises(TypeError, match="after_batchs is not a loop event"):

        class Typo(train.Callback):
            def after_batchs(self):
                pass


def test_validation_metrics_are_batch_size_weighted_means():
    valid = regression_batches(n=40, batch=16, seed=3)  # sizes 16, 16, 8
    loop = train.fit(_state(), STEP, DATA, 1, valid_data=valid, eval_step=EVAL)
    params = loop.state.params
    x = np.concatenate([b["x"] for b in valid])
    y = np.concatenate([b["y"] for b in valid])
    err = x @ np.asarray(params["w"]) + float(params["b"]) - y
    np.testing.assert_allclose(loop.valid_metrics["valid_loss"], np.mean(err**2), rtol=1e-5)
    np.testing.assert_allclose(loop.valid_metrics["mae"], np.mean(np.abs(err)), rtol=1e-5)
    row = loop.recorder.values[0]
    assert row["valid_loss"] == loop.valid_metrics["valid_loss"] and row["epoch"] == 0


def test_data_as_a_function_of_the_epoch():
    asked = []

    def data(epoch):
        asked.append(epoch)
        return DATA[epoch : epoch + 1]

    loop = train.fit(_state(), STEP, data, 2)
    assert asked == [0, 1] and int(loop.state.step) == 2


def test_callbacks_change_hyperparameters_without_recompiling():
    traces = []
    step = make_step(TX, traces=traces)
    rates = [0.1, 0.01, 0.001, 0.2]

    class SetLR(train.Callback):
        def before_batch(self):
            self.loop.set_hyperparams(learning_rate=rates[self.loop.train_iter])

    loop = train.fit(_state(), step, DATA, 2, callbacks=[SetLR()])
    np.testing.assert_allclose(loop.recorder.lrs, rates, rtol=1e-6)
    assert len(traces) == 1 and step._cache_size() == 1  # one trace, one compilation
    assert loop.hyperparams["learning_rate"] == pytest.approx(0.2)


def test_input_errors():
    with pytest.raises(ValueError, match="valid_data needs eval_step"):
        train.fit(_state(), STEP, DATA, 1, valid_data=VALID)
    with pytest.raises(TypeError, match="one-shot iterator"):
        train.fit(_state(), STEP, iter(DATA), 2)
    with pytest.raises(ValueError, match="epochs must be an int"):
        train.fit(_state(), STEP, DATA, -1)
    with pytest.raises(TypeError, match="metrics dict with a 'loss'"):
        train.fit(_state(), lambda s, b: (s, {"mse": 1.0}), DATA, 1)
    with pytest.raises(TypeError, match="iterable of batches"):
        train.fit(_state(), STEP, 3, 1)


def test_with_the_library_step_and_several_steps_per_call():
    tx = optx.sgd(0.05, momentum=0.9)
    state = train.TrainState.create(init_params(), tx)
    one = train.fit(state, library_step(tx), DATA * 2, 2)
    stacked = [{k: jnp.stack([a[k], b[k]]) for k in a} for a, b in zip(DATA * 2, (DATA * 2)[1:])][
        ::2
    ]
    state = train.TrainState.create(init_params(), tx)
    two = train.fit(state, library_step(tx, steps_per_call=2), stacked, 2)
    assert int(one.state.step) == int(two.state.step) == 8
    np.testing.assert_allclose(one.recorder.raw_losses, two.recorder.raw_losses, rtol=1e-5)
    np.testing.assert_allclose(one.recorder.losses, two.recorder.losses, rtol=1e-5)
    assert len(two.recorder.moms) == 8 and two.recorder.moms[0] == pytest.approx(0.9)
    np.testing.assert_allclose(one.state.params["w"], two.state.params["w"], rtol=1e-5)

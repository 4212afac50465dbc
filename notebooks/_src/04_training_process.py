# ruff: noqa: E501
# %% [markdown]
# # The training process
#
# A JAX counterpart of fastbook's chapter "The Training Process": from plain SGD to Adam,
# optimizers built from small pieces, decoupled weight decay, and the callback system of
# the training loop (resetting model state, stopping on NaN, cancelling batches), then the
# learning-rate finder and one-cycle training.
#
# The task throughout: classifying scikit-learn's 8x8 handwritten digits (shipped with the
# package) with a small MLP.

# %%
import sys
import tempfile

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from sklearn.datasets import load_digits

import optx
from optx import train

digits = load_digits()
x_all = (digits.data / 16.0).astype(np.float32)  # 1797 x 64
y_all = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(y_all))
x_train, y_train = x_all[order[360:]], y_all[order[360:]]
x_test, y_test = x_all[order[:360]], y_all[order[:360]]
BATCH = 64
STEPS = len(y_train) // BATCH  # 22 full batches per epoch


def batches(epoch, drop_last=True):
    """The epoch's shuffled batches, as a list of dicts."""
    idx = np.random.default_rng(epoch).permutation(len(y_train))
    stops = range(0, STEPS * BATCH if drop_last else len(idx), BATCH)
    return [{"x": x_train[idx[i : i + BATCH]], "y": y_train[idx[i : i + BATCH]]} for i in stops]


def stacked(epoch):
    """The same batches stacked on a leading axis, for steps_per_call=STEPS."""
    bs = batches(epoch)
    return {k: np.stack([b[k] for b in bs]) for k in ("x", "y")}


def init_params(key, hidden=64):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"w": jax.random.normal(k1, (64, hidden)) / 8.0, "b": jnp.zeros(hidden)},
        "out": {"w": jax.random.normal(k2, (hidden, 10)) / np.sqrt(hidden), "b": jnp.zeros(10)},
    }


def logits_fn(params, x):
    h = jax.nn.relu(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def loss_fn(params, batch, rng=None):
    logp = jax.nn.log_softmax(logits_fn(params, batch["x"]))
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


@jax.jit
def eval_step(state, batch):
    logits = logits_fn(state.params, batch["x"])
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["y"])
    return {"loss": loss_fn(state.params, batch), "accuracy": accuracy}


TEST = [{"x": x_test, "y": y_test}]
PARAMS0 = init_params(jax.random.key(0))


def fresh_state(tx):
    return train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), tx)


# %% [markdown]
# ## SGD, momentum, RMSProp and Adam on the same problem
#
# Same initial weights, same batches, 6 epochs each. Each epoch is one jitted call
# (`make_train_step(..., steps_per_call=STEPS)` scans over the epoch's batches).

# %%
contenders = {
    "SGD lr=0.05": optx.sgd(0.05),
    "SGD + momentum 0.9, lr=0.05": optx.sgd(0.05, momentum=0.9),
    "RMSProp lr=1e-3": optx.rmsprop(1e-3, decay=0.99, eps_in_sqrt=False),
    "Adam lr=3e-3": optx.adam(3e-3),
}
curves, accuracies = {}, {}
for name, tx in contenders.items():
    step = train.make_train_step(loss_fn, tx, steps_per_call=STEPS)
    state, losses = fresh_state(tx), []
    for epoch in range(6):
        state, metrics = step(state, stacked(epoch))
        losses.extend(np.asarray(metrics["loss"]))
    curves[name] = np.asarray(losses)
    accuracies[name] = float(eval_step(state, TEST[0])["accuracy"])
    final_loss = np.mean(losses[-STEPS:])
    print(f"{name:<30} final loss {final_loss:.4f}  test accuracy {accuracies[name]:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
for name, losses in curves.items():
    smooth = np.convolve(losses, np.ones(8) / 8, mode="valid")
    ax.plot(smooth, label=name)
ax.set(yscale="log", xlabel="step", ylabel="training loss (moving average of 8)")
ax.legend()
plt.show()

last = {name: losses[-STEPS:].mean() for name, losses in curves.items()}
assert last["SGD + momentum 0.9, lr=0.05"] < last["SGD lr=0.05"]
assert last["Adam lr=3e-3"] < last["SGD lr=0.05"]

# %% [markdown]
# ## Optimizers built from pieces
#
# fastai builds each optimizer from "optimizer callbacks": `average_grad` (momentum),
# `average_sqr_grad`, `step_stat`, then a step function, with weight decay as another
# callback. optx does the same with transforms chained together; each alias is such a
# chain.
#
# | fastai | optx |
# |---|---|
# | `average_grad(mom)` + `momentum_step` | `trace(mom)`, then `scale_by_learning_rate(lr)` |
# | `average_sqr_grad(sqr_mom)` + `rms_prop_step` | `scale_by_rms(decay=sqr_mom, eps_in_sqrt=False)` |
# | `average_grad(dampening=True)`, `average_sqr_grad`, `step_stat`, `adam_step` | `scale_by_adam(b1, b2, eps)` |
# | `weight_decay` (decoupled, the default) | `add_decayed_weights(wd)` *after* the scaling |
# | `l2_reg` | `add_decayed_weights(wd)` *before* the scaling |
#
# fastai's defaults: `Adam(lr, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01)`,
# `RMSProp(lr, sqr_mom=0.99, eps=1e-8)`.

# %%
lr = 1e-3
from_pieces = {
    "momentum": (
        optx.chain(optx.trace(0.9), optx.scale_by_learning_rate(lr)),
        optx.sgd(lr, momentum=0.9),
    ),
    "rmsprop": (
        optx.chain(
            optx.scale_by_rms(0.99, eps=1e-8, eps_in_sqrt=False), optx.scale_by_learning_rate(lr)
        ),
        optx.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    ),
    "fastai Adam": (
        optx.chain(
            optx.scale_by_adam(b1=0.9, b2=0.99, eps=1e-5),
            optx.add_decayed_weights(0.01),
            optx.scale_by_learning_rate(lr),
        ),
        optx.adamw(lr, b2=0.99, eps=1e-5, weight_decay=0.01),
    ),
}
grad_fn = jax.jit(jax.grad(loss_fn))
grads = [grad_fn(PARAMS0, b) for b in batches(0)[:5]]
for name, (pieces, alias) in from_pieces.items():
    results = []
    for tx in (pieces, alias):
        params, state, update = PARAMS0, tx.init(PARAMS0), jax.jit(tx.update)
        for g in grads:  # the same 5 gradients for both
            u, state = update(g, state, params)
            params = optx.apply_updates(params, u)
        results.append(params)
    jax.tree.map(np.testing.assert_array_equal, *results)
    print(f"{name}: the chain of pieces equals the alias after {len(grads)} steps")


# %% [markdown]
# ## Decoupled weight decay versus L2 regularization
#
# L2 regularization adds `wd * w` to the gradient; decoupled weight decay subtracts
# `lr * wd * w` from the weights after the optimizer's step. For plain SGD the two are the
# same thing. With Adam they are not: the L2 term goes through Adam's normalization, so a
# weight whose loss gradient is zero is pulled to 0 at the full rate `lr` per step
# (`m_hat / sqrt(v_hat)` is about `sign(w)`), whatever `wd` is. Decoupled decay
# (`adamw`) shrinks it by the factor `1 - lr * wd` per step, as intended (the same curve as
# SGD's, which it hides in the plot).

# %%
lr, wd = 0.01, 0.1
l2_sgd = optx.chain(optx.add_decayed_weights(wd), optx.scale_by_learning_rate(lr))
decoupled_sgd = optx.chain(
    optx.identity(), optx.add_decayed_weights(wd), optx.scale_by_learning_rate(lr)
)
l2_adam = optx.chain(
    optx.add_decayed_weights(wd), optx.scale_by_adam(), optx.scale_by_learning_rate(lr)
)
adamw = optx.adamw(lr, weight_decay=wd)


def weight_path(tx, steps=300):
    """A weight starting at 1 whose loss gradient is always 0 (the steps in one lax.scan)."""

    def step(carry, _):
        w, state = carry
        u, state = tx.update(jnp.zeros(1), state, w)
        w = optx.apply_updates(w, u)
        return (w, state), w[0]

    w = jnp.ones(1)
    _, path = jax.jit(lambda w: jax.lax.scan(step, (w, tx.init(w)), length=steps))(w)
    return np.concatenate([[1.0], np.asarray(path)])


paths = {
    "SGD + L2": weight_path(l2_sgd),
    "SGD, decoupled": weight_path(decoupled_sgd),
    "Adam + L2": weight_path(l2_adam),
    "AdamW (decoupled)": weight_path(adamw),
}
np.testing.assert_allclose(paths["SGD + L2"], paths["SGD, decoupled"], rtol=1e-6)
np.testing.assert_allclose(paths["AdamW (decoupled)"], (1 - lr * wd) ** np.arange(301), rtol=1e-4)
assert abs(paths["Adam + L2"][1] - (1 - lr)) < 1e-5  # the first step is the full rate
assert paths["Adam + L2"][50] < 0.6 < paths["AdamW (decoupled)"][50]

fig, ax = plt.subplots(figsize=(6, 3.2))
for name, path in paths.items():
    ax.plot(path, ls="--" if "SGD, dec" in name else "-", label=name)
ax.set(xlabel="step", ylabel="weight", title=f"a weight with zero gradient, lr={lr}, wd={wd}")
ax.legend()
plt.show()

# %% [markdown]
# ## The training loop and its callbacks
#
# `optx.train.fit(state, step, data, epochs, callbacks=...)` runs a host loop around the
# jitted step and fires fastai's events (`before_fit`, `before_epoch`, `before_batch`,
# `after_loss`, `after_step`, `after_batch`, `before_validate`, ...). Callbacks read and
# change `self.loop` (`loop.state`, `loop.loss`, `loop.epoch`, `loop.set_hyperparams`) and
# can raise the cancel exceptions. A `Recorder` is always there; `ProgressBar` prints.

# %%
print(train.EVENTS)
adam = optx.adam(3e-3)
adam_train_step = train.make_train_step(loss_fn, adam)  # reused below: compiled once
loop = train.fit(
    fresh_state(adam),
    adam_train_step,
    batches,
    3,
    valid_data=TEST,
    eval_step=eval_step,
    callbacks=[train.ProgressBar(use_tqdm=False, file=sys.stdout)],
)
print(loop.recorder.values[-1])
assert loop.recorder.values[-1]["accuracy"] > 0.9
display(loop.recorder.plot_loss(skip_start=0))  # a matplotlib Figure

# %% [markdown]
# ### Resetting model state
#
# fastai's `ModelResetter` resets a recurrent model's hidden state before training,
# before validation and after the fit. In optx the hidden state lives in
# `TrainState.model_state`, carried from batch to batch by a step made with
# `has_state=True`; a reset is a callback that writes zeros there.
#
# The model: a small RNN reading, stream after stream, the digits of the numbers 1, 2,
# 3, ... written one after another, predicting the next digit. Each batch continues the
# previous batch's streams, so the hidden state is carried over (truncated
# backpropagation through time), and must be reset when a pass over the data starts again.

# %%
text = np.array([int(c) for c in "".join(str(i) for i in range(1, 2000))], np.int32)
STREAMS, SEQ, HID = 16, 12, 32
per_stream = len(text) // STREAMS
streams = text[: STREAMS * per_stream].reshape(STREAMS, per_stream)
rnn_batches = [
    {"x": streams[:, i : i + SEQ], "y": streams[:, i + 1 : i + SEQ + 1]}
    for i in range(0, per_stream - SEQ - 1, SEQ)
]
k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
rnn_params = {
    "embed": jax.random.normal(k1, (10, HID)) * 0.3,
    "rec": jax.random.normal(k2, (HID, HID)) / np.sqrt(HID),
    "out": jax.random.normal(k3, (HID, 10)) / np.sqrt(HID),
}


def rnn_loss(params, h0, batch, rng):
    def cell(h, x_t):
        h = jnp.tanh(params["embed"][x_t] + h @ params["rec"])
        return h, h @ params["out"]

    h, logits = jax.lax.scan(cell, h0, batch["x"].T)  # time-major scan
    logp = jax.nn.log_softmax(logits)
    loss = -jnp.mean(jnp.take_along_axis(logp, batch["y"].T[..., None], axis=-1))
    return loss, jax.lax.stop_gradient(h)  # the new model state: the last hidden state


class ModelResetter(train.Callback):
    """Zeros the hidden state before training, before validation and after the fit."""

    def reset(self):
        s = self.loop.state
        self.loop.state = s._replace(model_state=jnp.zeros_like(s.model_state))

    before_train = before_validate = after_fit = reset


class HiddenAtEpochStart(train.Callback):
    """Records the size of the hidden state the first batch of each epoch sees."""

    order = 10  # after ModelResetter (order 0)

    def before_fit(self):
        self.norms = []

    def before_batch(self):
        if self.loop.iter == 0:
            self.norms.append(float(jnp.linalg.norm(self.loop.state.model_state)))


rnn_tx = optx.adam(1e-2)
rnn_step = train.make_train_step(rnn_loss, rnn_tx, has_state=True)
runs = {}
for reset in (False, True):
    spy = HiddenAtEpochStart()
    callbacks = [spy, ModelResetter()] if reset else [spy]
    params = jax.tree.map(jnp.copy, rnn_params)  # the step donates (consumes) its input state
    state = train.TrainState.create(params, rnn_tx, model_state=jnp.zeros((STREAMS, HID)))
    loop = train.fit(state, rnn_step, rnn_batches, 3, callbacks=callbacks)
    runs[reset] = loop
    print(
        f"reset={reset}: |h| at each epoch start {np.round(spy.norms, 3)}, "
        f"final loss {loop.recorder.losses[-1]:.3f}"
    )
    if reset:
        assert spy.norms == [0.0, 0.0, 0.0]
        assert float(jnp.abs(loop.state.model_state).max()) == 0.0  # after_fit reset it
    else:
        assert spy.norms[0] == 0.0 and min(spy.norms[1:]) > 0.1  # stale state carried over
assert runs[True].recorder.losses[-1] < 0.6 * np.log(10)  # well below guessing (log 10)

# %% [markdown]
# ### Stopping on NaN, and a callback that cancels batches
#
# `TerminateOnNaN` stops the fit (`CancelFitException`) at the first non-finite loss,
# before the `Recorder` sees it. Here the 6th batch of every epoch is corrupted (a NaN in
# its inputs, as a broken record in a dataset would be):


# %%
def corrupted(epoch):
    data = batches(epoch)
    data[5] = {"x": np.where(np.arange(64) == 3, np.nan, data[5]["x"]), "y": data[5]["y"]}
    return data


stop = train.TerminateOnNaN()
loop = train.fit(fresh_state(adam), adam_train_step, corrupted, 3, callbacks=[stop])
print("stopped at training batch", stop.stopped_at, "after", int(loop.state.step), "steps")
print("recorded losses:", np.round(loop.recorder.raw_losses, 3))
assert stop.stopped_at == 6 and len(loop.recorder.raw_losses) == 5
assert np.all(np.isfinite(loop.recorder.raw_losses))
nan_params = not all(bool(jnp.isfinite(p).all()) for p in jax.tree.leaves(loop.state.params))
print("parameters hold a NaN:", nan_params)

# %% [markdown]
# The NaN step was already applied when the loop stopped (the parameters are now NaN). To
# *skip* such steps instead, wrap the optimizer in `optx.apply_if_finite`: a non-finite
# gradient gives a zero update, and training goes on (the step's `skipped` metric says so).

# %%
tx = optx.apply_if_finite(optx.adam(3e-3), max_consecutive_errors=3)
step = train.make_train_step(loss_fn, tx)
loop = train.fit(fresh_state(tx), step, corrupted, 3, valid_data=TEST, eval_step=eval_step)
finite = all(bool(jnp.isfinite(p).all()) for p in jax.tree.leaves(loop.state.params))
print(
    "steps:",
    int(loop.state.step),
    "| params finite:",
    finite,
    "| test accuracy:",
    round(loop.recorder.values[-1]["accuracy"], 3),
)
assert nan_params and finite and loop.recorder.values[-1]["accuracy"] > 0.9

# %% [markdown]
# A custom callback can cancel a batch by raising `CancelBatchException` in
# `before_batch`: the step is not run, `after_cancel_batch` and `after_batch` still fire.
# Here it skips the small last batch of each epoch (1,437 is not a multiple of 64), which
# would otherwise trigger a recompilation of the step for the new shape:


# %%
class SkipSmallBatches(train.Callback):
    def __init__(self, size):
        self.size, self.skipped = size, 0

    def before_batch(self):
        if len(self.loop.batch["y"]) < self.size:
            raise train.CancelBatchException()

    def after_cancel_batch(self):
        self.skipped += 1


skip = SkipSmallBatches(BATCH)
data = lambda epoch: batches(epoch, drop_last=False)  # noqa: E731
print("batches per epoch:", len(data(0)), "| last batch size:", len(data(0)[-1]["y"]))
loop = train.fit(fresh_state(adam), adam_train_step, data, 3, callbacks=[skip])
print("steps taken:", int(loop.state.step), "| batches skipped:", skip.skipped)
assert skip.skipped == 3 and int(loop.state.step) == 3 * STEPS

# %% [markdown]
# ## The learning-rate finder and one-cycle training
#
# `lr_find` trains a copy of the state for up to 100 batches with an exponentially growing
# rate (1e-7 to 10), stops when the smoothed loss diverges, and suggests a rate (fastai's
# "valley"). `fit_one_cycle` then trains with fastai's one-cycle policy: the rate warms up
# from `lr_max / 25` to `lr_max` over the first quarter and anneals to nearly 0, while the
# momentum (`b1` for Adam) goes the opposite way between 0.95 and 0.85.

# %%
# the rate in the state is replaced by the finder and by the one-cycle schedule
found = train.lr_find(fresh_state(adam), adam_train_step, batches(0))
print(found)
fig, ax = plt.subplots(figsize=(6, 3.5))
found.plot(ax=ax)
plt.show()
assert found.lrs[0] < found.valley < found.lrs[-1]

# %%
EPOCHS = 4
loop = train.fit_one_cycle(
    fresh_state(adam),
    adam_train_step,
    batches,
    EPOCHS,
    found.valley,
    valid_data=TEST,
    eval_step=eval_step,
)
rec = loop.recorder
for row in rec.values:
    print({k: round(v, 4) for k, v in row.items() if k != "time"})
lrs, moms = np.asarray(rec.lrs), np.asarray(rec.moms)
peak = int(np.argmax(lrs))
print(f"peak rate {lrs.max():.4g} at step {peak} of {len(lrs)}; momentum there {moms[peak]:.3f}")
assert abs(lrs.max() - found.valley) / found.valley < 1e-3 and abs(peak - len(lrs) / 4) <= 1
assert np.argmin(moms) == peak and abs(moms[0] - 0.95) < 1e-6 and abs(moms.min() - 0.85) < 1e-3
assert rec.values[-1]["accuracy"] > 0.93

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
rec.plot_loss(skip_start=0, ax=axes[0])
axes[1].plot(lrs)
axes[1].set(title="learning rate", xlabel="step")
axes[2].plot(moms)
axes[2].set(title="momentum (b1)", xlabel="step")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Saving and resuming with the checkpoint manager
#
# `optx.train.CheckpointManager` writes one checkpoint per step with orbax: every process
# writes only its own shards, the save runs in the background while training goes on, and
# it keeps the latest `max_to_keep` steps plus the best by a metric. A restore verifies a
# sha256 of every file and compares the saved structure (the optimizer's state types,
# hyperparameter names, shapes, dtypes) with the target before it reads any array, so a
# damaged file or the state of another optimizer is an error, never wrong data. Below: train
# three epochs saving each, then resume from the latest checkpoint into an abstract target
# (`jax.eval_shape`, no arrays allocated) and continue; the result equals an uninterrupted run.

# %%
ckpt_dir = tempfile.mkdtemp()
with train.CheckpointManager(ckpt_dir, max_to_keep=2, best_metric="valid_loss") as manager:
    state = fresh_state(adam)
    for epoch in range(2):
        for batch in batches(epoch):
            state, _ = adam_train_step(state, batch)
        valid = float(eval_step(state, TEST[0])["loss"])
        manager.save(int(state.step), state, metrics={"valid_loss": valid})  # asynchronous
    manager.wait()  # before reading or exiting
    print("kept steps", manager.all_steps(), "best", manager.best_step())
    # A new run: restore the latest into an abstract target, then train the third epoch.
    resumed = manager.restore(target=jax.eval_shape(lambda: fresh_state(adam)))
print("resumed at step", int(resumed.step))
for batch in batches(2):
    resumed, _ = adam_train_step(resumed, batch)

uninterrupted = fresh_state(adam)
for epoch in range(3):
    for batch in batches(epoch):
        uninterrupted, _ = adam_train_step(uninterrupted, batch)
as_bits = lambda s: (s.step, s.params, s.opt_state, jax.random.key_data(s.rng))  # noqa: E731
same = jax.tree.map(
    lambda a, b: bool(np.array_equal(a, b)), as_bits(resumed), as_bits(uninterrupted)
)
print("bit-identical to the uninterrupted run:", all(jax.tree.leaves(same)))
assert all(jax.tree.leaves(same))

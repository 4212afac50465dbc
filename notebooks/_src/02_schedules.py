# ruff: noqa: E501
# %% [markdown]
# # Learning-rate schedules
#
# A schedule in optx is a pure function of the update count: `schedule(count) -> value`,
# where `count` is the number of updates already applied (0 for the first update). Any
# numeric hyperparameter accepts one (learning rate, momentum, betas, weight decay), and
# every schedule works under `jax.jit` with a traced count.
#
# This notebook follows MXNet's learning-rate-schedule tutorials:
#
# 1. pictures of every MXNet-style schedule and the common ones;
# 2. a custom schedule written as a plain callable (cosine annealing);
# 3. training a small CNN on handwritten digits with a multi-factor schedule that drops
#    the rate at epochs 4, 7 and 9;
# 4. the same training with the rate set by hand (`Trainer.set_learning_rate`).
#
# The digits are scikit-learn's `load_digits` (1,797 8x8 images shipped inside the
# package, so nothing is downloaded).

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import optx
from optx import schedules


def values(schedule, steps):
    """The schedule at counts 0 .. steps - 1, as NumPy (one jitted, vmapped call)."""
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(steps)))


def grid(named, steps, ncols=4, title=None):
    """One small panel per schedule (all of them computed in one jitted call)."""
    curves = jax.jit(lambda t: {name: jax.vmap(s)(t) for name, s in named.items()})(
        jnp.arange(steps)
    )
    nrows = -(-len(named) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 2.3 * nrows), squeeze=False, dpi=72
    )
    for ax, name in zip(axes.flat, named):
        ax.plot(np.asarray(curves[name]))
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(named) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


# %% [markdown]
# ## MXNet's schedulers
#
# `factor_schedule`, `multi_factor_schedule`, `poly_schedule` and `cosine_schedule`
# reproduce MXNet's `FactorScheduler`, `MultiFactorScheduler`, `PolyScheduler` and
# `CosineScheduler` exactly, including their warmup modes. MXNet counts updates from 1
# (`num_update = count + 1`); optx's schedules take the 0-based count and do the
# conversion, so the values match MXNet's update by update. Unlike MXNet's schedulers,
# they hold no state, so calling them out of order is fine.

# %%
mxnet_style = {
    "factor_schedule(250, 0.5)": schedules.factor_schedule(250, factor=0.5, base_lr=1.0),
    "multi_factor_schedule([250, 750, 900])": schedules.multi_factor_schedule(
        [250, 750, 900], factor=0.5, base_lr=1.0
    ),
    "poly_schedule(1000, pwr=2)": schedules.poly_schedule(1000, base_lr=1.0, pwr=2),
    "cosine_schedule(1000)": schedules.cosine_schedule(1000, base_lr=1.0),
    "factor + linear warmup": schedules.factor_schedule(
        250, factor=0.5, base_lr=1.0, warmup_steps=100
    ),
    "poly + constant warmup": schedules.poly_schedule(
        1000, base_lr=1.0, pwr=1, warmup_steps=100, warmup_begin_lr=0.1, warmup_mode="constant"
    ),
    "cosine + warmup, final_lr": schedules.cosine_schedule(
        1000, base_lr=1.0, final_lr=0.1, warmup_steps=100
    ),
}
grid(mxnet_style, 1100, title="MXNet-style schedules (x: update count)")

# %% [markdown]
# The MXNet tutorial's claim, "the learning rate of the 250th iteration will be 1 and the
# 251st iteration will be 0.5", and values computed with MXNet 1.9's own scheduler code
# (the 250th update has count 249):

# %%
factor = schedules.factor_schedule(250, factor=0.5, base_lr=1.0)
assert float(factor(249)) == 1.0 and float(factor(250)) == 0.5
assert float(factor(500)) == 0.25 and float(factor(750)) == 0.125

multi = schedules.multi_factor_schedule([250, 750, 900], factor=0.5, base_lr=1.0)
for n, expected in {250: 1.0, 251: 0.5, 750: 0.5, 751: 0.25, 900: 0.25, 901: 0.125}.items():
    assert float(multi(n - 1)) == expected, (n, float(multi(n - 1)))

poly = schedules.poly_schedule(1000, base_lr=1.0, pwr=2)
cosine = schedules.cosine_schedule(1000, base_lr=1.0)
mxnet_values = [
    (poly, 1, 0.998001),
    (poly, 500, 0.25),
    (poly, 1000, 0.0),
    (cosine, 1, 0.999998),
    (cosine, 500, 0.5),
    (cosine, 1001, 0.0),
]
for schedule, n, expected in mxnet_values:
    assert abs(float(schedule(n - 1)) - expected) < 1e-6, (n, float(schedule(n - 1)), expected)
print("factor, multi-factor, poly and cosine match MXNet's values")

# %% [markdown]
# ## Common schedules
#
# The Optax-compatible shapes, cyclical rates, warm restarts, the Transformer's
# inverse square root, fastai's one-cycle and flat-cosine, and combinators
# (`join_schedules`, `warmup` around any schedule, fastai's `combine_schedules`).

# %%
T = 1000
common = {
    "constant_schedule": schedules.constant_schedule(0.1),
    "linear_schedule": schedules.linear_schedule(0.1, 0.0, T),
    "polynomial_schedule(power=2)": schedules.polynomial_schedule(0.1, 0.0, 2, T),
    "exponential_decay_schedule": schedules.exponential_decay_schedule(0.1, 100, 0.7),
    "... staircase=True": schedules.exponential_decay_schedule(0.1, 200, 0.5, staircase=True),
    "piecewise_constant_schedule": schedules.piecewise_constant_schedule(0.1, {300: 0.5, 600: 0.2}),
    "piecewise_interpolate(cosine)": schedules.piecewise_interpolate_schedule(
        "cosine", 0.1, {300: 0.5, 600: 0.2}
    ),
    "cosine_decay_schedule": schedules.cosine_decay_schedule(0.1, T, alpha=0.05),
    "warmup_cosine_decay_schedule": schedules.warmup_cosine_decay_schedule(0.0, 0.1, 100, T),
    "warmup_exponential_decay": schedules.warmup_exponential_decay_schedule(
        0.0, 0.1, 100, 100, 0.7
    ),
    "inverse_sqrt_schedule": schedules.inverse_sqrt_schedule(0.1, 100),
    "cyclic_schedule(triangular)": schedules.cyclic_schedule(0.01, 0.1, 125),
    "cyclic_schedule(triangular2)": schedules.cyclic_schedule(0.01, 0.1, 125, "triangular2"),
    "cyclic_schedule(exp_range)": schedules.cyclic_schedule(0.01, 0.1, 125, "exp_range", 0.998),
    "sgdr_schedule": schedules.sgdr_schedule(
        [
            dict(init_value=0.0, peak_value=0.1, warmup_steps=20, decay_steps=n, end_value=0.001)
            for n in (150, 300, 550)
        ]
    ),
    "linear_onecycle_schedule": schedules.linear_onecycle_schedule(T, 0.1),
    "cosine_onecycle_schedule": schedules.cosine_onecycle_schedule(T, 0.1),
    "fastai onecycle (learning rate)": schedules.onecycle(T, 0.1).learning_rate,
    "fastai onecycle (momentum)": schedules.onecycle(T, 0.1).momentum,
    "flat_cos": schedules.flat_cos(T, 0.1),
    "combine_schedules(lin, cos)": schedules.combine_schedules(
        [0.3, 0.7], [schedules.sched_lin(0.01, 0.1), schedules.sched_cos(0.1, 0.0)], T
    ),
    "join_schedules(const, linear)": schedules.join_schedules(
        [schedules.constant_schedule(0.1), schedules.linear_schedule(0.05, 0.0, 500)], [500]
    ),
    "warmup(exponential_decay)": schedules.warmup(
        schedules.exponential_decay_schedule(0.1, 100, 0.7), 200
    ),
}
grid(common, T, title="Common schedules (x: update count)")

# %% [markdown]
# A few claims from those pictures, checked: the warmup-cosine schedule peaks at the end of
# its warmup, one-cycle's momentum moves opposite to its learning rate, and
# `exponential_decay_schedule(staircase=True)` is MXNet's `FactorScheduler` shifted by one
# update (MXNet counts from 1).

# %%
wcd = values(common["warmup_cosine_decay_schedule"], T)
assert wcd.argmax() == 100 and abs(wcd.max() - 0.1) < 1e-7
cycle = schedules.onecycle(T, 0.1)
lr_curve, mom_curve = values(cycle.learning_rate, T), values(cycle.momentum, T)
assert lr_curve.argmax() == mom_curve.argmin()
staircase = values(schedules.exponential_decay_schedule(1.0, 250, 0.5, staircase=True), T)
np.testing.assert_allclose(staircase, values(factor, T), rtol=1e-6)
print("checked")

# %% [markdown]
# The library also draws schedules itself: `optx.schedules.plot` puts each schedule in its
# own panel (fastai's `plot_sched`), here one-cycle's two schedules.

# %%
schedules.plot(schedules.onecycle(T, 0.1), T, title="optx.schedules.plot(onecycle(1000, 0.1))")

# %% [markdown]
# ## A custom schedule is a plain callable
#
# Anything that maps the count to a scalar works; write it with `jnp` so it can be traced.
# Cosine annealing from `max_lr` to `min_lr` over `cycle_length` updates (MXNet's tutorial
# writes it as a class with `__call__`; a closure does the same):


# %%
def cosine_annealing(max_lr, min_lr, cycle_length):
    def schedule(count):
        pos = jnp.minimum(count, cycle_length) / cycle_length
        return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + jnp.cos(jnp.pi * pos))

    return schedule


custom = cosine_annealing(max_lr=0.1, min_lr=0.001, cycle_length=800)
plt.figure(figsize=(5, 2.5))
plt.plot(values(custom, T))
plt.title("custom cosine annealing")
plt.xlabel("update count")
plt.show()

# it is the built-in cosine decay with alpha = min_lr / max_lr
builtin = schedules.cosine_decay_schedule(0.1, 800, alpha=0.01)
np.testing.assert_allclose(values(custom, T), values(builtin, T), rtol=1e-5)

# and an optimizer uses it like any other schedule
tx = optx.sgd(custom)
w = jnp.zeros(3)
state = tx.init(w)
update = jax.jit(tx.update)
for _ in range(401):
    _, state = update(jnp.ones(3), state)
used = float(optx.get_hyperparams(state)["learning_rate"])
print("rate of update 401 (count 400):", used)
assert abs(used - float(custom(400))) < 1e-7

# %% [markdown]
# ## Training a CNN on handwritten digits with a multi-factor schedule
#
# The data: 1,797 8x8 grey images of the digits 0 to 9, split into 1,437 training and 360
# test images. The model: two 3x3 convolutions (16 and 32 channels, the second with stride
# 2) and a dense layer. Each convolution is written as one matrix product: the nine shifted
# views of the padded input side by side (the "im2col" form) times the kernel reshaped to
# `(9 C_in, C_out)`; a cell below checks that it equals `jax.lax.conv_general_dilated`.
# On the CPU backend this form also keeps its speed inside a `lax.scan` (a multi-step
# call), where XLA's own convolution runs about 20x slower than in a step of its own.

# %%
digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)[..., None]  # N, H, W, C in [0, 1]
labels = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(labels))
test_idx, train_idx = order[:360], order[360:]
x_train, y_train, x_test, y_test = (
    images[train_idx],
    labels[train_idx],
    images[test_idx],
    labels[test_idx],
)
print("train", x_train.shape, "test", x_test.shape)

fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for digit, ax in enumerate(axes):
    ax.imshow(x_train[y_train == digit][0, :, :, 0], cmap="gray_r")
    ax.set_title(str(digit))
    ax.axis("off")
plt.show()


# %%
def init_params(seed):
    """He-normal weights drawn with NumPy (no compilation), zero biases."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return jnp.asarray(rng.normal(size=shape) * np.sqrt(2.0 / fan_in), jnp.float32)

    return {
        "conv1": {"w": he((3, 3, 1, 16), 9), "b": jnp.zeros(16)},
        "conv2": {"w": he((3, 3, 16, 32), 144), "b": jnp.zeros(32)},
        "dense": {"w": he((4 * 4 * 32, 10), 512), "b": jnp.zeros(10)},
    }


def conv3x3(x, w, stride):
    """A 3x3 "SAME" convolution (NHWC input, HWIO kernel) as one matrix product."""
    n, h, wd, c = x.shape
    out_h, out_w = -(-h // stride), -(-wd // stride)
    pad_h, pad_w = (out_h - 1) * stride + 3 - h, (out_w - 1) * stride + 3 - wd
    x = jnp.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    views = [
        x[:, i : i + (out_h - 1) * stride + 1 : stride, j : j + (out_w - 1) * stride + 1 : stride]
        for i in range(3)
        for j in range(3)
    ]
    return jnp.concatenate(views, axis=-1) @ w.reshape(9 * c, -1)


def conv_relu(x, p, stride):
    return jax.nn.relu(conv3x3(x, p["w"], stride) + p["b"])


def model(params, x):
    h = conv_relu(x, params["conv1"], 1)
    h = conv_relu(h, params["conv2"], 2)  # 8x8 -> 4x4
    return h.reshape(h.shape[0], -1) @ params["dense"]["w"] + params["dense"]["b"]


def loss_fn(params, batch, rng):
    logp = jax.nn.log_softmax(model(params, batch["x"]))
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


@jax.jit
def accuracy(params, x, y):
    return jnp.mean(jnp.argmax(model(params, x), axis=-1) == y)


BATCH = 64
STEPS_PER_EPOCH = len(y_train) // BATCH  # 22 (the last partial batch is dropped)
EPOCHS = 10


def epoch_batches(epoch):
    """The epoch's shuffled batches, stacked: x is (STEPS_PER_EPOCH, BATCH, 8, 8, 1)."""
    idx = np.random.default_rng(epoch).permutation(len(y_train))
    idx = idx[: STEPS_PER_EPOCH * BATCH].reshape(STEPS_PER_EPOCH, BATCH)
    return {"x": x_train[idx], "y": y_train[idx]}


@jax.jit
def im2col_and_xla(x, w):
    """(im2col, XLA) pairs of the convolution of x by w, at strides 1 and 2."""
    dims = ("NHWC", "HWIO", "NHWC")
    return [
        (
            conv3x3(x, w, s),
            jax.lax.conv_general_dilated(x, w, (s, s), "SAME", dimension_numbers=dims),
        )
        for s in (1, 2)
    ]


# the im2col form is XLA's convolution, for both strides
probe_x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 16)), jnp.float32)
for ours, xla in im2col_and_xla(probe_x, init_params(1)["conv2"]["w"]):
    np.testing.assert_allclose(ours, xla, rtol=1e-5, atol=1e-5)


# %% [markdown]
# The schedule: SGD with momentum 0.9 at 0.1, halved at the start of epochs 4, 7 and 9
# (0-based epochs). `multi_factor_schedule` takes update numbers, so the boundaries are
# `epoch * STEPS_PER_EPOCH`; in MXNet's convention, the rate drops once `num_update >
# step`, i.e. for the first update of epoch 4.
#
# `make_train_step(..., steps_per_call=STEPS_PER_EPOCH)` runs a whole epoch in one jitted
# call (`lax.scan` over the stacked batches). Its metrics hold every step's loss and the
# hyperparameters used, so the printed rate is the one the optimizer really applied.

# %%
BASE_LR, FACTOR, DROP_EPOCHS = 0.1, 0.5, (4, 7, 9)
lr_schedule = schedules.multi_factor_schedule(
    [e * STEPS_PER_EPOCH for e in DROP_EPOCHS], factor=FACTOR, base_lr=BASE_LR
)
optimizer = optx.sgd(lr_schedule, momentum=0.9)
train_epoch = optx.train.make_train_step(loss_fn, optimizer, steps_per_call=STEPS_PER_EPOCH)
state = optx.train.TrainState.create(init_params(0), optimizer)

start = time.perf_counter()
scheduled_rates, scheduled_losses = [], []
for epoch in range(EPOCHS):
    state, metrics = train_epoch(state, epoch_batches(epoch))
    rates = np.asarray(metrics["hyperparams"]["learning_rate"])
    assert np.all(rates == rates[0])  # one rate per epoch: the drops fall on epoch starts
    scheduled_rates.append(float(rates[0]))
    scheduled_losses.append(float(np.mean(metrics["loss"])))
    print(f"epoch {epoch}  loss {scheduled_losses[-1]:.4f}  learning rate {rates[0]:.5f}")
scheduled_acc = float(accuracy(state.params, x_test, y_test))
print(f"test accuracy {scheduled_acc:.4f}  ({time.perf_counter() - start:.1f} s)")

expected_rates = [BASE_LR * FACTOR ** sum(e >= d for d in DROP_EPOCHS) for e in range(EPOCHS)]
np.testing.assert_allclose(scheduled_rates, expected_rates, rtol=1e-6)
assert scheduled_acc > 0.95

# %% [markdown]
# ## The same with the rate set by hand
#
# Gluon's other way: a constant-rate optimizer and `trainer.set_learning_rate` at the
# start of the chosen epochs. The loss is a mean over the batch, so `step` gets
# `batch_size=1`. The same batches in the same order give the same rates, and the same
# model up to float rounding (the scheduled run's steps were fused into one `lax.scan`).

# %%
trainer = optx.train.Trainer(init_params(0), "sgd", {"learning_rate": BASE_LR, "momentum": 0.9})
grad_fn = jax.jit(jax.value_and_grad(loss_fn))
manual_rates, manual_losses = [], []
for epoch in range(EPOCHS):
    if epoch in DROP_EPOCHS:
        trainer.set_learning_rate(trainer.learning_rate * FACTOR)
    batches = epoch_batches(epoch)
    losses = []
    for i in range(STEPS_PER_EPOCH):
        loss, grads = grad_fn(trainer.params, {"x": batches["x"][i], "y": batches["y"][i]}, None)
        trainer.step(grads, batch_size=1)
        losses.append(float(loss))
    manual_rates.append(trainer.learning_rate)
    manual_losses.append(float(np.mean(losses)))
    print(f"epoch {epoch}  loss {manual_losses[-1]:.4f}  learning rate {trainer.learning_rate:.5f}")
manual_acc = float(accuracy(trainer.params, x_test, y_test))
print(f"test accuracy {manual_acc:.4f}")

np.testing.assert_allclose(manual_rates, scheduled_rates, rtol=1e-6)
np.testing.assert_allclose(manual_losses, scheduled_losses, rtol=1e-2)
assert manual_acc > 0.95

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.2))
ax0.plot(scheduled_losses, "o-", label="multi_factor_schedule")
ax0.plot(manual_losses, "x--", label="set_learning_rate")
ax0.set(yscale="log", xlabel="epoch", ylabel="mean training loss")
ax0.legend()
ax1.step(range(EPOCHS), scheduled_rates, where="post")
for e in DROP_EPOCHS:
    ax1.axvline(e, color="grey", ls=":")
ax1.set(xlabel="epoch", ylabel="learning rate", title="rate per epoch (drops at 4, 7, 9)")
plt.tight_layout()
plt.show()

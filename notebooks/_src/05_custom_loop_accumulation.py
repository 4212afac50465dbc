# ruff: noqa: E501
# %% [markdown]
# # A custom training loop, and gradient accumulation done right
#
# optx does not need a framework loop: an optimizer is two pure functions, so a training
# loop is a few lines of JAX. This notebook writes one, then adds gradient accumulation:
# when a large batch does not fit in memory, split it into micro-batches, average their
# gradients, and step once. Done naively this goes wrong in three classic ways:
#
# 1. summing the micro-batch gradients instead of averaging them (a step `k` times too large);
# 2. stepping the optimizer on every micro-batch (that is small-batch training, not accumulation);
# 3. averaging per-micro-batch *means* when the micro-batches have different sizes (the
#    result is not the mean over the whole batch).
#
# `optx.accumulate_gradients(optimizer, every_k=k)` avoids all three, and we check that it
# equals the large-batch step.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import optx

digits = load_digits()
x_all = (digits.data / 16.0).astype(np.float32)
y_all = digits.target.astype(np.int32)
idx = np.random.default_rng(0).permutation(len(y_all))
x, y = x_all[idx[:1536]], y_all[idx[:1536]]  # 12 batches of 128


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (64, 32)) / 8.0,
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 10)) / np.sqrt(32),
        "b2": jnp.zeros(10),
    }


def per_example_loss(params, x, y):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    logp = jax.nn.log_softmax(h @ params["w2"] + params["b2"])
    return -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]


def loss_fn(params, x, y):
    return jnp.mean(per_example_loss(params, x, y))


PARAMS0 = init_params(jax.random.key(0))
full_loss = jax.jit(loss_fn)  # the loss on all the data, for the plots

# %% [markdown]
# ## The loop
#
# One jitted function computes the loss and gradients, runs the optimizer and applies the
# update. The optimizer state travels with the parameters.

# %%
optimizer = optx.adam(1e-2)


@jax.jit
def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optx.apply_updates(params, updates), opt_state, loss


params, opt_state = PARAMS0, optimizer.init(PARAMS0)
losses = []
for _epoch in range(3):
    for i in range(0, len(y), 128):
        params, opt_state, loss = train_step(params, opt_state, x[i : i + 128], y[i : i + 128])
        losses.append(float(loss))
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} steps")
assert losses[-1] < 0.5 * losses[0]

# %% [markdown]
# The same epoch as one call: `lax.scan` runs the steps inside the compiled program, with no
# Python between steps (the fastest form for small models).


# %%
@jax.jit
def train_epoch(params, opt_state, xs, ys):
    def body(carry, batch):
        params, opt_state, loss = train_step(*carry, *batch)
        return (params, opt_state), loss

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
    return params, opt_state, losses


xs, ys = x.reshape(12, 128, 64), y.reshape(12, 128)
scan_params, scan_state = PARAMS0, optimizer.init(PARAMS0)
scan_losses = []
for _epoch in range(3):
    scan_params, scan_state, epoch_losses = train_epoch(scan_params, scan_state, xs, ys)
    scan_losses.extend(np.asarray(epoch_losses))
np.testing.assert_allclose(scan_losses, losses, rtol=1e-4)
print("the scanned epochs give the same losses as the Python loop")

# %% [markdown]
# ## Gradient accumulation equals the large-batch step
#
# Wrap the optimizer: `accumulate_gradients(adam, every_k=4)` keeps a running sum of the
# gradients, returns zero updates on the first three micro-batches and steps the inner Adam
# with the *average* on the fourth. Adam's own state (moments, step count) advances once
# per real step. Each large batch of 128 becomes 4 micro-batches of 32.

# %%
K = 4
accumulating = optx.accumulate_gradients(optx.adam(1e-2), every_k=K)


def make_step(tx):
    @jax.jit
    def step(params, state, x, y, **extra):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params, **extra)
        return optx.apply_updates(params, updates), state, loss

    return step


def run(tx, micro, epochs=3, weighted=False):
    """Trains on the 12 large batches, each split into micro-batches of size micro."""
    step = make_step(tx)
    params, state, curve = PARAMS0, tx.init(PARAMS0), []
    for _ in range(epochs):
        for i in range(0, len(y), 128):
            for j in range(i, i + 128, micro):
                extra = {"num_samples": micro} if weighted else {}
                params, state, _ = step(params, state, x[j : j + micro], y[j : j + micro], **extra)
            curve.append(float(full_loss(params, x, y)))  # full-data loss after each large batch
    return params, curve


big_params, big_curve = run(optx.adam(1e-2), micro=128)
acc_params, acc_curve = run(accumulating, micro=128 // K)
worst = max(
    float(jnp.abs(a - b).max())
    for a, b in zip(jax.tree.leaves(big_params), jax.tree.leaves(acc_params))
)
print(f"max |large batch - accumulated| after 36 steps: {worst:.2e}")
assert worst < 1e-5

# %% [markdown]
# `optx.has_updated(state)` tells whether the last call stepped (for logging or a
# schedule of your own):

# %%
state = accumulating.init(PARAMS0)
step = make_step(accumulating)
params, flags = PARAMS0, []
for j in range(8):
    params, state, _ = step(params, state, x[32 * j : 32 * (j + 1)], y[32 * j : 32 * (j + 1)])
    flags.append(bool(optx.has_updated(state)))
print(flags)
assert flags == [False, False, False, True] * 2

# %% [markdown]
# ## The three mistakes
#
# With plain SGD, so that the size of a step is visible:
#
# * **summing** the 4 micro-batch gradients: the step is 4 times too large;
#   `apply_every(4)` after the optimizer sums updates (Optax's semantics), which is the
#   same thing for SGD;
# * **stepping on every micro-batch**: 4 small steps per large batch;
# * **unequal micro-batches**: a large batch of 128 split as 96 + 32. The mean of the two
#   micro-batch means weighs each of the 32 examples 3 times as much as each of the 96.
#   Passing `num_samples=` with each micro-batch weighs them correctly.

# %%
sgd = optx.sgd(0.5)
big, big_curve_sgd = run(sgd, micro=128, epochs=1)
right, right_curve = run(optx.accumulate_gradients(sgd, every_k=4), micro=32, epochs=1)
summed, summed_curve = run(optx.chain(sgd, optx.apply_every(4)), micro=32, epochs=1)
each, each_curve = run(sgd, micro=32, epochs=1)


def distance(a, b):
    return max(float(jnp.abs(u - v).max()) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


print(f"accumulate_gradients : {distance(right, big):.1e} from the large-batch result")
print(f"summed gradients     : {distance(summed, big):.1e}")
print(f"step every micro     : {distance(each, big):.1e}")
assert distance(right, big) < 1e-5 < 1e-2 < distance(summed, big)
assert distance(each, big) > 1e-2


def run_unequal(tx, weighted):
    """One large batch of 128 split as 96 + 32."""
    step = make_step(tx)
    params, state = PARAMS0, tx.init(PARAMS0)
    for lo, hi in ((0, 96), (96, 128)):
        extra = {"num_samples": hi - lo} if weighted else {}
        params, state, _ = step(params, state, x[lo:hi], y[lo:hi], **extra)
    return params


one_big = jax.jit(  # one SGD step on the whole batch of 128, compiled as one program
    lambda p, x, y: optx.apply_updates(
        p, jax.tree.map(lambda g: -0.5 * g, jax.grad(loss_fn)(p, x, y))
    )
)(PARAMS0, x[:128], y[:128])
weighted = run_unequal(optx.accumulate_gradients(sgd, every_k=2), weighted=True)
mean_of_means = run_unequal(optx.accumulate_gradients(sgd, every_k=2), weighted=False)
print(f"96 + 32 with num_samples   : {distance(weighted, one_big):.1e} from the batch of 128")
print(f"96 + 32, mean of the means : {distance(mean_of_means, one_big):.1e}")
assert distance(weighted, one_big) < 1e-6 < 1e-4 < distance(mean_of_means, one_big)

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.5))
ax0.plot(big_curve, "o-", ms=3, label="Adam, batch 128")
ax0.plot(acc_curve, "x--", label="Adam, 4 x 32 accumulated")
ax0.set(xlabel="large-batch step", ylabel="loss on all data", title="accumulation = large batch")
ax0.legend()
ax1.plot(big_curve_sgd, "o-", ms=3, label="SGD, batch 128")
ax1.plot(right_curve, "x--", label="accumulate_gradients (average)")
ax1.plot(summed_curve, label="summed gradients (4x step)")
ax1.plot(each_curve, label="a step per micro-batch")
ax1.set(xlabel="large-batch step", title="the mistakes change the trajectory")
ax1.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## With `optx.train.make_train_step`
#
# The library's step takes any optimizer, so accumulation is just the wrapped optimizer.
# With `steps_per_call=4`, one call runs the 4 micro-batches (stacked on a leading axis)
# in a `lax.scan`: one call, one real step.

# %%
loss_for_step = lambda params, batch, rng: loss_fn(params, batch["x"], batch["y"])  # noqa: E731
tx = optx.accumulate_gradients(optx.adam(1e-2), every_k=K)
micro_step = optx.train.make_train_step(loss_for_step, tx, steps_per_call=K)
state = optx.train.TrainState.create(jax.tree.map(jnp.copy, PARAMS0), tx)
for _ in range(3):
    for i in range(0, len(y), 128):
        batch = {"x": x[i : i + 128].reshape(K, 32, 64), "y": y[i : i + 128].reshape(K, 32)}
        state, metrics = micro_step(state, batch)
print(
    f"after {int(state.step)} micro-steps: {distance(state.params, big_params):.1e} from "
    "the large-batch result"
)
assert distance(state.params, big_params) < 1e-5

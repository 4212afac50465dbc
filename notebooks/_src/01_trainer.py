# ruff: noqa: E501
# %% [markdown]
# # The Gluon-style `Trainer`
#
# MXNet Gluon's `Trainer` applies an optimizer to a model's parameters:
# `trainer.step(batch_size)` normalizes the gradients by the batch size and updates the
# weights in place. optx keeps a pure core (`optimizer.init` / `optimizer.update` over
# pytrees) and offers `optx.train.Trainer`, a small mutable facade over it for people
# coming from MXNet. This notebook follows the Gluon trainer tutorial:
#
# 1. a perceptron, its forward and backward passes;
# 2. one `trainer.step(batch_size)`, checked against `w - lr / b * grad`;
# 3. passing an optimizer instance instead of a name;
# 4. reading and setting the learning rate.
#
# One difference from Gluon: JAX has no `.grad` attribute on parameters, so the gradients
# come from `jax.grad` and are passed to `step`.

# %%
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import optx

print("optx", optx.__version__, "| jax", jax.__version__)

# %% [markdown]
# ## A perceptron
#
# A single dense unit `y = x @ w + b` on 4 features. As in Gluon, the parameters are a dict
# (the `Trainer` orders them by key, as Gluon sorts its `ParameterDict`).

# %%
key_w, key_x = jax.random.split(jax.random.key(0))
params = {"weight": 0.1 * jax.random.normal(key_w, (4, 1)), "bias": jnp.zeros(1)}


def net(params, x):
    return x @ params["weight"] + params["bias"]


batch_size = 8
x = jax.random.uniform(key_x, (batch_size, 4))
y = jnp.ones((batch_size, 1))

# %% [markdown]
# ## Forward and backward
#
# Gluon's `L2Loss` returns one loss per example and `loss.backward()` sums them, so the
# gradient is a *sum* over the batch; that is why `step` divides by the batch size. We
# write the same: the loss is summed, `jax.grad` is the backward pass.


# %%
def loss_fn(params, x, y):
    return jnp.sum(0.5 * (net(params, x) - y) ** 2)  # summed over the batch, as Gluon


loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
print("loss", float(loss))
print("weight gradient", grads["weight"].ravel())

# %% [markdown]
# ## One step: `w - lr / batch_size * grad`
#
# A `Trainer` takes the parameters, an optimizer name and its hyperparameters (optx's
# spelling: `learning_rate`, `momentum`, `b1`, ...). `step(grads, batch_size)` multiplies
# the gradients by `rescale_grad / batch_size` and applies the optimizer.

# %%
trainer = optx.train.Trainer(params, "sgd", {"learning_rate": 1.0})
weight_before = np.asarray(trainer.params["weight"])
trainer.step(grads, batch_size)

expected = weight_before - trainer.learning_rate / batch_size * np.asarray(grads["weight"])
print("new weight     ", np.asarray(trainer.params["weight"]).ravel())
print("w - lr/b * grad", expected.ravel())
assert np.abs(np.asarray(trainer.params["weight"]) - expected).max() < 1e-6

# %% [markdown]
# `trainer.params` holds the new parameters; the pytree you passed in is not changed (JAX
# arrays are immutable). When the loss is already a mean over the batch, pass
# `batch_size=1`, as in Gluon.
#
# The same step, written with the pure core, is `optimizer.update` followed by
# `optx.apply_updates`; the trainer is only a convenience around it:

# %%
sgd = optx.sgd(1.0)
updates, _ = sgd.update(jax.tree.map(lambda g: g / batch_size, grads), sgd.init(params), params)
pure = optx.apply_updates(params, updates)
for name in params:
    np.testing.assert_allclose(pure[name], trainer.params[name], rtol=1e-6)
print("the Trainer step equals the pure optx step")

# %% [markdown]
# ## Training the perceptron
#
# A perceptron separating two Gaussian blobs, trained with the trainer for a few epochs
# (logistic loss, summed over each batch of 8). The gradient function is jitted; the trainer's
# own update is jitted once and is not recompiled when the batch size or the learning rate
# changes.

# %%
rng = np.random.default_rng(0)
n = 200
labels = rng.integers(0, 2, n)
points = rng.normal(size=(n, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)
points, labels = points.astype(np.float32), labels.astype(np.float32)


def logistic_loss(params, x, y):
    logits = (x @ params["weight"] + params["bias"])[:, 0]
    return jnp.sum(jax.nn.softplus(logits) - y * logits)  # summed, as Gluon's losses


grad_fn = jax.jit(jax.value_and_grad(logistic_loss))
clf = optx.train.Trainer(
    {"weight": jnp.zeros((2, 1)), "bias": jnp.zeros(1)},
    "sgd",
    {"learning_rate": 0.5, "momentum": 0.9},
)
history = []
for epoch in range(5):
    order = rng.permutation(n)
    total = 0.0
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        loss, g = grad_fn(clf.params, points[idx], labels[idx])
        clf.step(g, batch_size=len(idx))
        total += float(loss)
    history.append(total / n)
    print(f"epoch {epoch}  mean loss {history[-1]:.4f}")

logits = points @ np.asarray(clf.params["weight"]) + np.asarray(clf.params["bias"])
accuracy = np.mean((logits[:, 0] > 0) == (labels == 1))
print("training accuracy", accuracy)
assert accuracy > 0.95 and history[-1] < history[0]

# %% [markdown]
# "Not recompiled", checked: JAX reports every XLA compilation to the listeners of
# `jax.monitoring`, so we count them. A new batch size and a new learning rate compile
# nothing (the batch size and the rate are values, not part of the compiled program),
# while a function never seen before compiles once, which shows the counter works.


# %%
def count_compiles(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles.append(kwargs.get("fun_name", "?"))


compiles = []
jax.monitoring.register_event_duration_secs_listener(count_compiles)
_, grads5 = grad_fn(clf.params, points[:5], labels[:5])  # grad_fn compiles for 5 rows here

compiles.clear()
clf.step(grads5, batch_size=5)  # a batch size the trainer has not seen
clf.set_learning_rate(0.1)  # a new learning rate
clf.step(grads5, batch_size=5)
print("XLA compilations for a new batch size and a new learning rate:", len(compiles))
assert compiles == []

jax.jit(lambda x: 2.0 * x)(1.0)  # a new function: one compilation
print("XLA compilations after jitting a new function:", len(compiles))
assert len(compiles) == 1

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.5))
ax0.plot(history, marker="o")
ax0.set(xlabel="epoch", ylabel="mean logistic loss", title="training loss")
ax1.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=10)
w, b = np.asarray(clf.params["weight"])[:, 0], float(clf.params["bias"][0])
xs = np.linspace(points[:, 0].min(), points[:, 0].max(), 2)
ax1.plot(xs, -(w[0] * xs + b) / w[1], "k--", label="decision boundary")
ax1.set(ylim=(points[:, 1].min(), points[:, 1].max()), title="the trained perceptron")
ax1.legend(loc="upper left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## An optimizer instance instead of a name
#
# Like Gluon, the trainer accepts a name and its hyperparameters, or an optimizer instance
# (any optx or Optax `GradientTransformation`). With an instance, the hyperparameters go
# to the optimizer's factory and `optimizer_params` must be empty. Both give the same
# result:

# %%
by_name = optx.train.Trainer(params, "adam", {"learning_rate": 0.01, "b1": 0.8})
by_instance = optx.train.Trainer(params, optx.adam(learning_rate=0.01, b1=0.8))
for _ in range(3):
    by_name.step(grads, batch_size)
    by_instance.step(grads, batch_size)
for name in params:
    np.testing.assert_array_equal(by_name.params[name], by_instance.params[name])
print("same parameters after 3 steps")

try:
    optx.train.Trainer(params, optx.adam(0.01), {"learning_rate": 0.1})
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# Names are those of `optx.create` (case-insensitive, so MXNet's `"NAG"` and `"Signum"`
# work). An MXNet spelling of a hyperparameter is refused with the optx name in the message:

# %%
print(
    len(optx.registered_optimizers()),
    "registered names, e.g.",
    sorted(optx.registered_optimizers())[:8],
)
try:
    optx.train.Trainer(params, "adam", {"beta1": 0.9})
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ## Reading and setting the learning rate
#
# `trainer.learning_rate` is the rate of the latest update (the initial one before any),
# read from the optimizer state. `set_learning_rate` writes a new value into the state:
# no recompilation (counted above), and the next step uses it.

# %%
trainer = optx.train.Trainer(params, "sgd", {"learning_rate": 0.1})
print(f"learning rate {trainer.learning_rate:.6g}")  # a float32 value held in the state
assert abs(trainer.learning_rate - 0.1) < 1e-7

trainer.set_learning_rate(0.01)
print(f"learning rate after set_learning_rate {trainer.learning_rate:.6g}")
assert abs(trainer.learning_rate - 0.01) < 1e-9

before = np.asarray(trainer.params["weight"])
trainer.step(grads, batch_size)
expected = before - 0.01 / batch_size * np.asarray(grads["weight"])
assert np.abs(np.asarray(trainer.params["weight"]) - expected).max() < 1e-7
print("the step used the new rate")

# %% [markdown]
# The learning rate is a hyperparameter held in the optimizer state, so
# `optx.get_hyperparams` shows it together with any other (here the momentum), and
# `optx.set_hyperparams` sets it on a state in the pure API:

# %%
momentum_trainer = optx.train.Trainer(params, "sgd", {"learning_rate": 0.1, "momentum": 0.9})
hyperparams = optx.get_hyperparams(momentum_trainer.opt_state)
print({k: float(f"{float(v):.6g}") for k, v in hyperparams.items()})

# %% [markdown]
# When a schedule drives the learning rate, `set_learning_rate` refuses, as Gluon does
# (it warns there); `learning_rate` then reports the value the schedule gave the latest
# update:

# %%
schedule = optx.schedules.exponential_decay_schedule(0.1, transition_steps=1, decay_rate=0.5)
scheduled = optx.train.Trainer(params, optx.sgd(schedule))
for _ in range(3):
    scheduled.step(grads, batch_size)
print(f"rate of the 3rd update: {scheduled.learning_rate:.6g}")
assert abs(scheduled.learning_rate - 0.1 * 0.5**2) < 1e-8
try:
    scheduled.set_learning_rate(0.5)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Gluon's split step and saving the optimizer state
#
# `step` is `allreduce_grads` followed by `update`; call them separately to work on the
# reduced gradients in between (with several replicas, pass one gradient tree per replica
# to `allreduce_grads` and they are summed). `save_states` / `load_states` write and read
# the optimizer state (atomically, no pickle).

# %%
half = jax.tree.map(lambda g: g / 2, grads)
split = optx.train.Trainer(params, "adam", {"learning_rate": 0.01})
split.allreduce_grads(half, half)  # two "replicas", each with half the gradient
split.update(batch_size)
whole = optx.train.Trainer(params, "adam", {"learning_rate": 0.01})
whole.step(grads, batch_size)
np.testing.assert_allclose(split.params["weight"], whole.params["weight"], rtol=1e-6)

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "trainer.states"
    whole.save_states(path)
    resumed = optx.train.Trainer(whole.params, "adam", {"learning_rate": 0.01})
    resumed.load_states(path)
whole.step(grads, batch_size)
resumed.step(grads, batch_size)
np.testing.assert_array_equal(whole.params["weight"], resumed.params["weight"])
print("split step == step, and a reloaded trainer continues exactly")

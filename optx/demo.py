"""The optx demo: fit a small MLP to a synthetic regression task and print the loss falling.

Run it with ``python -m optx.demo``. No downloads: the data is drawn from a fixed seed.
It uses AdamW with decoupled weight decay, a warmup-cosine learning-rate schedule and
global-norm clipping, inside one jitted train step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import optx


def make_data(key: jax.Array, n: int = 512) -> tuple[jax.Array, jax.Array]:
    """Inputs in [-2, 2]^2 and a smooth nonlinear target with a little noise."""
    kx, kn = jax.random.split(key)
    x = jax.random.uniform(kx, (n, 2), minval=-2.0, maxval=2.0)
    y = jnp.sin(x[:, :1]) * jnp.cos(x[:, 1:]) + 0.05 * jax.random.normal(kn, (n, 1))
    return x, y


def init_mlp(key: jax.Array, sizes=(2, 64, 64, 1)) -> list[dict[str, jax.Array]]:
    """A list of dense layers with scaled normal weights and zero biases."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (m, n)) / jnp.sqrt(m), "b": jnp.zeros((1, n))}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]


def predict(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    """The MLP's output: tanh hidden layers, linear output."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def main(steps: int = 1000, report_every: int = 100) -> list[float]:
    """Trains and prints the loss every ``report_every`` steps; returns the printed losses."""
    x, y = make_data(jax.random.key(0))
    params = init_mlp(jax.random.key(1))
    schedule = optx.schedules.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=1e-2, warmup_steps=50, decay_steps=steps
    )
    optimizer = optx.chain(
        optx.clip_by_global_norm(1.0),
        optx.adamw(learning_rate=schedule, weight_decay=1e-4),
    )
    opt_state = optimizer.init(params)

    def loss_fn(params):
        return jnp.mean((predict(params, x) - y) ** 2)

    @jax.jit
    def train_step(params, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optx.apply_updates(params, updates), opt_state, loss

    losses = []
    for step in range(steps):
        params, opt_state, loss = train_step(params, opt_state)
        if step % report_every == 0 or step == steps - 1:
            lr = optx.get_hyperparams(opt_state)["learning_rate"]
            print(f"step {step:5d}  loss {float(loss):.5f}  learning rate {float(lr):.2e}")
            losses.append(float(loss))
    return losses


if __name__ == "__main__":
    main()

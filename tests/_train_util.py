"""Small problems and a local train step of the ``(state, batch) -> (state, metrics)`` shape."""

import jax
import jax.numpy as jnp
import numpy as np

import optx


def regression_batches(n=128, d=4, batch=16, seed=0, noise=0.1):
    """Linear regression y = x @ w_true + noise, as a list of {"x", "y"} batches."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1.0, d + 1.0) + noise * rng.normal(size=n)).astype(np.float32)
    return [{"x": x[i : i + batch], "y": y[i : i + batch]} for i in range(0, n, batch)]


def mse(params, batch, rng=None):
    return jnp.mean((batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2)


def init_params(d=4):
    return {"w": jnp.zeros(d), "b": jnp.zeros([])}


def make_step(tx, loss_fn=mse, donate=False, traces=None):
    """A jitted step with the metrics of optx.train.make_train_step; counts its traces."""

    def step(state, batch):
        if traces is not None:
            traces.append(1)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new = state._replace(
            step=state.step + 1,
            params=optx.apply_updates(state.params, updates),
            opt_state=opt_state,
        )
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))
        metrics = {
            "loss": loss,
            "grad_norm": norm,
            "hyperparams": optx.get_hyperparams(opt_state),
            "skipped": ~jnp.isfinite(norm),
        }
        return new, metrics

    return jax.jit(step, donate_argnums=0 if donate else ())


def make_eval_step(loss_fn=mse):
    @jax.jit
    def eval_step(state, batch):
        pred = batch["x"] @ state.params["w"] + state.params["b"]
        return {"loss": loss_fn(state.params, batch), "mae": jnp.mean(jnp.abs(pred - batch["y"]))}

    return eval_step


def library_step(tx, **kwargs):
    """The library's step (optx.train.make_train_step) on the regression problem."""
    from optx.train._step import make_train_step

    return make_train_step(mse, tx, **kwargs)

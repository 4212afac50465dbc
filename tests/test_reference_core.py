"""Foundation optimizers against NumPy written from the update rules (and MXNet's trajectories)."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

REFERENCE = pathlib.Path(__file__).resolve().parent / "data"  # MXNet 1.9.1 recorded values
STEPS = 20


def _grads(seed=0, steps=STEPS, size=7):
    return np.random.default_rng(seed).normal(size=(steps, size)).astype(np.float32)


def _run(tx, w0, grads):
    w = jnp.asarray(w0)
    state = tx.init(w)
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        u, state = update(jnp.asarray(g), state, w)
        w = optx.apply_updates(w, u)
        out.append(np.asarray(w))
    return np.stack(out)


def _numpy_sgd(w, grads, lr, mu=None, nesterov=False, lr_fn=None):
    t = np.zeros_like(w)
    out = []
    for i, g in enumerate(grads):
        eta = lr_fn(i) if lr_fn else lr
        if mu is None:
            step = g
        else:
            t = mu * t + g
            step = g + mu * t if nesterov else t
        w = w - eta * step
        out.append(w)
    return np.stack(out)


def _numpy_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, wd=0.0, nesterov=False):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * (m_hat / (np.sqrt(v_hat + eps_root) + eps) + wd * w)
        out.append(w)
    return np.stack(out)


def _numpy_rmsprop(w, grads, lr, decay, eps, centered=False, momentum=None, eps_in_sqrt=True):
    v = np.zeros_like(w)
    m = np.zeros_like(w)
    buf = np.zeros_like(w)
    out = []
    for g in grads:
        v = decay * v + (1 - decay) * g * g
        m = decay * m + (1 - decay) * g
        var = v - m * m if centered else v
        d = g / np.sqrt(var + eps) if eps_in_sqrt else g / (np.sqrt(var) + eps)
        if momentum is None:
            w = w - lr * d
        else:
            buf = momentum * buf + lr * d
            w = w - buf
        out.append(w)
    return np.stack(out)


def _numpy_adagrad(w, grads, lr, init, eps, eps_in_sqrt=True):
    s = np.full_like(w, init)
    out = []
    for g in grads:
        s = s + g * g
        w = w - lr * (g / np.sqrt(s + eps) if eps_in_sqrt else g / (np.sqrt(s) + eps))
        out.append(w)
    return np.stack(out)


W0 = np.linspace(-1, 1, 7).astype(np.float32)


@pytest.mark.parametrize(
    "tx, reference",
    [
        (optx.sgd(0.1), lambda g: _numpy_sgd(W0, g, 0.1)),
        (optx.sgd(0.1, 0.9), lambda g: _numpy_sgd(W0, g, 0.1, 0.9)),
        (optx.sgd(0.1, 0.9, nesterov=True), lambda g: _numpy_sgd(W0, g, 0.1, 0.9, True)),
        (
            optx.sgd(lambda c: 0.1 / (1.0 + c.astype(jnp.float32)), 0.5),
            lambda g: _numpy_sgd(W0, g, None, 0.5, lr_fn=lambda i: 0.1 / (1.0 + i)),
        ),
        (optx.adam(0.01), lambda g: _numpy_adam(W0, g, 0.01)),
        (optx.adam(0.01, eps_root=1e-6), lambda g: _numpy_adam(W0, g, 0.01, eps_root=1e-6)),
        (optx.adam(0.01, nesterov=True), lambda g: _numpy_adam(W0, g, 0.01, nesterov=True)),
        (optx.adamw(0.01, weight_decay=0.1), lambda g: _numpy_adam(W0, g, 0.01, wd=0.1)),
        (optx.rmsprop(0.01), lambda g: _numpy_rmsprop(W0, g, 0.01, 0.9, 1e-8)),
        (
            optx.rmsprop(0.01, decay=0.99, eps_in_sqrt=False),
            lambda g: _numpy_rmsprop(W0, g, 0.01, 0.99, 1e-8, eps_in_sqrt=False),
        ),
        (
            optx.rmsprop(0.01, centered=True, momentum=0.9),
            lambda g: _numpy_rmsprop(W0, g, 0.01, 0.9, 1e-8, centered=True, momentum=0.9),
        ),
        (optx.adagrad(0.1), lambda g: _numpy_adagrad(W0, g, 0.1, 0.1, 1e-7)),
        (
            optx.adagrad(0.1, 0.0, 1e-10, eps_in_sqrt=False),
            lambda g: _numpy_adagrad(W0, g, 0.1, 0.0, 1e-10, eps_in_sqrt=False),
        ),
    ],
    ids=[
        "sgd",
        "sgd_momentum",
        "sgd_nesterov",
        "sgd_scheduled",
        "adam",
        "adam_eps_root",
        "adam_nesterov",
        "adamw",
        "rmsprop",
        "rmsprop_torch_eps",
        "rmsprop_centered_momentum",
        "adagrad",
        "adagrad_torch",
    ],
)
def test_matches_numpy(tx, reference):
    grads = _grads()
    np.testing.assert_allclose(
        _run(tx, W0, grads), reference(grads.astype(np.float64)), rtol=2e-5, atol=2e-6
    )


def _mxnet_case(name):
    return json.loads((REFERENCE / "mxnet_optimizers.json").read_text())["cases"][name]


@pytest.mark.parametrize(
    "case, make",
    [
        ("sgd_momentum", lambda h: optx.sgd(h["lr"], h["mom"])),
        ("adagrad", lambda h: optx.adagrad(h["lr"], 0.0, h["eps"])),
        ("rmsprop", lambda h: optx.rmsprop(h["lr"], h["g1"], h["eps"])),
        (
            "rmsprop_centered",
            lambda h: optx.rmsprop(h["lr"], h["g1"], h["eps"], centered=True, momentum=h["g2"]),
        ),
    ],
)
def test_matches_mxnet_trajectory(case, make):
    data = _mxnet_case(case)
    assert data["hyperparams"]["wd"] == 0.0
    got = _run(
        make(data["hyperparams"]),
        np.asarray(data["w0"], np.float32),
        np.asarray(data["grads"], np.float32),
    )
    np.testing.assert_allclose(got, np.asarray(data["expected_w"]), rtol=1e-6, atol=1e-6)


def test_ema_and_trace_rules():
    grads = _grads(size=3)[:5]
    tx = optx.ema(0.8)
    state = tx.init(jnp.zeros(3))
    e = np.zeros(3)
    for t, g in enumerate(grads, start=1):
        u, state = tx.update(jnp.asarray(g), state)
        e = 0.8 * e + 0.2 * g
        np.testing.assert_allclose(u, e / (1 - 0.8**t), rtol=1e-6, atol=1e-7)
    tx = optx.ema(0.8, debias=False)
    u, _ = tx.update(jnp.asarray(grads[0]), tx.init(jnp.zeros(3)))
    np.testing.assert_allclose(u, 0.2 * grads[0], rtol=1e-6)


def test_clip_rules():
    g = jnp.array([3.0, -4.0, 0.5])
    tx = optx.clip(1.0)
    np.testing.assert_allclose(tx.update(g, tx.init(g))[0], [1.0, -1.0, 0.5])
    tx = optx.clip_by_global_norm(1.0)
    tree = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
    out, _ = tx.update(tree, tx.init(tree))
    np.testing.assert_allclose([out["a"][0], out["b"][0]], [0.6, 0.8], rtol=1e-6)
    small = {"a": jnp.array([0.3]), "b": jnp.array([0.4])}
    out, _ = tx.update(small, tx.init(small))
    np.testing.assert_allclose([out["a"][0], out["b"][0]], [0.3, 0.4], rtol=1e-6)


def test_add_decayed_weights_mask():
    params = {"w": jnp.ones(2), "bias": jnp.ones(2)}
    tx = optx.add_decayed_weights(0.5, mask=lambda p: {"w": True, "bias": False})
    out, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    np.testing.assert_allclose(out["w"], [0.5, 0.5])
    np.testing.assert_allclose(out["bias"], [0.0, 0.0])


def test_counter_saturates_instead_of_wrapping():
    from optx import _tree

    top = jnp.asarray(np.iinfo(np.int32).max, jnp.int32)
    assert int(_tree.safe_increment(top)) == np.iinfo(np.int32).max
    assert int(_tree.safe_increment(jnp.zeros([], jnp.int32))) == 1

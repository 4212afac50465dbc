"""Non-Adam optimizers against MXNet's trajectories and NumPy written from the papers."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

REFERENCE = pathlib.Path(__file__).resolve().parent / "data"  # MXNet 1.9.1 recorded values
MXNET = json.loads((REFERENCE / "mxnet_optimizers.json").read_text())["cases"]
STEPS = 12


def _mxnet_factory(key, h):
    wd = h.get("wd", 0.0)
    return {
        "sgd_momentum": lambda: optx.sgd(
            h["lr"], h["mom"], lr_inside_momentum=True, weight_decay=wd
        ),
        "nag": lambda: optx.nag(h["lr"], h["mom"], weight_decay=wd),
        "adagrad": lambda: optx.chain(
            optx.add_decayed_weights(wd),
            optx.adagrad(h["lr"], initial_accumulator_value=0.0, eps=h["eps"]),
        ),
        "rmsprop": lambda: optx.chain(
            optx.add_decayed_weights(wd), optx.rmsprop(h["lr"], decay=h["g1"], eps=h["eps"])
        ),
        "rmsprop_centered": lambda: optx.chain(
            optx.add_decayed_weights(wd),
            optx.rmsprop(h["lr"], h["g1"], h["eps"], centered=True, momentum=h["g2"]),
        ),
        "signum": lambda: optx.signum(h["lr"], h["mom"], weight_decay=wd, wd_lh=h["wd_lh"]),
        "signsgd": lambda: optx.sign_sgd(h["lr"], weight_decay=wd),
        "ftrl": lambda: optx.ftrl(h["lr"], h["l1"], h["beta"], wd),
        "dcasgd": lambda: optx.dcasgd(h["lr"], lamda=h["lamda"], weight_decay=wd),
    }[key]()


@pytest.mark.parametrize(
    "key",
    [
        "sgd_momentum",
        "nag",
        "adagrad",
        "rmsprop",
        "rmsprop_centered",
        "signum",
        "signsgd",
        "ftrl",
        "dcasgd",
    ],
)
def test_mxnet_trajectory(key):
    case = MXNET[key]
    tx = _mxnet_factory(key, case["hyperparams"])
    w = jnp.asarray(case["w0"], jnp.float32)
    state = tx.init(w)
    update = jax.jit(tx.update)
    for grad, expected in zip(case["grads"], case["expected_w"]):
        u, state = update(jnp.asarray(grad, jnp.float32), state, w)
        w = optx.apply_updates(w, u)
        np.testing.assert_allclose(np.asarray(w), expected, atol=1e-6, rtol=0)


def test_sgd_conventions_differ_under_a_schedule_as_semantics_says():
    lrs = jnp.array([0.1, 0.05, 0.025])
    schedule = lambda count: lrs[jnp.minimum(count, 2)]
    results = {}
    for inside in (True, False):
        tx = optx.sgd(schedule, momentum=0.9, lr_inside_momentum=inside)
        w = jnp.zeros(1)
        state = tx.init(w)
        for _ in range(3):
            u, state = tx.update(jnp.ones(1), state, w)
            w = optx.apply_updates(w, u)
        results[inside] = float(w[0])
    assert results[True] == pytest.approx(-0.391, abs=1e-6)  # MXNet
    assert results[False] == pytest.approx(-0.26275, abs=1e-6)  # Optax


# ---------------------------------------------------------------- NumPy from the papers

SHAPES = {"v": (5,), "m": (4, 3), "k": (2, 2, 3, 4)}


def _problem(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads = [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(steps)]
    return params, grads


def _run_optx(tx, params, grads):
    p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    state = tx.init(p)
    update = jax.jit(tx.update)
    for g in grads:
        u, state = update({k: jnp.asarray(v, jnp.float32) for k, v in g.items()}, state, p)
        p = optx.apply_updates(p, u)
    return {k: np.asarray(v, np.float64) for k, v in p.items()}


def _run_numpy(step, state, params, grads):
    w = {k: v.copy() for k, v in params.items()}
    for t, g in enumerate(grads, start=1):
        for k in w:
            w[k], state[k] = step(w[k], g[k], state[k], t)
    return w


def _check(tx, step, init_state, seed=0, steps=STEPS, rtol=2e-5, atol=2e-6):
    params, grads = _problem(seed, steps)
    expected = _run_numpy(step, {k: init_state(v) for k, v in params.items()}, params, grads)
    got = _run_optx(tx, params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], expected[k], rtol=rtol, atol=atol, err_msg=k)


norm = np.linalg.norm


def test_lion_matches_paper():
    lr, b1, b2, wd = 1e-2, 0.9, 0.99, 0.1

    def step(w, g, m, t):
        u = np.sign(b1 * m + (1 - b1) * g)
        return w - lr * (u + wd * w), b2 * m + (1 - b2) * g

    _check(optx.lion(lr, b1, b2, weight_decay=wd), step, np.zeros_like)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"lower_bound": 4.0, "upper_bound": 5.0}, {"bias_correction": False}, {"max_ratio": 1.5}],
    ids=["plain", "bounds", "no_bias_correction", "fastai_cap"],
)
def test_lamb_matches_paper_and_mxnet(kwargs):
    lr, b1, b2, eps, wd = 1e-2, 0.9, 0.999, 1e-6, 0.01

    def step(w, g, state, t):
        m, v = state
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        if kwargs.get("bias_correction", True):
            d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        else:
            d = m / (np.sqrt(v) + eps)
        d = d + wd * w
        r1 = np.clip(norm(w), kwargs.get("lower_bound"), kwargs.get("upper_bound"))
        ratio = r1 / norm(d) if r1 > 0 and norm(d) > 0 else 1.0
        ratio = min(ratio, kwargs.get("max_ratio", np.inf))
        return w - lr * ratio * d, (m, v)

    tx = optx.lamb(lr, b1, b2, eps, weight_decay=wd, **kwargs)
    _check(tx, step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


@pytest.mark.parametrize("clip", [False, True])
def test_lars_matches_paper_mxnet_and_fastai_larc(clip):
    lr, mu, wd, eta, eps = 0.5, 0.9, 1e-3, 0.02, 1e-8

    def step(w, g, m, t):
        ratio = eta * norm(w) / (norm(g) + wd * norm(w) + eps)
        if clip:  # fastai LARC: min(lr, local_lr)
            ratio = min(ratio, 1.0)
        m = mu * m - lr * ratio * (g + wd * w)
        return w + m, m

    tx = optx.lars(lr, wd, trust_coefficient=eta, eps=eps, momentum=mu, clip=clip, paper_ratio=True)
    _check(tx, step, np.zeros_like)


def test_fromage_matches_paper():
    lr = 0.05

    def step(w, g, _, t):
        return (w - lr * norm(w) / norm(g) * g) / np.sqrt(1 + lr * lr), None

    _check(optx.fromage(lr), step, lambda w: None)


def test_rprop_matches_pytorch_rprop_minus():
    lr, em, ep, lo, hi = 0.01, 0.5, 1.2, 1e-6, 0.02

    def step(w, g, state, t):
        prev, size = state
        s = np.sign(g * prev)
        size = np.where(
            s > 0, np.minimum(size * ep, hi), np.where(s < 0, np.maximum(size * em, lo), size)
        )
        g = np.where(s < 0, 0.0, g)
        return w - size * np.sign(g), (g, size)

    # Few distinct gradients, so signs agree and disagree often.
    params, grads = _problem(steps=30)
    grads = [{k: np.sign(v) * (1 + (i % 3)) for k, v in g.items()} for i, g in enumerate(grads)]
    init = lambda w: (np.zeros_like(w), np.full_like(w, lr))
    expected = _run_numpy(step, {k: init(v) for k, v in params.items()}, params, grads)
    got = _run_optx(optx.rprop(lr, em, ep, lo, hi), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6)


def _unit_norm(x):
    axes = None if x.ndim <= 1 else tuple(range(x.ndim - 1))
    return np.sqrt(np.sum(x * x, axis=axes, keepdims=True))


def test_adaptive_grad_clip_matches_paper():
    clipping, eps, lr = 0.05, 1e-3, 0.1

    def step(w, g, _, t):
        limit = clipping * np.maximum(_unit_norm(w), eps)
        gn = _unit_norm(g)
        g = np.where(gn > limit, g * limit / gn, g)
        return w - lr * g, None

    tx = optx.chain(optx.adaptive_grad_clip(clipping, eps), optx.sgd(lr))
    _check(tx, step, lambda w: None)


@pytest.mark.parametrize("unit_axis", [-1, 0])
def test_centralize_matches_paper(unit_axis):
    lr = 0.1

    def step(w, g, _, t):
        if g.ndim > 1:
            keep = unit_axis % g.ndim
            g = g - g.mean(axis=tuple(a for a in range(g.ndim) if a != keep), keepdims=True)
        return w - lr * g, None

    tx = optx.chain(optx.centralize(unit_axis=unit_axis), optx.sgd(lr))
    _check(tx, step, lambda w: None)


def test_clip_by_block_rms_matches_definition():
    threshold, lr = 0.7, 0.1

    def step(w, g, _, t):
        rms = np.sqrt(np.mean(g * g))
        return w - lr * g * min(1.0, threshold / rms), None

    _check(optx.chain(optx.clip_by_block_rms(threshold), optx.sgd(lr)), step, lambda w: None)


def test_signum_with_both_decays_matches_mxnet_kernel():
    lr, mu, wd, wd_lh = 0.01, 0.9, 0.05, 0.1

    def step(w, g, m, t):
        m = mu * m - (1 - mu) * (wd * w + g)
        return (1 - lr * wd_lh) * w + lr * np.sign(m), m

    _check(optx.signum(lr, mu, weight_decay=wd, wd_lh=wd_lh), step, np.zeros_like)


def test_dcasgd_with_momentum_and_decay_matches_mxnet_1x():
    lr, mu, lamda, wd = 0.05, 0.9, 0.5, 0.01

    def step(w, g, state, t):
        m, prev = state
        m = mu * m - lr * (g + wd * w + lamda * g * g * (w - prev))
        return w + m, (m, w.copy())

    tx = optx.dcasgd(lr, mu, lamda, wd)
    _check(tx, step, lambda w: (np.zeros_like(w), w.copy()))


def test_ftrl_with_l2_matches_mxnet_formula():
    lr, l1, beta, wd = 0.1, 0.3, 1.0, 0.2

    def step(w, g, state, t):
        z, n = state
        z = z + g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
        n = n + g * g
        w = np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / ((beta + np.sqrt(n)) / lr + wd), 0)
        return w, (z, n)

    _check(optx.ftrl(lr, l1, beta, wd), step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


@pytest.mark.parametrize("strategy", ["linear", "power2", "sqrt", "lars"])
def test_lbsgd_matches_mxnet_semantics(strategy):
    lr, mu, wd, scale, epochs, per_epoch, begin = 0.1, 0.9, 0.01, 3, 2, 4, 1
    nwup = epochs * per_epoch

    def mult(n, w, g):
        if strategy == "lars":
            w2, g2 = np.sum(w * w), np.sum(g * g)
            return float(np.clip(np.sqrt(w2 / (g2 + wd * w2 + 1e-18)), 0.01, 100))
        if n >= nwup:
            return scale
        frac = n / nwup
        return (
            1 + (scale - 1) * {"linear": frac, "power2": frac**2, "sqrt": np.sqrt(frac)}[strategy]
        )

    def step(w, g, state, t):
        m, cum = state
        n = begin * per_epoch + t
        cum = cum + g
        if n % scale:
            return w, (m, cum)
        avg = cum / scale
        m = mu * m - lr * mult(n, w, avg) * (avg + wd * w)
        return w + m, (m, np.zeros_like(w))

    tx = optx.lbsgd(
        lr,
        mu,
        wd,
        warmup_strategy=strategy,
        warmup_epochs=epochs,
        batch_scale=scale,
        updates_per_epoch=per_epoch,
        begin_epoch=begin,
    )
    _check(tx, step, lambda w: (np.zeros_like(w), np.zeros_like(w)), steps=18)


def test_lbsgd_returns_zero_between_accumulation_boundaries():
    tx = optx.lbsgd(0.1, batch_scale=4)
    w = jnp.ones(3)
    state = tx.init(w)
    moved = []
    for _ in range(8):
        u, state = tx.update(jnp.ones(3), state, w)
        moved.append(bool(jnp.any(u != 0)))
    assert moved == [False, False, False, True] * 2


@pytest.mark.parametrize("nesterov", [False, True], ids=["sgd", "nag"])
def test_mxnet_sgd_and_nag_with_l2_under_a_schedule(nesterov):
    """MXNet's kernels: the rate is inside the momentum and wd is added to the gradient."""
    mu, wd = 0.9, 0.01
    rate = lambda t: 0.1 * 0.8**t  # t is the 0-based count, as optx schedules see it

    def step(w, g, m, t):
        g = g + wd * w
        m = mu * m - rate(t - 1) * g
        return (w + mu * m - rate(t - 1) * g if nesterov else w + m), m

    schedule = lambda count: 0.1 * 0.8 ** count.astype(jnp.float32)
    make = optx.nag if nesterov else lambda *a, **k: optx.sgd(*a, lr_inside_momentum=True, **k)
    _check(make(schedule, mu, weight_decay=wd), step, np.zeros_like)

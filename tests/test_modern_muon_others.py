"""ADOPT, cautious(inner) and ASGD against Optax and NumPy written from the papers and torch.

References: Taniguchi et al. 2024 (ADOPT, Algorithm 1 with the clipped update), Liang et
al. 2024 (Cautious Optimizers, Algorithm 1: ``m = (u * g > 0)``, ``u * m / (m.mean() +
eps)``), torch.optim.ASGD (``eta``, ``mu``, ``ax``). Float64 runs enable x64 per test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 100
W0 = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def _grads(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(W0.shape) * (1 + 0.5 * np.sin(t)) for t in range(steps)]


def _optx_run(tx, grads, dtype=jnp.float64, grad_fn=None):
    """Params after each update; ``grad_fn(w, g)`` makes the gradient from the params."""
    w = jnp.asarray(W0, dtype)
    state, update, out = tx.init(w), jax.jit(tx.update), []
    for g in grads:
        g = jnp.asarray(g if grad_fn is None else grad_fn(np.asarray(w), g), dtype)
        u, state = update(g, state, w)
        w = optx.apply_updates(w, u)
        assert w.dtype == dtype
        out.append(np.asarray(w))
    return out, state


# ---- ADOPT ----

ADOPT_VARIANTS = {
    "defaults": {},
    "nesterov": {"nesterov": True, "b2": 0.99},
    "unclipped": {"use_clipping": False, "eps": 1e-3},
    "clip_fn": {"clip_value_fn": lambda count: 1.0 + 0.1 * count},
}


def _pulled(w, g):
    return w - 0.3 + 0.5 * g  # a gradient that depends on the params


@pytest.mark.parametrize("variant", sorted(ADOPT_VARIANTS))
def test_adopt_matches_optax_contrib_adopt(variant):
    kwargs, grads = ADOPT_VARIANTS[variant], _grads(1)
    ours, _ = _optx_run(optx.adopt(0.01, **kwargs), grads, jnp.float32, _pulled)
    with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
        theirs, _ = _optx_run(optax.contrib.adopt(0.01, **kwargs), grads, jnp.float32, _pulled)
    # Measured over 100 steps: at most 2e-6 absolute (params of size 0.1 to 1; 5e-4
    # relative only on entries crossing zero), float32 rounding of two equal forms of the
    # moment (optx m + (1 - b)(g - m), Optax b m + (1 - b) g) fed back through the params.
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-6)


def _numpy_adopt(grads, lr, b1, b2, eps, nesterov=False):
    """Taniguchi et al., Algorithm 1 (clipped): v_0 = g_0^2, then for t = 1, 2, ..."""
    w, out = W0.copy(), [W0.copy()]  # the first gradient only initializes v
    m, v = np.zeros_like(w), _pulled(w, grads[0]) ** 2
    for t, g in enumerate(grads[1:], start=1):
        g = _pulled(w, g)
        s = np.clip(g / np.maximum(np.sqrt(v), eps), -(t**0.25), t**0.25)
        m = b1 * m + (1 - b1) * s
        w = w - lr * (b1 * m + (1 - b1) * s if nesterov else m)
        v = b2 * v + (1 - b2) * g**2
        out.append(w)
    return out


@pytest.mark.parametrize("nesterov", [False, True])
def test_adopt_matches_the_paper_algorithm_float64(nesterov):
    grads = _grads(2)
    expected = _numpy_adopt(grads, 0.01, 0.9, 0.9999, 1e-6, nesterov)
    with jax.enable_x64(True):
        got, _ = _optx_run(optx.adopt(0.01, nesterov=nesterov), grads, grad_fn=_pulled)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_adopt_bad_arguments():
    with pytest.raises(ValueError, match=r"optx\.adopt: b2 must be in \[0, 1\), got 1"):
        optx.adopt(b2=1.0)
    with pytest.raises(ValueError, match=r"optx\.adopt: eps must be >= 0, got -1"):
        optx.adopt(eps=-1.0)
    with pytest.raises(TypeError, match=r"optx\.adopt: clip_value_fn must be a function"):
        optx.adopt(clip_value_fn=2.0)
    unclipped = optx.adopt(use_clipping=False)  # complex params are fine without the clip
    state = unclipped.init(jnp.zeros(2, jnp.complex64))
    assert jax.tree.leaves(state)[2].dtype == jnp.float32  # nu is real


# ---- cautious(inner) ----


def _numpy_cautious_adamw(grads, lr, b1, b2, eps, wd, caution_eps, mask_decay):
    """torch's AdamW step with the paper's mask, on u = the Adam direction (+ decay)."""
    w, m, v, out = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), []
    for t, g in enumerate(grads, start=1):
        g = _pulled(w, g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        if mask_decay:  # cautious(adamw): the decay is part of the masked step
            u = u + wd * w
        keep = (u * g > 0).astype(np.float64)
        step = u * keep / (keep.mean() + caution_eps)
        w = w - lr * step - (0.0 if mask_decay else lr * wd * w)
        out.append(w)
    return out


@pytest.mark.parametrize("form", ["wrapped_optimizer", "paper_c_adamw"])
def test_cautious_matches_the_paper_float64(form):
    lr, wd, grads = 0.05, 0.1, _grads(3)
    if form == "wrapped_optimizer":  # steps (u * g < 0 kept), decay masked with them
        make = lambda: optx.cautious(optx.adamw(lr, weight_decay=wd), eps=1e-3)  # noqa: E731
    else:  # the paper's C-AdamW: mask the Adam direction (u * g > 0), decay unmasked
        make = lambda: optx.chain(  # noqa: E731
            optx.cautious(optx.scale_by_adam(), eps=1e-3, inner_output="directions"),
            optx.add_decayed_weights(wd),
            optx.scale_by_learning_rate(lr),
        )
    expected = _numpy_cautious_adamw(
        grads, lr, 0.9, 0.999, 1e-8, wd, 1e-3, form == "wrapped_optimizer"
    )
    with jax.enable_x64(True):
        got, _ = _optx_run(make(), grads, grad_fn=_pulled)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_cautious_sign_kept_components_descend_both_ways():
    grads = [jnp.asarray(g, jnp.float32) for g in _grads(4, 20)]
    as_updates = optx.cautious(optx.sgd(0.1, momentum=0.9))
    as_directions = optx.chain(
        optx.cautious(optx.trace(0.9), inner_output="directions"), optx.scale_by_learning_rate(0.1)
    )
    wrong_sign = optx.cautious(optx.sgd(0.1, momentum=0.9), inner_output="directions")
    s1, s2, s3 = (tx.init(grads[0]) for tx in (as_updates, as_directions, wrong_sign))
    for g in grads:
        u1, s1 = as_updates.update(g, s1)
        u2, s2 = as_directions.update(g, s2)
        u3, s3 = wrong_sign.update(g, s3)
        np.testing.assert_allclose(u1, u2, rtol=1e-6)  # the same mask either way
        kept = np.asarray(u1) != 0
        assert np.all(np.asarray(u1 * g)[kept] < 0)  # every kept component descends
        assert np.all(np.asarray(u3 * g)[np.asarray(u3) != 0] > 0)  # the wrong sign ascends
    assert 0 < kept.mean() < 1  # the momentum disagrees with some gradients


def test_cautious_adamw_converges():
    target = jnp.linspace(-2.0, 2.0, 12).reshape(4, 3)
    scales = jnp.linspace(1.0, 30.0, 12).reshape(4, 3)
    loss = lambda w: 0.5 * jnp.sum(scales * (w - target) ** 2)  # noqa: E731
    tx = optx.cautious(optx.adamw(0.05, weight_decay=1e-4))

    def step(carry, _):
        w, state = carry
        u, state = tx.update(jax.grad(loss)(w), state, w)
        return (optx.apply_updates(w, u), state), None

    w0 = jnp.zeros((4, 3))
    (w, _), _ = jax.jit(lambda w: jax.lax.scan(step, (w, tx.init(w)), length=600))(w0)
    assert float(loss(w)) < 1e-4 * float(loss(w0))


def test_cautious_passes_masks_schedules_and_hyperparams_to_the_inner_state():
    params = {"w": jnp.asarray(W0, jnp.float32), "b": jnp.array([0.5, -0.5, 0.1])}
    schedule = optx.schedules.linear_schedule(0.1, 0.01, 10)
    inner = optx.adamw(schedule, weight_decay=0.1, mask={"w": True, "b": False})
    tx = optx.cautious(inner)
    s_in, s_c = inner.init(params), tx.init(params)
    for g in _grads(5, 5):
        grads = {"w": jnp.asarray(g, jnp.float32), "b": jnp.asarray(g[0], jnp.float32)}
        u_in, s_in = inner.update(grads, s_in, params)
        u_c, s_c = tx.update(grads, s_c, params)
        # The inner state evolves exactly as without the wrapper ...
        for a, b in zip(jax.tree.leaves(s_in), jax.tree.leaves(s_c.inner_state)):
            np.testing.assert_array_equal(a, b)
        # ... and the update is the inner update, masked and rescaled per leaf.
        for k in params:
            keep = np.asarray(u_in[k] * grads[k]) < 0
            want = np.where(keep, np.asarray(u_in[k]) / (keep.mean() + 1e-8), 0.0)
            np.testing.assert_allclose(u_c[k], want, rtol=1e-6, atol=1e-9, err_msg=k)
    assert optx.get_hyperparams(s_c) == optx.get_hyperparams(s_in)
    assert float(optx.get_hyperparams(s_c)["learning_rate"]) == pytest.approx(0.064)  # schedule(4)
    changed = optx.set_hyperparams(s_c, b1=0.5)
    assert float(optx.get_hyperparams(changed.inner_state)["b1"]) == 0.5


def test_cautious_bad_arguments():
    with pytest.raises(ValueError, match=r"optx\.cautious: eps must be >= 0, got -1"):
        optx.cautious(optx.adam(), eps=-1.0)
    with pytest.raises(ValueError, match=r"optx\.cautious: inner_output must be one of"):
        optx.cautious(optx.adam(), inner_output="steps")
    with pytest.raises(TypeError, match=r"optx\.cautious"):
        optx.cautious(optx.adam)


# ---- ASGD ----


def _numpy_asgd(grads, lr, lambd, alpha, t0, weight_decay):
    """torch.optim.ASGD: eta = lr, mu = 1, ax = 0 at first; then per step t = 1, 2, ..."""
    w, ax, eta, mu, out = W0.copy(), np.zeros_like(W0), lr, 1.0, []
    for t, g in enumerate(grads, start=1):
        g = _pulled(w, g) + weight_decay * w
        w = w * (1 - lambd * eta)
        w = w - eta * g
        ax = w.copy() if mu == 1 else ax + (w - ax) * mu
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        out.append((w, ax, eta, mu))
    return out


@pytest.mark.parametrize("t0", [10.0, 1e6])
def test_asgd_matches_torch_documented_rule_float64(t0):
    lr, lambd, alpha, wd, grads = 0.05, 0.02, 0.75, 1e-3, _grads(6)
    expected = _numpy_asgd(grads, lr, lambd, alpha, t0, wd)
    with jax.enable_x64(True):
        tx = optx.asgd(lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=wd)
        w = jnp.asarray(W0)
        state, update = tx.init(w), jax.jit(tx.update)
        for g, (w_ref, ax_ref, eta_ref, mu_ref) in zip(grads, expected):
            u, state = update(jnp.asarray(_pulled(np.asarray(w), g)), state, w)
            w = optx.apply_updates(w, u)
            np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(optx.asgd_average(state), ax_ref, rtol=1e-10, atol=1e-12)
            asgd_state = state[1]
            np.testing.assert_allclose(asgd_state.eta, eta_ref, rtol=1e-12)
            assert float(asgd_state.mu) == pytest.approx(mu_ref, rel=1e-12)
            assert optx.asgd_average(state).dtype == jnp.float64
    if t0 == 1e6:  # no averaging yet: the average is the params
        np.testing.assert_array_equal(optx.asgd_average(state), w)
    else:  # mu = 1 up to step t0 + 2 = 12, then 1/2, 1/3, ...: the mean of iterates 12..100
        np.testing.assert_allclose(
            optx.asgd_average(state), np.mean([e[0] for e in expected[11:]], axis=0), rtol=1e-10
        )


def test_asgd_average_finds_the_state_and_casts_like_params():
    w = {"a": jnp.ones(3, jnp.bfloat16)}
    tx = optx.chain(optx.clip_by_global_norm(1.0), optx.asgd(0.1))
    state = tx.init(w)
    u, state = tx.update({"a": jnp.ones(3, jnp.bfloat16)}, state, w)
    assert optx.asgd_average(state)["a"].dtype == jnp.float32  # kept wide
    assert optx.asgd_average(state, like=w)["a"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"optx\.asgd_average: the state holds 0 scale_by"):
        optx.asgd_average(optx.adam().init(w))
    with pytest.raises(ValueError, match=r"needs the current params"):
        optx.asgd().update(w, optx.asgd().init(w))
    with pytest.raises(ValueError, match=r"optx\.asgd: lambd must be >= 0, got -1"):
        optx.asgd(lambd=-1.0)

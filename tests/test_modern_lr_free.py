"""Prodigy and D-Adaptation AdamW: against Optax contrib, float64 NumPy references of the
papers' Adam versions, and the estimated step size d growing from d0."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 100
RTOL_STEP = 3e-5
SCALES = np.linspace(0.5, 2.0, 12).reshape(3, 4)
PARAMS = {"w": np.linspace(-3.0, 5.0, 12).reshape(3, 4), "b": np.array([10.0, -7.0])}
CONFIGS = {
    "prodigy": [
        {},
        {"learning_rate": 0.5, "weight_decay": 0.01, "beta3": 0.99},
        {"betas": (0.8, 0.99), "safeguard_warmup": True, "estim_lr_coef": 0.5},
    ],
    "dadapt_adamw": [
        {},
        {"learning_rate": 0.5, "weight_decay": 0.01},
        {"betas": (0.8, 0.99), "estim_lr0": 1e-4},
    ],
}
CASES = [(name, kw) for name, configs in CONFIGS.items() for kw in configs]
IDS = [f"{name}-{i}" for name, configs in CONFIGS.items() for i in range(len(configs))]


def _params(dtype):
    return jax.tree.map(lambda p: jnp.asarray(p, dtype), PARAMS)


def _draw(step, dtype):
    return 0.1 * jax.random.normal(jax.random.fold_in(jax.random.key(0), step), (3, 4), dtype)


@functools.cache
def _noises(dtype):
    """`_draw` of every step, stacked (drawn once: threefry in a scan body compiles slowly)."""
    raw = jax.vmap(
        lambda step: jax.random.normal(jax.random.fold_in(jax.random.key(0), step), (3, 4), dtype)
    )
    return 0.1 * jax.jit(raw)(jnp.arange(STEPS))  # the same values as _draw, bit for bit


def _grads(params, step, noise=None):
    """A noisy quadratic with its minimum at w = 1, b = 2 (deterministic per step)."""
    dtype = params["w"].dtype
    noise = _draw(step, dtype) if noise is None else noise
    w = jnp.asarray(SCALES, dtype) * (params["w"] - 1.0) + noise
    return {"w": w, "b": params["b"] - 2.0}


def _trajectories(params, *runs):
    """For each (tx, promotion): the (params, grads, state) before each of the STEPS updates
    (stacked along a leading axis), and the final params and state. All runs go in one
    jitted scan, each traced under its promotion (Optax relies on "standard")."""

    def body(carry, noise):
        out, seen = [], []
        for (tx, promotion), (p, s) in zip(runs, carry):
            with jax.numpy_dtype_promotion(promotion):
                g = _grads(p, None, noise)
                updates, new = tx.update(g, s, p)
                out.append((optax.apply_updates(p, updates), new))
            seen.append((p, g, s))
        return out, seen

    @jax.jit
    def run(params, noises):
        init = []
        for tx, promotion in runs:
            with jax.numpy_dtype_promotion(promotion):
                init.append((params, tx.init(params)))
        return jax.lax.scan(body, init, noises)

    final, seen = run(params, _noises(jnp.dtype(params["w"].dtype)))
    return [(seen_i, p, s) for seen_i, (p, s) in zip(seen, final)]


def _ours_and_optax(name, kwargs, params):
    """`_trajectories` of optx's `name` (strict promotion) and optax.contrib's."""
    runs = (
        (getattr(optx, name)(**kwargs), "strict"),
        (getattr(optax.contrib, name)(**kwargs), "standard"),
    )
    return _trajectories(params, *runs)


def _close_scaled(a, b, rtol, what=""):
    """max |a - b| <= rtol * max |b| per leaf (entries that cancel to near 0 are compared at
    the scale of their leaf)."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        error = np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30)
        assert error <= rtol, f"{what}: relative error {error:.3g}"


def _close(a, b, rtol, atol=0.0, what=""):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_each_of_100_float32_steps_matches_optax(name, kwargs):
    """From Optax's state at every step of its run, optx's update and new state agree to
    1e-5. A free run cannot: d grows geometrically at first (d / d0 ~ 1e6), and a float32
    rounding difference in the ratio r / ||s||_1 is amplified about 1e4 times (both runs
    agree to 1e-12 in float64, below). Optax's float32 ``1 - 0.999**t`` is itself off by
    1.3e-5 at t = 1 (optx's is exact), 6e-6 on the step."""
    tx = getattr(optx, name)(**kwargs)
    theirs_tx = getattr(optax.contrib, name)(**kwargs)
    fresh = tx.init(_params(jnp.float32))[0]

    def body(carry, noise):
        """One step of Optax's run, and optx's update from the same state."""
        params, theirs = carry
        with jax.numpy_dtype_promotion("standard"):
            grads = _grads(params, None, noise)
            updates_o, new_o = theirs_tx.update(grads, theirs, params)
            next_params = optax.apply_updates(params, updates_o)
        fields = {f: getattr(theirs, f) for f in theirs._fields}
        updates, (new, _) = tx.update(grads, (fresh._replace(**fields), optx.EmptyState()), params)
        return (next_params, new_o), (theirs, updates, new, updates_o, new_o)

    @jax.jit
    def run(params, noises):
        with jax.numpy_dtype_promotion("standard"):
            init = (params, theirs_tx.init(params))
        return jax.lax.scan(body, init, noises)[1]

    per_step = jax.tree.map(np.asarray, run(_params(jnp.float32), _noises(jnp.dtype("float32"))))
    for step in range(STEPS):
        _, updates, new, updates_o, new_o = jax.tree.map(lambda x: x[step], per_step)
        what = f"{name} step {step + 1}"
        _close_scaled(updates, updates_o, RTOL_STEP, what)
        for field in ("estim_lr", "exp_avg", "exp_avg_sq", "grad_sum"):
            _close_scaled(getattr(new, field), getattr(new_o, field), RTOL_STEP, f"{what} {field}")
        # r adds inner products of either sign (summed over leaves in another order than
        # Optax's vdot); where they cancel its relative rounding grows: measured <= 5e-5.
        _close(new.numerator_weighted, new_o.numerator_weighted, 2e-4, 0.0, f"{what} r")
    seen = per_step[0]  # Optax's state before each update
    assert seen.estim_lr.shape == (STEPS,)
    assert float(seen.estim_lr[-1]) > 100 * float(seen.estim_lr[0])  # d did grow


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_100_float32_steps_end_near_optax_and_float64_steps_equal_it(name, kwargs):
    (_, ours, state), (_, theirs, state_o) = _ours_and_optax(name, kwargs, _params(jnp.float32))
    _close(ours, theirs, 2e-3, 1e-4)  # the free run's amplified rounding, measured <= 6e-4
    _close(state[0].estim_lr, state_o.estim_lr, 1e-3)
    with jax.enable_x64(True):
        runs = _ours_and_optax(name, kwargs, _params(jnp.float64))
        ((seen, _, _), ours, state), ((seen_o, _, _), theirs, state_o) = runs
        assert ours["w"].dtype == jnp.float64
        seen, seen_o = jax.tree.map(np.asarray, (seen, seen_o))
        assert seen["w"].shape == (STEPS, 3, 4)
        for step in range(STEPS):
            p, p_o = jax.tree.map(lambda x: x[step], (seen, seen_o))
            _close(p, p_o, 1e-10, 1e-12, f"step {step}")
        _close(ours, theirs, 1e-10, 1e-12)
        _close(state[0].estim_lr, state_o.estim_lr, 1e-10)


def _gammas(lr, b1, b2, steps):
    """The papers' step size gamma_k taken as lr * sqrt(1 - b2**t) / (1 - b1**t) (t = k + 1),
    the bias-corrected form the authors' code and Optax use."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    return lr * np.sqrt(1 - b2**t) / (1 - b1**t)


def _prodigy_reference(
    x, grad, steps, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, d0=1e-6, eps_scale="d_next"
):
    """Prodigy, Adam version (Algorithm 3 of Mishchenko and Defazio, 2023), float64:

    m = b1 m + (1 - b1) d g;  v = b2 v + (1 - b2) d**2 g**2;
    r = sqrt(b2) r + (1 - sqrt(b2)) gamma d**2 <g, x0 - x>;
    s = sqrt(b2) s + (1 - sqrt(b2)) gamma d**2 g;
    d_next = max(d, r / ||s||_1);  x = x - gamma d m / (sqrt(v) + d eps).

    The box scales eps by d (``eps_scale="d"``); Optax and the authors' code (and optx) by
    d_next (the default here).
    """
    x0, q = x.copy(), np.sqrt(b2)
    m, v, s, r, d, xs = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x), 0.0, d0, []
    for k, gamma in enumerate(_gammas(lr, b1, b2, steps)):
        g = grad(x, k)
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d**2 * g**2
        r = q * r + (1 - q) * gamma * d**2 * np.dot(g, x0 - x)
        s = q * s + (1 - q) * gamma * d**2 * g
        d_next = max(d, r / np.sum(np.abs(s)))
        x = x - gamma * d * m / (np.sqrt(v) + (d_next if eps_scale == "d_next" else d) * eps)
        d = d_next
        xs.append((x, d))
    return xs


def _dadapt_reference(x, grad, steps, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, d0=1e-6):
    """D-Adapted Adam (Defazio and Mishchenko, 2023, the Adam version in the appendix),
    float64, with A_k = diag(sqrt(v_k) + eps):

    r = sqrt(b2) r + (1 - sqrt(b2)) gamma d <g, s>_{A_k^-1}   (s and A before the step);
    m = b1 m + (1 - b1) gamma d g;  v = b2 v + (1 - b2) g**2;
    s = sqrt(b2) s + (1 - sqrt(b2)) gamma d g;
    x = x - m / (sqrt(v) + eps);  d = max(d, r / ((1 - sqrt(b2)) ||s||_1)).
    """
    q = np.sqrt(b2)
    m, v, s, r, d, xs = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x), 0.0, d0, []
    for k, gamma in enumerate(_gammas(lr, b1, b2, steps)):
        g = grad(x, k)
        r = q * r + (1 - q) * gamma * d * np.dot(g, s / (np.sqrt(v) + eps))
        m = b1 * m + (1 - b1) * gamma * d * g
        v = b2 * v + (1 - b2) * g**2
        s = q * s + (1 - q) * gamma * d * g
        x = x - m / (np.sqrt(v) + eps)
        d = max(d, r / ((1 - q) * np.sum(np.abs(s))))
        xs.append((x, d))
    return xs


@pytest.mark.parametrize(
    ("name", "reference"),
    [("prodigy", _prodigy_reference), ("dadapt_adamw", _dadapt_reference)],
)
@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.7, "b1": 0.8, "b2": 0.99}])
def test_float64_matches_the_papers_algorithm(name, reference, kwargs):
    scales = np.linspace(0.5, 2.0, 8)
    noise = np.random.default_rng(0).normal(size=(STEPS, 8))

    def grad(x, step):
        return scales * (x - 5.0) + 0.1 * noise[step]

    x0 = np.linspace(-3.0, 3.0, 8)
    expected = reference(x0, grad, STEPS, **kwargs)
    args = {}
    if kwargs:
        args = {"learning_rate": kwargs["lr"], "betas": (kwargs["b1"], kwargs["b2"])}
    with jax.enable_x64(True):
        tx = getattr(optx, name)(**args)
        x = jnp.asarray(x0)
        state, update = tx.init(x), jax.jit(tx.update)
        for step, (x_ref, d_ref) in enumerate(expected):
            updates, state = update(jnp.asarray(grad(np.asarray(x), step)), state, x)
            x = optx.apply_updates(x, updates)
            _close_scaled(x, x_ref, 1e-12, f"step {step}")
            np.testing.assert_allclose(state[0].estim_lr, d_ref, rtol=1e-12)
    assert expected[-1][1] > 1e3 * expected[0][1]  # the estimate moved
    if name == "prodigy":  # eps scaled by d (the box) or d_next: a difference of 1e-7 at most
        boxed = reference(x0, grad, STEPS, **kwargs, eps_scale="d")
        for (a, d_a), (b, d_b) in zip(boxed, expected):
            _close_scaled(a, b, 1e-6)
            np.testing.assert_allclose(d_a, d_b, rtol=1e-6)


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_d_grows_from_d0_toward_the_distance_of_a_far_optimum(name):
    """The point of both methods: from d0 = 1e-6, d grows (monotonically) to the scale of
    the distance to the solution (here 100 per coordinate), and the iterates get there, where
    Adam with the step size d0 would not move."""
    target = jnp.full(16, 100.0)

    def grad(x):
        return jnp.linspace(0.5, 2.0, 16) * (x - target)

    tx = getattr(optx, name)()

    def step(carry, _):
        x, state = carry
        updates, state = tx.update(grad(x), state, x)
        return (optx.apply_updates(x, updates), state), state[0].estim_lr

    x0 = jnp.zeros(16)
    (x, state), ds = jax.jit(lambda c: jax.lax.scan(step, c, None, length=400))((x0, tx.init(x0)))
    ds = np.asarray(ds)
    assert ds[0] == pytest.approx(1e-6)
    assert np.all(np.diff(ds) >= 0)
    assert 1.0 < ds[-1] < 1e3  # from 1e-6 to the order of the distance (100 in inf-norm)
    assert float(jnp.max(jnp.abs(x - target))) < 1.0
    adam = optx.adam(1e-6)
    moved = optx.apply_updates(x0, adam.update(grad(x0), adam.init(x0))[0])
    assert float(jnp.max(jnp.abs(moved - x0))) < 1e-5


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_zero_gradients_keep_d0_and_stay_finite(name):
    """Where ||s||_1 = 0 the estimate is kept (Optax's divides 0 by 0 and becomes NaN)."""
    tx = getattr(optx, name)()
    params = _params(jnp.float32)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    for _ in range(3):
        updates, state = tx.update(zeros, state, params)
    assert float(state[0].estim_lr) == pytest.approx(1e-6)
    assert all(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_scalars_follow_the_params_precision_and_updates_keep_bf16(name):
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), _params(jnp.float32))
    tx = getattr(optx, name)()
    state = tx.init(params)
    assert state[0].estim_lr.dtype == jnp.float32
    assert {m.dtype for m in jax.tree.leaves(state[0].exp_avg)} == {jnp.dtype(jnp.float32)}
    updates, _ = tx.update(_grads(params, 0), state, params)
    assert {u.dtype for u in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_bad_arguments_raise_naming_the_call(name):
    make = getattr(optx, name)
    with pytest.raises(ValueError, match=rf"optx\.{name}: betas must be a pair"):
        make(betas=(0.9,))
    with pytest.raises(ValueError, match=rf"optx\.{name}: beta1 must be in \[0, 1\)"):
        make(betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=rf"optx\.{name}: estim_lr0 must be"):
        make(estim_lr0=0.0)
    with pytest.raises(ValueError, match=rf"optx\.{name}: eps must be"):
        make(eps=-1.0)
    with pytest.raises(ValueError, match=rf"optx\.{name}: update\(\) needs the current params"):
        tx = make()
        tx.update(_params(jnp.float32), tx.init(_params(jnp.float32)))

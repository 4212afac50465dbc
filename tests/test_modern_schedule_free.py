"""Schedule-Free: against Optax contrib, a float64 NumPy reference of the paper's Algorithm 1,
convergence with warmup, and what the evaluation sequence x is."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 100
SCALES = jnp.linspace(0.5, 2.0, 12).reshape(3, 4)
PARAMS = {"w": jnp.linspace(-3.0, 5.0, 12).reshape(3, 4), "b": jnp.array([10.0, -7.0])}


def _grads(params, step, noise=None):
    """A noisy quadratic with its minimum at w = 1, b = 2 (deterministic per step)."""
    if noise is None:
        key = jax.random.fold_in(jax.random.key(0), step)
        noise = 0.1 * jax.random.normal(key, (3, 4), params["w"].dtype)
    scales = SCALES.astype(params["w"].dtype)
    return {"w": scales * (params["w"] - 1.0) + noise, "b": params["b"] - 2.0}


@functools.cache
def _noises(dtype):
    """The noise of `_grads` at every step, stacked, bit for bit (drawn once: threefry in a
    scan body compiles slowly)."""
    key = jax.random.key(0)
    raw = jax.vmap(lambda step: jax.random.normal(jax.random.fold_in(key, step), (3, 4), dtype))
    return 0.1 * jax.jit(raw)(jnp.arange(STEPS))


def _run(tx, params, eval_params, steps=STEPS):
    """The params and evaluation params after each of ``steps`` updates."""
    state, update, ys, xs = tx.init(params), jax.jit(tx.update), [], []
    eval_params = jax.jit(eval_params)
    for step in range(steps):
        updates, state = update(_grads(params, step), state, params)
        params = optax.apply_updates(params, updates)
        ys.append(params)
        xs.append(eval_params(state, params))
    return ys, xs, state


def _assert_runs_close(ours, theirs, rtol, atol=1e-6):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"step {step + 1}")


def _run_optax(tx, params, steps=STEPS):
    with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
        return _run(tx, params, optax.contrib.schedule_free_eval_params, steps)


def _compare_with_optax(ours, theirs, rtol, atol=1e-6, params=PARAMS):
    """Both runs' params and evaluation params at every step, from one jitted scan (Optax
    traced under standard promotion, which it relies on; optx under strict)."""

    def body(carry, noise):
        (p, s), (po, so) = carry
        updates, s = ours.update(_grads(p, None, noise), s, p)
        p = optax.apply_updates(p, updates)
        with jax.numpy_dtype_promotion("standard"):
            updates_o, so = theirs.update(_grads(po, None, noise), so, po)
            po = optax.apply_updates(po, updates_o)
            xo = optax.contrib.schedule_free_eval_params(so, po)
        return ((p, s), (po, so)), (p, optx.schedule_free_eval_params(s, p), po, xo)

    @jax.jit
    def run(params, noises):
        with jax.numpy_dtype_promotion("standard"):
            optax_state = theirs.init(params)
        return jax.lax.scan(body, ((params, ours.init(params)), (params, optax_state)), noises)[1]

    stacked = jax.tree.map(np.asarray, run(params, _noises(jnp.dtype(params["w"].dtype))))
    ys, xs, ys_o, xs_o = (
        [jax.tree.map(lambda x, t=t: x[t], tree) for t in range(STEPS)] for tree in stacked
    )
    _assert_runs_close(ys, ys_o, rtol, atol)
    _assert_runs_close(xs, xs_o, rtol, atol)


def test_schedule_free_sgd_matches_optax():
    _compare_with_optax(
        optx.schedule_free_sgd(0.1, weight_decay=1e-3, b1=0.8),
        optax.contrib.schedule_free_sgd(0.1, weight_decay=1e-3, b1=0.8),
        rtol=1e-5,
    )


def test_schedule_free_adamw_matches_optax():
    # b2 = 0.5: Optax's float32 1 - b2**t is exact, so the runs agree to rounding.
    _compare_with_optax(
        optx.schedule_free_adamw(0.05, b2=0.5, weight_decay=0.01),
        optax.contrib.schedule_free_adamw(0.05, b2=0.5, weight_decay=0.01),
        rtol=1e-5,
    )


def test_schedule_free_adamw_default_b2_matches_optax_within_its_bias_correction_error():
    # Optax's float32 1 - 0.999**t is off by up to 1.3e-5 relative (0.999 is not a float32);
    # optx's is exact. Over 100 steps that moves the iterates by up to 1.1e-4 (measured), so
    # float32 agrees to 3e-4 (atol 2e-5 for entries near 0) and float64 (where both are
    # exact) to 1e-12.
    kwargs = {"learning_rate": 0.05, "weight_decay": 0.01}
    _compare_with_optax(
        optx.schedule_free_adamw(**kwargs),
        optax.contrib.schedule_free_adamw(**kwargs),
        rtol=3e-4,
        atol=2e-5,
    )
    with jax.enable_x64(True):
        _compare_with_optax(
            optx.schedule_free_adamw(**kwargs),
            optax.contrib.schedule_free_adamw(**kwargs),
            rtol=1e-12,
            atol=1e-13,
            params=jax.tree.map(lambda p: p.astype(jnp.float64), PARAMS),
        )


def test_schedule_free_wrapper_matches_optax_around_adam_without_momentum():
    _compare_with_optax(
        optx.schedule_free(optx.adam(0.05, b1=0.0, b2=0.5), 0.05, b1=0.8, weight_lr_power=1.0),
        optax.contrib.schedule_free(
            optax.adam(0.05, b1=0.0, b2=0.5), 0.05, b1=0.8, weight_lr_power=1.0
        ),
        rtol=1e-5,
    )


def test_warmup_matches_optax_given_the_rate_of_the_same_step():
    # optx weights each step with the rate that step used; Optax reads its schedule for the
    # weights at the 1-based step_count (one step ahead). Given warmup(count - 1) for the
    # weights, Optax computes the same thing; its own alias differs during the warmup.
    warmup = optax.warmup_constant_schedule(0.0, 0.1, 10)
    ours = optx.schedule_free_sgd(0.1, warmup_steps=10)
    _compare_with_optax(
        ours,
        optax.contrib.schedule_free(optax.sgd(warmup), lambda count: warmup(count - 1)),
        rtol=1e-5,
    )
    ys, _, _ = _run(ours, PARAMS, optx.schedule_free_eval_params, steps=3)
    ys_o, _, _ = _run_optax(optax.contrib.schedule_free_sgd(0.1, warmup_steps=10), PARAMS, 3)
    assert not np.allclose(ys[-1]["b"], ys_o[-1]["b"], rtol=1e-3)


def _paper_algorithm_1(y0, grad, steps, lr, warmup, b1, b2, eps, wd):
    """Schedule-Free AdamW, Algorithm 1 of Defazio et al. (2024), in float64 NumPy.

    y_t = (1 - b1) z_t + b1 x_t;  v_t = b2 v + (1 - b2) g_t**2 (g at y_t);
    gamma_t = lr sqrt(1 - b2**t) min(1, t / warmup);
    z_{t+1} = z_t - gamma_t g_t / (sqrt(v_t) + eps) - gamma_t wd y_t;
    c_{t+1} = gamma_t**2 / sum_{i<=t} gamma_i**2;  x_{t+1} = (1 - c) x_t + c z_{t+1}.
    """
    x = z = np.asarray(y0, np.float64)
    v, total, ys, xs = np.zeros_like(x), 0.0, [], []
    for t in range(1, steps + 1):
        y = (1 - b1) * z + b1 * x
        g = grad(y, t - 1)
        v = b2 * v + (1 - b2) * g**2
        gamma = lr * np.sqrt(1 - b2**t) * min(1.0, t / warmup)
        z = z - gamma * g / (np.sqrt(v) + eps) - gamma * wd * y
        total += gamma**2
        c = gamma**2 / total
        x = (1 - c) * x + c * z
        ys.append((1 - b1) * z + b1 * x)
        xs.append(x)
    return ys, xs


def test_schedule_free_matches_the_papers_algorithm_1_in_float64():
    lr, warmup, b1, b2, eps, wd = 0.05, 10, 0.9, 0.999, 1e-8, 0.01
    scales = np.linspace(0.5, 2.0, 6)
    noise = np.random.default_rng(0).normal(size=(STEPS, 6))

    def grad(y, step):
        return scales * (y - 1.0) + 0.1 * noise[step]

    y0 = np.linspace(-3.0, 5.0, 6)
    ys_ref, xs_ref = _paper_algorithm_1(y0, grad, STEPS, lr, warmup, b1, b2, eps, wd)

    def gamma(count):  # the paper's gamma_t with t = count + 1 (optx schedules are 0-based)
        t = (count + 1).astype(jnp.float64)
        return lr * jnp.sqrt(1 - b2**t) * jnp.minimum(1.0, t / warmup)

    with jax.enable_x64(True):
        base = optx.chain(
            optx.scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=False),
            optx.add_decayed_weights(wd),
            optx.scale_by_learning_rate(gamma),
        )
        tx = optx.schedule_free(base, None, b1=b1)  # weights gamma_t**2: max_lr = gamma_t
        y = jnp.asarray(y0)
        state, update = tx.init(y), jax.jit(tx.update)
        for step in range(STEPS):
            updates, state = update(jnp.asarray(grad(np.asarray(y), step)), state, y)
            y = optx.apply_updates(y, updates)
            assert y.dtype == jnp.float64
            np.testing.assert_allclose(y, ys_ref[step], rtol=1e-11, atol=1e-12)
            x = optx.schedule_free_eval_params(state, y)
            np.testing.assert_allclose(x, xs_ref[step], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(
    "tx",
    [
        optx.schedule_free_sgd(0.1, warmup_steps=50),
        optx.schedule_free_adamw(0.1, warmup_steps=50),
    ],
    ids=["sgd", "adamw"],
)
def test_converges_on_a_quadratic_with_warmup(tx):
    def loss(p):
        return 0.5 * jnp.sum(jnp.linspace(1.0, 10.0, 8) * (p - 3.0) ** 2)

    def step(carry, _):
        y, state = carry
        updates, state = tx.update(jax.grad(loss)(y), state, y)
        return (optx.apply_updates(y, updates), state), None

    y = jnp.zeros(8)
    (y, state), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, length=1000))((y, tx.init(y)))
    x = optx.schedule_free_eval_params(state, y)
    assert float(loss(x)) < 1e-6 * float(loss(jnp.zeros(8)))
    assert float(optx.get_hyperparams(state)["learning_rate"]) == pytest.approx(0.1)


def test_eval_params_are_the_average_of_z_and_y_interpolates_them():
    """With a constant rate x_t is the plain mean of z_1..z_t (c = 1/t), and the params the
    gradients are taken at are y = b1 x + (1 - b1) z (section 2 of the paper)."""
    b1 = 0.9
    tx = optx.schedule_free_sgd(0.2, b1=b1)
    params = PARAMS
    state, zs = tx.init(params), []
    for step in range(30):
        updates, state = tx.update(_grads(params, step), state, params)
        params = optax.apply_updates(params, updates)
        zs.append(state.z)
    x = optx.schedule_free_eval_params(state, params)
    mean_z = jax.tree.map(lambda *z: jnp.mean(jnp.stack(z), axis=0), *zs)
    chex.assert_trees_all_close(x, mean_z, rtol=1e-5, atol=1e-5)
    chex.assert_trees_all_close(
        params, jax.tree.map(lambda a, z: b1 * a + (1 - b1) * z, x, state.z), rtol=1e-5
    )
    # x differs from the training params y, and (averaging the noisy z) is closer to the
    # minimum than the last z.
    assert float(jnp.max(jnp.abs(x["w"] - params["w"]))) > 1e-3
    assert float(jnp.linalg.norm(x["w"] - 1.0)) < float(jnp.linalg.norm(state.z["w"] - 1.0))


def test_changing_b1_between_steps_keeps_x_exact():
    tx = optx.schedule_free_sgd(0.2, b1=0.9)
    params, state = PARAMS, tx.init(PARAMS)
    for step in range(5):
        updates, state = tx.update(_grads(params, step), state, params)
        params = optax.apply_updates(params, updates)
    x = optx.schedule_free_eval_params(state, params)
    state = optx.set_hyperparams(state, b1=0.5)
    chex.assert_trees_all_close(optx.schedule_free_eval_params(state, params), x)
    updates, state = tx.update(_grads(params, 5), state, params)
    params = optax.apply_updates(params, updates)
    x = optx.schedule_free_eval_params(state, params)
    chex.assert_trees_all_close(
        params, jax.tree.map(lambda a, z: 0.5 * a + 0.5 * z, x, state.z), rtol=1e-6
    )


def test_bf16_params_keep_a_float32_z_and_bf16_updates():
    tx = optx.schedule_free_adamw(1e-2)
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    state = tx.init(params)
    assert {z.dtype for z in jax.tree.leaves(state.z)} == {jnp.dtype(jnp.float32)}
    updates, state = tx.update(_grads(params, 0), state, params)
    assert {u.dtype for u in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}
    x = optx.schedule_free_eval_params(state, params)
    assert {a.dtype for a in jax.tree.leaves(x)} == {jnp.dtype(jnp.bfloat16)}
    narrow = optx.schedule_free_adamw(1e-2, state_dtype=jnp.bfloat16).init(PARAMS)
    assert {z.dtype for z in jax.tree.leaves(narrow.z)} == {jnp.dtype(jnp.bfloat16)}


def test_bad_arguments_raise_naming_the_call():
    with pytest.raises(ValueError, match=r"optx\.schedule_free: b1 must be"):
        optx.schedule_free(optx.sgd(0.1), 0.1, b1=0.0)
    with pytest.raises(ValueError, match=r"optx\.schedule_free_sgd: b1 must be"):
        optx.schedule_free_sgd(b1=1.5)
    with pytest.raises(ValueError, match=r"optx\.schedule_free_adamw: warmup_steps"):
        optx.schedule_free_adamw(warmup_steps=0)
    with pytest.raises(ValueError, match=r"optx\.schedule_free_adamw: learning_rate"):
        optx.schedule_free_adamw(-1.0, warmup_steps=5)
    with pytest.raises(TypeError, match=r"optx\.schedule_free: base_optimizer"):
        optx.schedule_free(optx.sgd, 0.1)
    with pytest.raises(TypeError, match=r"optx\.schedule_free: state_dtype"):
        optx.schedule_free(optx.sgd(0.1), 0.1, state_dtype=jnp.int32)
    with pytest.raises(ValueError, match=r"optx\.schedule_free: learning_rate=None .* holds 0"):
        optx.schedule_free(optx.scale_by_adam(b1=0.0), None).init(PARAMS)
    with pytest.raises(ValueError, match=r"needs the current params"):
        tx = optx.schedule_free_sgd()
        tx.update(PARAMS, tx.init(PARAMS))
    with pytest.raises(ValueError, match=r"optx\.schedule_free_eval_params: the state holds 0"):
        optx.schedule_free_eval_params(optx.adam().init(PARAMS), PARAMS)


@pytest.mark.parametrize(
    "make", [optx.schedule_free_adamw, optx.prodigy, optx.dadapt_adamw], ids=lambda f: f.__name__
)
def test_state_can_be_donated(make):
    """Every state array is its own buffer (a scalar shared by two fields would be donated
    twice)."""
    tx = make()
    state = tx.init(PARAMS)
    step = jax.jit(lambda s, p: tx.update(_grads(p, 0), s, p)[1], donate_argnums=0)
    for _ in range(2):
        state = step(state, PARAMS)
    ids = [id(x) for x in jax.tree.leaves(tx.init(PARAMS))]
    assert len(ids) == len(set(ids))

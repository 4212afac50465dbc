"""AdEMAMix, Simplified AdEMAMix and Adan against Optax (100 float32 steps) and float64 NumPy
written from the papers' algorithm boxes (100 steps, x64 enabled per test)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 100
SHAPES = {"v": (5,), "m": (4, 3), "k": (2, 3, 4)}
RTOL_OPTAX, ATOL_OPTAX, ATOL_OPTAX32 = 1e-5, 1e-6, 1e-5
RTOL_F64 = 1e-10  # max |error| over max |w|, per step


def _problem(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads = {k: rng.normal(size=(steps, *s)) for k, s in SHAPES.items()}
    return params, grads


def _trajectories(runs, params, grads, dtype=jnp.float32):
    """Every step's params for each (tx, promotion) in `runs`, all from one jitted scan
    (Optax needs "standard" dtype promotion; optx runs under "strict")."""

    @jax.jit
    def run(params, grads):
        def body(carry, g):
            out = []
            for (tx, promotion), (p, state) in zip(runs, carry):
                with jax.numpy_dtype_promotion(promotion):
                    u, state = tx.update(g, state, p)
                    out.append((optax.apply_updates(p, u), state))
            return out, [p for p, _ in out]

        init = []
        for tx, promotion in runs:
            with jax.numpy_dtype_promotion(promotion):
                init.append((params, tx.init(params)))
        return jax.lax.scan(body, init, grads)[1]

    cast = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, dtype), tree)  # noqa: E731
    return [jax.tree.map(np.asarray, path) for path in run(cast(params), cast(grads))]


def _trajectory(tx, params, grads, dtype=jnp.float32, optax_tx=False):
    """Every step's params, from one jitted scan (Optax needs standard dtype promotion)."""
    return _trajectories([(tx, "standard" if optax_tx else "strict")], params, grads, dtype)[0]


def _check_optax(ours, theirs, seed=0):
    """optx in float32 against Optax's algorithm run in float64 and in float32.

    Optax computes ``1 - b`` and ``1 - b**t`` from float32 decays (``1 - float32(0.999)``
    is off by 4.7e-5 relative), which alone moves its float32 trajectory by ~2e-6; optx
    keeps them exact. So the tight check is against Optax in float64 (optx's own float32
    error), and Optax's float32 run is within that error of both.
    """
    params, grads = _problem(seed)
    got, want32 = _trajectories([(ours, "strict"), (theirs, "standard")], params, grads)
    with jax.enable_x64(True):
        want = _trajectory(theirs, params, grads, jnp.float64, optax_tx=True)
    for k in SHAPES:
        a, b = got[k].astype(np.float64), want[k]
        # Relative over each leaf's whole trajectory (coordinates cross zero), then elementwise.
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), (k, np.abs(a - b).max())
        np.testing.assert_allclose(a, b, rtol=RTOL_OPTAX, atol=ATOL_OPTAX, err_msg=k)
        np.testing.assert_allclose(a, want32[k], rtol=RTOL_OPTAX, atol=ATOL_OPTAX32, err_msg=k)


def _check_numpy(make, step, init_state, seed=0):
    """optx in float64 (jitted, x64 on) against the NumPy ``step`` over every leaf."""
    params, grads = _problem(seed)
    with jax.enable_x64(True):
        got = _trajectory(make(), params, grads, jnp.float64)
    for k in SHAPES:
        w, state = params[k].copy(), init_state(params[k])
        for t in range(1, STEPS + 1):
            w, state = step(w, grads[k][t - 1], state, t)
            error = np.max(np.abs(got[k][t - 1] - w)) / np.max(np.abs(w))
            assert error < RTOL_F64, f"{k} step {t}: relative error {error:.3g}"


# The paper's warm-up schedulers (Pagliardini et al. 2024, section 3), of the 0-based count.
T_WARM = 60


def alpha_scheduler(count, alpha=5.0, xp=jnp):
    return xp.minimum(xp.asarray(count, float) * alpha / T_WARM, alpha)


def b3_scheduler(count, b1=0.9, b3=0.999, xp=jnp):
    frac = xp.minimum(xp.asarray(count, float) / T_WARM, 1.0)
    log_b1, log_b3 = np.log(b1), np.log(b3)
    return xp.minimum(xp.exp(log_b1 * log_b3 / ((1 - frac) * log_b3 + frac * log_b1)), b3)


OPTAX_PAIRS = {
    "ademamix": (
        lambda: optx.ademamix(1e-2, weight_decay=1e-2),
        lambda: optax.contrib.ademamix(1e-2, weight_decay=1e-2),
    ),
    "ademamix_schedulers": (
        lambda: optx.ademamix(1e-2, b3=b3_scheduler, alpha=alpha_scheduler),
        lambda: optax.contrib.ademamix(1e-2, b3=b3_scheduler, alpha=alpha_scheduler),
    ),
    "ademamix_eps_root": (
        lambda: optx.ademamix(1e-2, b1=0.8, b2=0.99, b3=0.995, eps=1e-6, eps_root=1e-4),
        lambda: optax.contrib.ademamix(1e-2, b1=0.8, b2=0.99, b3=0.995, eps=1e-6, eps_root=1e-4),
    ),
    "scale_by_ademamix": (
        lambda: optx.chain(optx.scale_by_ademamix(), optx.scale(-1e-2)),
        lambda: optax.chain(optax.contrib.scale_by_ademamix(), optax.scale(-1e-2)),
    ),
    "simplified_ademamix": (
        lambda: optx.simplified_ademamix(1e-3, alpha=2.0, weight_decay=1e-2),
        lambda: optax.contrib.simplified_ademamix(1e-3, alpha=2.0, weight_decay=1e-2),
    ),
    "simplified_ademamix_schedule": (
        lambda: optx.simplified_ademamix(1e-3, b1=0.9, alpha=alpha_scheduler, eps_root=1e-4),
        lambda: optax.contrib.simplified_ademamix(
            1e-3, b1=0.9, alpha=alpha_scheduler, eps_root=1e-4
        ),
    ),
    "scale_by_simplified_ademamix": (
        lambda: optx.chain(optx.scale_by_simplified_ademamix(), optx.scale(-1e-3)),
        lambda: optax.chain(optax.contrib.scale_by_simplified_ademamix(), optax.scale(-1e-3)),
    ),
    # Optax 0.2.8 weights the gradient differences by 1 - b2 where the paper uses b2 (see
    # test_optax_adan_weights_differences_by_one_minus_b2); at b2 = 0.5 the two coincide.
    "adan_b2_half": (
        lambda: optx.adan(1e-2, b2=0.5, weight_decay=1e-2),
        lambda: optax.adan(1e-2, b2=0.5, weight_decay=1e-2),
    ),
    "scale_by_adan_b2_half": (
        lambda: optx.chain(optx.scale_by_adan(0.9, 0.5, 0.999, eps_root=1e-6), optx.scale(-1e-2)),
        lambda: optax.chain(
            optax.scale_by_adan(0.9, 0.5, 0.999, eps_root=1e-6), optax.scale(-1e-2)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTAX_PAIRS))
def test_equals_optax(name):
    ours, theirs = OPTAX_PAIRS[name]
    _check_optax(ours(), theirs())


def test_ademamix_without_slow_momentum_is_adamw():
    _check_optax(
        optx.ademamix(1e-2, b3=0.5, alpha=0.0, weight_decay=0.1),
        optax.adamw(1e-2, weight_decay=0.1),
    )


def _moments(b, m, x):
    return b * m + (1 - b) * x


def test_ademamix_matches_paper_algorithm():
    """Algorithm 1 of Pagliardini et al. with their alpha and beta_3 schedulers."""
    lr, b1, b2, eps, wd = 1e-2, 0.9, 0.999, 1e-8, 0.05

    def step(w, g, state, t):
        m1, m2, nu = state
        b3 = b3_scheduler(t - 1, xp=np)
        alpha = alpha_scheduler(t - 1, xp=np)
        m1, m2, nu = _moments(b1, m1, g), _moments(b3, m2, g), _moments(b2, nu, g * g)
        u = (m1 / (1 - b1**t) + alpha * m2) / (np.sqrt(nu / (1 - b2**t)) + eps)
        return w - lr * (u + wd * w), (m1, m2, nu)

    _check_numpy(
        lambda: optx.ademamix(lr, b1, b2, b3_scheduler, alpha_scheduler, eps, weight_decay=wd),
        step,
        lambda w: (np.zeros_like(w),) * 3,
    )


def test_simplified_ademamix_matches_paper_algorithm():
    """Morwani et al.'s Simplified AdEMAMix: an undamped momentum sum plus alpha * g."""
    lr, b1, b2, alpha, eps, wd = 1e-3, 0.95, 0.95, 3.0, 1e-8, 0.05

    def step(w, g, state, t):
        m, nu = state
        m, nu = b1 * m + g, _moments(b2, nu, g * g)
        u = (m + alpha * g) / (np.sqrt(nu / (1 - b2**t)) + eps)
        return w - lr * (u + wd * w), (m, nu)

    _check_numpy(
        lambda: optx.simplified_ademamix(lr, b1, b2, alpha, eps, weight_decay=wd),
        step,
        lambda w: (np.zeros_like(w),) * 2,
    )


def _adan_paper_step(lr, beta, eps, diff_weight=None):
    """Algorithm 1 of Xie et al. in its own notation: beta_k weights the new value.

    Zero-initialised moments with Adam's bias corrections, as the authors' code; the first
    gradient difference is zero. ``diff_weight`` replaces the paper's ``1 - beta_2``.
    """
    beta1, beta2, beta3 = beta
    weight = 1 - beta2 if diff_weight is None else diff_weight

    def step(w, g, state, t):
        m, v, n, prev = state
        d = np.zeros_like(g) if prev is None else g - prev
        m = (1 - beta1) * m + beta1 * g
        v = (1 - beta2) * v + beta2 * d
        n = (1 - beta3) * n + beta3 * (g + weight * d) ** 2
        m_hat, v_hat = m / (1 - (1 - beta1) ** t), v / (1 - (1 - beta2) ** t)
        n_hat = n / (1 - (1 - beta3) ** t)
        eta = lr / (np.sqrt(n_hat) + eps)
        return w - eta * (m_hat + weight * v_hat), (m, v, n, g)

    return step


def _adan_init(w):
    return (np.zeros_like(w),) * 3 + (None,)


@pytest.mark.parametrize("b", [(0.98, 0.92, 0.99), (0.9, 0.7, 0.999)], ids=["default", "other"])
def test_adan_matches_paper_algorithm(b):
    lr, eps = 1e-2, 1e-8
    beta = tuple(1 - x for x in b)
    _check_numpy(
        lambda: optx.adan(lr, *b, eps=eps, eps_root=0.0),
        _adan_paper_step(lr, beta, eps),
        _adan_init,
    )


def test_optax_adan_weights_differences_by_one_minus_b2():
    """Optax 0.2.8 follows the paper with ``1 - b2`` (0.08) in place of ``b2`` (0.92).

    Optax's float32 run equals that variant in float64, optx's the paper's; the two
    differ. (google-deepmind/optax#1715 proposes the same fix to Optax.)
    """
    lr, eps, b = 1e-2, 1e-8, (0.98, 0.92, 0.99)
    beta = tuple(1 - x for x in b)
    params, grads = _problem()
    runs = [(optx.adan(lr, eps_root=0.0), "strict"), (optax.adan(lr, eps_root=0.0), "standard")]
    ours, theirs = _trajectories(runs, params, grads)
    for k in SHAPES:
        for got, weight in ((ours, None), (theirs, 1 - b[1])):
            w, state = params[k].copy(), _adan_init(params[k])
            step = _adan_paper_step(lr, beta, eps, weight)
            for t in range(1, STEPS + 1):
                w, state = step(w, grads[k][t - 1], state, t)
            np.testing.assert_allclose(got[k][-1], w, rtol=1e-4, atol=1e-5, err_msg=k)
        assert np.max(np.abs(ours[k][-1] - theirs[k][-1])) > 1e-2


def test_float64_params_get_float64_updates_and_state():
    with jax.enable_x64(True):
        params = jnp.ones(3, jnp.float64)
        for tx in (optx.ademamix(), optx.simplified_ademamix(), optx.adan()):
            # Shapes and dtypes only: traced abstractly (jax.eval_shape), nothing compiles.
            updates, state = jax.eval_shape(
                lambda p, tx=tx: tx.update(jnp.full(3, 0.5, jnp.float64), tx.init(p), p), params
            )
            assert updates.dtype == jnp.float64
            floats = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
            assert {x.dtype for x in floats} == {jnp.dtype(jnp.float64)}


def test_state_sizes():
    params = {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}
    sizes = {
        "ademamix": (optx.scale_by_ademamix(), ("m1", "m2", "nu")),
        "simplified": (optx.scale_by_simplified_ademamix(), ("m", "nu")),
        "adan": (optx.scale_by_adan(), ("m", "v", "n", "prev_grad")),
    }
    for name, (tx, fields) in sizes.items():
        state = tx.init(params)
        for field in fields:
            chex_shapes = jax.tree.map(jnp.shape, getattr(state, field))
            assert chex_shapes == jax.tree.map(jnp.shape, params), (name, field)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optx.ademamix(b3=1.0), r"optx\.ademamix: b3 must be in \[0, 1\), got 1"),
        (lambda: optx.ademamix(alpha=-2.0), r"optx\.ademamix: alpha must be >= 0, got -2"),
        (
            lambda: optx.scale_by_ademamix(eps_root=-1.0),
            r"optx\.scale_by_ademamix: eps_root must be >= 0, got -1",
        ),
        (
            lambda: optx.simplified_ademamix(b1=1.0),
            r"optx\.simplified_ademamix: b1 must be in \[0, 1\), got 1",
        ),
        (
            lambda: optx.simplified_ademamix(alpha=-1.0),
            r"optx\.simplified_ademamix: alpha must be >= 0, got -1",
        ),
        (lambda: optx.adan(b2=1.5), r"optx\.adan: b2 must be in \[0, 1\), got 1\.5"),
        (lambda: optx.adan(eps=-1e-8), r"optx\.adan: eps must be >= 0, got -1e-08"),
    ],
)
def test_bad_hyperparameters_name_the_call(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_moment_dtype_is_refused():
    with pytest.raises(TypeError, match=r"optx\.ademamix: mu_dtype must be a floating"):
        optx.ademamix(mu_dtype=jnp.int32)

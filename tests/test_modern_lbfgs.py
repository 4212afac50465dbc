"""L-BFGS and the zoom line search: against Optax, NumPy float64 references, Wolfe checks."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _quadratic(x):
    a = jnp.linspace(1.0, 10.0, x.shape[0])
    return 0.5 * jnp.sum(a * (x - 1.0) ** 2)


def _runs(fn, x0, steps, *pairs):
    """Each (tx, apply)'s iterates over `steps` steps and final state, all of them in one
    jitted scan (one compile for optx's run and Optax's)."""

    def step(tx, apply, x, state):
        value, grad = jax.value_and_grad(fn)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn)
        return apply(x, updates), state

    def body(carry, _):
        carry = [step(tx, apply, x, s) for (tx, apply), (x, s) in zip(pairs, carry)]
        return carry, [x for x, _ in carry]

    @jax.jit
    def run(x0):
        init = [(x0, tx.init(x0)) for tx, _ in pairs]
        carry, paths = jax.lax.scan(body, init, length=steps)
        return paths, [s for _, s in carry]

    paths, states = run(x0)
    return [(np.asarray(path), state) for path, state in zip(paths, states)]


def _run(tx, fn, x0, steps, apply):
    return _runs(fn, x0, steps, (tx, apply))[0]


def _ours_and_optax(ours, theirs, fn, x0, steps):
    (a, sa), (b, sb) = _runs(
        fn, x0, steps, (ours, optx.apply_updates), (theirs, optax.apply_updates)
    )
    return a, sa, b, sb


PROBLEMS = {
    "rosenbrock": (_rosenbrock, jnp.array([-1.2, 1.0])),
    "rosenbrock_5d": (_rosenbrock, jnp.zeros(5)),
    "quadratic": (_quadratic, jnp.zeros(10)),
}


@pytest.mark.parametrize("memory_size, scale_init_precond", [(10, True), (3, False)])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_lbfgs_matches_optax_over_50_steps(problem, memory_size, scale_init_precond):
    fn, x0 = PROBLEMS[problem]
    kwargs = {"memory_size": memory_size, "scale_init_precond": scale_init_precond}
    ours, _, theirs, _ = _ours_and_optax(optx.lbfgs(**kwargs), optax.lbfgs(**kwargs), fn, x0, 50)
    # Measured: identical iterates (0 difference) in float32.
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_lbfgs_fixed_step_and_zoom_options_match_optax():
    fn, x0 = PROBLEMS["rosenbrock"]
    args = {"max_linesearch_steps": 8, "max_learning_rate": 0.5, "curv_rtol": 0.5}
    (fixed, _), (fixed_o, _), (zoom, _), (zoom_o, _) = _runs(
        fn,
        x0,
        50,
        (optx.lbfgs(0.05, linesearch=None), optx.apply_updates),
        (optax.lbfgs(0.05, linesearch=None), optax.apply_updates),
        (optx.lbfgs(linesearch=optx.scale_by_zoom_linesearch(**args)), optx.apply_updates),
        (optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(**args)), optax.apply_updates),
    )
    np.testing.assert_allclose(fixed, fixed_o, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(zoom, zoom_o, rtol=1e-5, atol=1e-7)


def test_zoom_linesearch_after_sgd_matches_optax():
    """The "keep" guess (the default) and the approximate decrease test, on a quadratic."""
    fn, x0 = PROBLEMS["quadratic"]
    ours, ours_state, theirs, theirs_state = _ours_and_optax(
        optx.chain(optx.sgd(1.0), optx.scale_by_zoom_linesearch(15)),
        optax.chain(optax.sgd(1.0), optax.scale_by_zoom_linesearch(15)),
        fn,
        x0,
        30,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        ours_state[1].learning_rate, theirs_state[1].learning_rate, rtol=1e-5
    )


def test_lbfgs_converges_on_rosenbrock_to_1e_6():
    fn, x0 = PROBLEMS["rosenbrock"]
    path, _ = _run(optx.lbfgs(), fn, x0, 60, optx.apply_updates)
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=1e-6)
    assert float(fn(jnp.asarray(path[-1]))) < 1e-6


def _dense_lbfgs_inverse(pairs, gamma):
    """H from H0 = gamma I by H <- V^T H V + rho s s^T, V = I - rho y s^T (NW eq. 7.19)."""
    n = pairs[0][0].size
    h = gamma * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h


@pytest.mark.parametrize("memory_size", [2, 4, 10])
def test_scale_by_lbfgs_matches_a_float64_dense_reference(memory_size):
    rng = np.random.default_rng(0)
    n, steps = 6, 7
    a = rng.normal(size=(n, n))
    hess = a @ a.T + n * np.eye(n)  # SPD: every pair has <y, s> > 0
    ws = [rng.normal(size=n) for _ in range(steps)]
    gs = [hess @ w + rng.normal(size=n) * 0.1 for w in ws]
    with jax.enable_x64(True):
        tx = optx.scale_by_lbfgs(memory_size=memory_size)
        state, update = tx.init(jnp.zeros(n, jnp.float64)), jax.jit(tx.update)
        for k in range(steps):
            out, state = update(jnp.asarray(gs[k]), state, jnp.asarray(ws[k]))
            assert out.dtype == jnp.float64
            if k == 0:
                expected = min(1.0, 1.0 / np.linalg.norm(gs[0])) * gs[0]
            else:
                pairs = [(ws[i] - ws[i - 1], gs[i] - gs[i - 1]) for i in range(1, k + 1)]
                pairs = pairs[-memory_size:]
                s, y = pairs[-1]
                expected = _dense_lbfgs_inverse(pairs, (s @ y) / (y @ y)) @ gs[k]
            np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-10, atol=1e-12)


def test_zoom_linesearch_step_meets_the_strong_wolfe_conditions():
    def fn(x):
        return jnp.sum(jnp.cosh(x) + 0.1 * x**4) + x[0] * x[1]

    x = jnp.array([2.0, -1.5, 0.7])
    value, grad = jax.value_and_grad(fn)(x)
    direction = -grad
    c1, c2 = 1e-4, 0.9
    tx = optx.scale_by_zoom_linesearch(20, approx_dec_rtol=None, curv_rtol=c2, slope_rtol=c1)
    updates, state = tx.update(direction, tx.init(x), x, value=value, grad=grad, value_fn=fn)
    eta = float(state.learning_rate)
    np.testing.assert_allclose(updates, eta * direction, rtol=1e-6)
    slope0 = float(grad @ direction)
    new = x + eta * direction
    assert float(fn(new)) <= float(value) + c1 * eta * slope0
    assert abs(float(jax.grad(fn)(new) @ direction)) <= c2 * abs(slope0)
    assert float(state.info.decrease_error) == 0.0 and float(state.info.curvature_error) == 0.0
    np.testing.assert_allclose(state.value, fn(new), rtol=1e-6)
    # Omitting value and grad computes them from value_fn: the same step.
    again, _ = tx.update(direction, tx.init(x), x, value_fn=fn)
    np.testing.assert_allclose(again, updates, rtol=1e-6)


def test_zoom_linesearch_respects_max_learning_rate_and_extra_fn_kwargs():
    def fn(x, scale):
        return scale * jnp.sum((x - 3.0) ** 2)

    x = jnp.zeros(2)
    tx = optx.scale_by_zoom_linesearch(10, max_learning_rate=0.25, initial_guess_strategy="one")
    grad = jax.grad(fn)(x, 1.0)
    updates, state = tx.update(-grad / 100.0, tx.init(x), x, value_fn=fn, scale=1.0, unused=3)
    assert float(state.learning_rate) <= 0.25
    np.testing.assert_allclose(state.value, fn(x + updates, 1.0), rtol=1e-6)


def test_lbfgs_jits_once_and_jit_equals_eager():
    fn, x0 = PROBLEMS["rosenbrock"]
    tx = optx.lbfgs()
    value_fn = jax.tree_util.Partial(fn)  # a pytree: passes through jit as an argument
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(x, state, value_fn):
        value, grad = jax.value_and_grad(value_fn)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=value_fn)
        return optx.apply_updates(x, updates), state

    x, state = x0, tx.init(x0)
    xe, se = x0, tx.init(x0)
    for _ in range(5):
        x, state = step(x, state, value_fn)
        value, grad = jax.value_and_grad(fn)(xe)
        updates, se = tx.update(grad, se, xe, value=value, grad=grad, value_fn=fn)
        xe = optx.apply_updates(xe, updates)
    np.testing.assert_allclose(x, xe, rtol=1e-5, atol=1e-7)
    assert int(state[2].info.num_linesearch_steps) >= 1
    assert step._cache_size() == 1


def test_lbfgs_state_layout_and_dtypes():
    params = {"w": jnp.ones((3, 2), jnp.bfloat16), "b": jnp.zeros(2)}
    state = optx.scale_by_lbfgs(memory_size=3).init(params)
    assert len(state.diff_params_memory) == 3
    assert state.diff_params_memory[0]["w"].shape == (3, 2)
    assert state.diff_params_memory[0]["w"].dtype == jnp.float32  # float32 at least
    assert state.weights_memory.shape == (3,)


def test_errors_name_the_call_the_argument_and_the_fix():
    with pytest.raises(ValueError, match=r"optx\.scale_by_lbfgs: memory_size"):
        optx.scale_by_lbfgs(memory_size=0)
    with pytest.raises(ValueError, match=r"optx\.lbfgs: memory_size"):
        optx.lbfgs(memory_size=0)
    with pytest.raises(ValueError, match=r"optx\.scale_by_zoom_linesearch: initial_guess"):
        optx.scale_by_zoom_linesearch(5, initial_guess_strategy="two")
    with pytest.raises(ValueError, match=r"slope_rtol must be in \(0, 1\)"):
        optx.scale_by_zoom_linesearch(5, slope_rtol=1.5)
    with pytest.raises(ValueError, match=r"max_linesearch_steps"):
        optx.scale_by_zoom_linesearch(0)
    with pytest.raises(
        TypeError, match=r"optx\.lbfgs: linesearch must be a GradientTransformation"
    ):
        optx.lbfgs(linesearch=optx.scale_by_zoom_linesearch)
    tx = optx.lbfgs()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match=r"value_fn=f"):
        tx.update(x, tx.init(x), x)
    with pytest.raises(TypeError, match=r"optx\.lbfgs does not support complex params"):
        tx.init(jnp.ones(2, jnp.complex64))


def test_curv_rtol_inf_is_a_backtracking_search():
    fn, x0 = PROBLEMS["quadratic"]
    a, _, b, _ = _ours_and_optax(
        optx.lbfgs(linesearch=optx.scale_by_zoom_linesearch(20, curv_rtol=float("inf"))),
        optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(20, curv_rtol=jnp.inf)),
        fn,
        x0,
        20,
    )
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

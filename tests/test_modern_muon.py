"""Muon: against optax.contrib.muon, torch.optim.Muon's documented rule, and the iteration's maths.

Optax runs the same float32 steps; torch is not installed, so its algorithm (docs of
torch.optim.Muon: momentum B = mu B + g, Nesterov g + mu B, NS5 on X / max(||X||, eps),
decoupled decay W (1 - lr wd), adjust_lr) is written here in NumPy and run in float64.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 100
A, B, C = 3.4445, -4.7750, 2.0315


def _quintic(x, steps=5):
    for _ in range(steps):
        x = A * x + B * x**3 + C * x**5
    return x


# ---- optx equals optax.contrib.muon over 100 float32 steps ----

PARAMS = {
    "w": jnp.linspace(-1.0, 1.0, 12).reshape(4, 3),
    "wide": jnp.linspace(0.5, -0.5, 18).reshape(3, 6),
    "b": jnp.array([0.5, -0.25, 1.0]),
    "conv": jnp.linspace(-0.3, 0.3, 30).reshape(2, 3, 5),
}
TARGET = jax.tree.map(
    lambda p: 0.3 * jnp.cos(jnp.arange(p.size, dtype=jnp.float32) * 1.3).reshape(p.shape), PARAMS
)


def _noise(t):
    keys = jax.random.split(jax.random.key(t), len(PARAMS))
    return {
        k: 0.5 * jax.random.normal(key, p.shape)
        for key, (k, p) in zip(keys, sorted(PARAMS.items()))
    }


@functools.cache
def _noises():
    """Every step's `_noise`, stacked (drawn once: threefry inside the scan body would
    double each test's compile time)."""
    return jax.jit(jax.vmap(_noise))(jnp.arange(STEPS))


def _ours_and_optax(ours, theirs):
    """optx's and Optax's params after STEPS noisy steps, both in one jitted scan (Optax
    traced under standard promotion, which it relies on; optx under strict promotion)."""

    def grads(params, noise):
        return jax.tree.map(lambda p, q, n: p - q + n, params, TARGET, noise)

    def body(carry, noise):
        (p, s), (po, so) = carry
        updates, s = ours.update(grads(p, noise), s, p)
        with jax.numpy_dtype_promotion("standard"):
            updates_o, so = theirs.update(grads(po, noise), so, po)
            po = optax.apply_updates(po, updates_o)
        return ((optx.apply_updates(p, updates), s), (po, so)), None

    @jax.jit
    def run(params, noises):
        with jax.numpy_dtype_promotion("standard"):
            optax_state = theirs.init(params)
        init = ((params, ours.init(params)), (params, optax_state))
        (p, _), (po, _) = jax.lax.scan(body, init, noises)[0]
        return p, po

    return run(PARAMS, _noises())


def _dims(module):
    return {
        "w": module.MuonDimensionNumbers(),
        "wide": module.MuonDimensionNumbers(0, 1),
        "b": None,
        "conv": module.MuonDimensionNumbers((1,), (2,)),
    }


VARIANTS = {
    "defaults": {},
    "adaptive_no_nesterov": {"adaptive": True, "nesterov": False},
    "spectral": {"preconditioning": "spectral"},
    "aol": {"preconditioning": "aol"},
    "schatten": {"preconditioning": "schatten"},
    "dion_coeffs_consistent_rms": {"ns_coeffs": "dion", "consistent_rms": 0.2},
    "three_steps_weight_decay": {"ns_steps": 3, "weight_decay": 0.05, "adam_weight_decay": 0.01},
    "adam_options": {"adam_b1": 0.8, "adam_b2": 0.99, "adam_learning_rate": 0.01, "beta": 0.9},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_muon_matches_optax_contrib_muon(variant):
    kwargs = VARIANTS[variant]
    ours, theirs = _ours_and_optax(
        optx.muon(0.02, muon_weight_dimension_numbers=_dims(optx), **kwargs),
        optax.contrib.muon(0.02, muon_weight_dimension_numbers=_dims(optax.contrib), **kwargs),
    )
    # Measured after 100 steps: at most 6e-7 absolute on the matrices (params of size
    # 0.1 to 1; rtol alone fails only on entries that cross zero) and 3.2e-6 on the AdamW
    # leaf. Why not rtol 1e-5 alone: NS5 in float32 is itself accurate only to about 1e-6
    # of its largest entry, for Optax and optx alike (against float64: 3e-7 to 6e-7 at
    # 4x3, 1.3e-6 at 64x32), so entries near zero differ relatively; and Optax's AdamW
    # takes 1 - b2 in float32 (1 - float32(0.999), 1.3e-5 relative off), which moves its
    # first step by 6.6e-6 relative; optx keeps the exact complement.
    for name in PARAMS:
        atol = 5e-6 if name == "b" else 1e-6
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=atol, err_msg=name)


def test_default_leaves_two_dimensional_matrices_get_muon_others_adam():
    params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3), "k": jnp.ones((2, 2, 2))}
    state = optx.muon().init(params)
    muon_state = state.inner_states["muon"][0]
    adam_state = state.inner_states["adam"][0]
    # State sizes: one momentum per matrix; AdamW's mu and nu for the other leaves.
    assert [x.shape for x in jax.tree.leaves(muon_state.mu)] == [(4, 3)]
    assert sorted(x.shape for x in jax.tree.leaves(adam_state.mu)) == [(2, 2, 2), (3,)]
    assert sorted(x.shape for x in jax.tree.leaves(adam_state.nu)) == [(2, 2, 2), (3,)]
    # And the same updates as Optax's default (2-D rule), with a callable for the decay mask.
    grads = jax.tree.map(
        lambda p: jnp.cos(jnp.arange(p.size, dtype=p.dtype)).reshape(p.shape), params
    )
    mask = lambda p: jax.tree.map(lambda x: x.ndim == 2, p)  # noqa: E731
    ours = optx.muon(0.1, weight_decay=0.1, weight_decay_mask=mask)
    theirs = optax.contrib.muon(0.1, weight_decay=0.1, weight_decay_mask=mask)

    @jax.jit
    def both(grads, params):
        u1, _ = ours.update(grads, ours.init(params), params)
        with jax.numpy_dtype_promotion("standard"):
            u2, _ = theirs.update(grads, theirs.init(params), params)
        return u1, u2

    u1, u2 = both(grads, params)
    for name in params:
        np.testing.assert_allclose(u1[name], u2[name], rtol=1e-5, atol=1e-6, err_msg=name)


# ---- torch.optim.Muon's documented algorithm, float64 NumPy ----


def _torch_ns(x, coeffs, eps, steps):
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    x = x / max(np.linalg.norm(x), eps)
    a, b, c = coeffs
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if transposed else x


def _torch_muon(w, grads, lr, weight_decay, momentum, nesterov, eps, adjust_lr_fn):
    buf, out = np.zeros_like(w), []
    for g in grads:
        buf = momentum * buf + g
        update = g + momentum * buf if nesterov else buf
        ortho = _torch_ns(update, (A, B, C), eps, 5)
        w = w * (1 - lr * weight_decay)
        rows, cols = w.shape[:2]
        if adjust_lr_fn == "original":
            ratio = np.sqrt(max(1.0, rows / cols))
        else:
            ratio = 0.2 * np.sqrt(max(rows, cols))
        w = w - lr * ratio * ortho
        out.append(w)
    return out


TORCH_W0 = {
    "tall": np.linspace(-1.0, 1.0, 24).reshape(6, 4),
    "wide": np.cos(np.arange(15.0)).reshape(3, 5),
}


def _torch_grads(shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * (1 + 0.5 * np.sin(t)) for t in range(STEPS)]


@pytest.mark.parametrize("adjust_lr_fn", ["original", "match_rms_adamw"])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("eps, rtol", [(0.0, 1e-10), (1e-7, 2e-6)])
def test_muon_matches_torch_documented_algorithm_float64(adjust_lr_fn, nesterov, eps, rtol):
    lr, wd, momentum = 0.02, 0.1, 0.95
    grads = {k: _torch_grads(w.shape, seed) for seed, (k, w) in enumerate(TORCH_W0.items())}
    expected = {
        k: _torch_muon(w, grads[k], lr, wd, momentum, nesterov, eps, adjust_lr_fn)
        for k, w in TORCH_W0.items()
    }
    torch_layout = {k: optx.MuonDimensionNumbers(1, 0) for k in TORCH_W0}  # (out, in)
    with jax.enable_x64(True):
        tx = optx.muon(
            lr,
            beta=momentum,
            eps=eps,
            weight_decay=wd,
            nesterov=nesterov,
            adjust_lr_fn=adjust_lr_fn,
            bias_correction=False,
            muon_weight_dimension_numbers=torch_layout,
        )

        def body(carry, g):
            w, state = carry
            u, state = tx.update(g, state, w)
            w = optx.apply_updates(w, u)
            return (w, state), w

        w = {k: jnp.asarray(v) for k, v in TORCH_W0.items()}
        run = jax.jit(lambda w, gs: jax.lax.scan(body, (w, tx.init(w)), gs)[1])
        path = run(w, {k: jnp.asarray(np.stack(grads[k])) for k in w})  # every step's w
        path = jax.tree.map(np.asarray, path)
        for k in w:
            assert path[k].dtype == jnp.float64 and path[k].shape == (STEPS, *w[k].shape)
            for t in range(STEPS):
                # eps=0: the two rules are the same (1e-10); torch's eps=1e-7 is a floor on
                # ||X|| where optx adds it to ||X||: a relative 1e-7 / ||X|| per step,
                # measured at most 4e-7 relative (2e-7 absolute) after 100 steps.
                np.testing.assert_allclose(
                    path[k][t], expected[k][t], rtol=rtol, atol=rtol, err_msg=k
                )


# ---- the Newton-Schulz iteration ----


def _matrix(shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    k = min(shape)
    u, _ = np.linalg.qr(rng.standard_normal((shape[0], k)))
    v, _ = np.linalg.qr(rng.standard_normal((shape[1], k)))
    s = np.geomspace(0.1, 3.0, k)  # normalized singular values >= 0.1 / ||s|| > 0.01
    if np.issubdtype(dtype, np.complexfloating):
        u = u * np.exp(1j * rng.uniform(0, 2 * np.pi, k))
    return ((u * s) @ v.T).astype(dtype), s


@functools.cache
def _orthogonalize(**kwargs):
    """A jitted NS5(g): one step of Muon without momentum (one compile per shape)."""
    tx = optx.scale_by_muon(beta=0.0, nesterov=False, **kwargs)
    return jax.jit(lambda x: tx.update(x, tx.init(x))[0])


def _orthogonalized(x, **kwargs):
    return np.asarray(_orthogonalize(**kwargs)(jnp.asarray(x)))


@pytest.mark.parametrize("shape", [(8, 8), (5, 12), (12, 5), (16, 4)])
def test_singular_values_follow_the_quintic_into_its_band(shape):
    x, s = _matrix(shape, seed=sum(shape))
    with jax.enable_x64(True):
        out = _orthogonalized(x, eps=0.0)
    got = np.linalg.svd(out, compute_uv=False)
    # Exactly the scalar quintic applied 5 times to sigma / ||X||_F ...
    expected = np.sort(_quintic(s / np.linalg.norm(s)))[::-1]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # ... which puts every value in the quintic's band [0.6818, 1.1344].
    assert got.min() > 0.68 and got.max() < 1.135, (got.min(), got.max())
    # The same singular vectors: out^T x = V f(S) S V^T is symmetric positive definite.
    gram = out.T @ x
    np.testing.assert_allclose(gram, gram.T, atol=1e-10)
    assert np.linalg.eigvalsh((gram + gram.T) / 2).min() > -1e-10


def test_float32_iteration_stays_in_band():
    x, _ = _matrix((32, 16), seed=3, dtype=np.float32)
    got = np.linalg.svd(_orthogonalized(x), compute_uv=False)
    assert got.min() > 0.68 and got.max() < 1.135, (got.min(), got.max())


def test_complex_matrices_use_the_conjugate_transpose():
    x, s = _matrix((6, 9), seed=5, dtype=np.complex128)
    with jax.enable_x64(True):
        out = _orthogonalized(x, eps=0.0)
    assert out.dtype == np.complex128
    got = np.linalg.svd(out, compute_uv=False)
    np.testing.assert_allclose(got, np.sort(_quintic(s / np.linalg.norm(s)))[::-1], rtol=1e-10)
    gram = out.conj().T @ x  # V f(S) S V^H: Hermitian positive semi-definite
    np.testing.assert_allclose(gram, gram.conj().T, atol=1e-10)
    assert np.linalg.eigvalsh((gram + gram.conj().T) / 2).min() > -1e-10


def test_batch_axes_are_orthogonalized_slice_by_slice():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5))  # batch 0 and 2; matrix (axis 1, axis 3)
    dims = optx.MuonDimensionNumbers(reduction_axis=1, output_axis=3)
    with jax.enable_x64(True):
        got = _orthogonalized(x, eps=0.0, weight_dimension_numbers=dims)
        for i in range(2):
            for j in range(4):
                want = _orthogonalized(x[i, :, j, :], eps=0.0)
                np.testing.assert_allclose(got[i, :, j, :], want, rtol=1e-12, atol=1e-12)


def test_muon_trains_a_matrix_least_squares_problem():
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((32, 8)), jnp.float32)
    w_true = jnp.asarray(rng.standard_normal((8, 4)), jnp.float32)
    loss = lambda w: 0.5 * jnp.mean((a @ w - a @ w_true) ** 2)  # noqa: E731
    tx = optx.muon(optx.schedules.cosine_decay_schedule(0.2, 400))

    def step(carry, _):
        w, state = carry
        u, state = tx.update(jax.grad(loss)(w), state, w)
        return (optx.apply_updates(w, u), state), None

    w0 = jnp.zeros((8, 4))
    (w, _), _ = jax.jit(lambda w: jax.lax.scan(step, (w, tx.init(w)), length=400))(w0)
    assert float(loss(w)) < 1e-3 * float(loss(jnp.zeros((8, 4))))


# ---- errors ----


def test_bad_arguments_name_the_call_and_the_value():
    with pytest.raises(ValueError, match=r"optx\.muon: ns_coeffs must be three finite"):
        optx.muon(ns_coeffs=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"optx\.muon: ns_coeffs must be one of"):
        optx.muon(ns_coeffs="polar")
    with pytest.raises(ValueError, match=r"optx\.scale_by_muon: ns_steps must be >= 1, got 0"):
        optx.scale_by_muon(ns_steps=0)
    with pytest.raises(ValueError, match=r"optx\.muon: preconditioning must be one of"):
        optx.muon(preconditioning="qr")
    with pytest.raises(ValueError, match=r"optx\.muon: beta must be in \[0, 1\), got 1"):
        optx.muon(beta=1.0)
    with pytest.raises(ValueError, match=r"optx\.muon: adjust_lr_fn must be one of"):
        optx.muon(adjust_lr_fn="sqrt")
    with pytest.raises(ValueError, match=r"optx\.muon: give adjust_lr_fn='original' or"):
        optx.muon(adjust_lr_fn="original", consistent_rms=0.2)
    with pytest.raises(ValueError, match=r"optx\.scale_by_shape: consistent_rms must be > 0"):
        optx.scale_by_shape(consistent_rms=-1.0)


def test_vector_leaf_given_to_muon_is_refused_with_the_fix():
    tx = optx.scale_by_muon()
    with pytest.raises(ValueError, match=r"optx\.scale_by_muon: Muon orthogonalizes matrices"):
        tx.update(jnp.ones(3), tx.init(jnp.ones(3)))
    dims = {"w": optx.MuonDimensionNumbers((0, 1), (1,))}
    tx = optx.muon(muon_weight_dimension_numbers=dims)
    params = {"w": jnp.ones((2, 3, 4))}
    with pytest.raises(ValueError, match=r"optx\.muon: the reduction axes \(0, 1\) and output"):
        tx.update(params, tx.init(params), params)


def test_optax_dimension_numbers_and_a_single_spec_for_all_leaves_are_accepted():
    grads = jax.tree.map(lambda p, n: p + n[0], PARAMS, _noises())  # n[0] is _noise(0)
    ours = optx.muon(0.02, muon_weight_dimension_numbers=_dims(optx))
    with_optax_dims = optx.muon(0.02, muon_weight_dimension_numbers=_dims(optax.contrib))
    # One spec at the root applies to every leaf: here the transpose of the default.
    flipped = optx.scale_by_muon(weight_dimension_numbers=optx.MuonDimensionNumbers(1, 0))
    plain = optx.scale_by_muon()

    @jax.jit
    def updates(grads):
        u1, _ = ours.update(grads, ours.init(PARAMS), PARAMS)
        u2, _ = with_optax_dims.update(grads, with_optax_dims.init(PARAMS), PARAMS)
        matrices = {"w": grads["w"], "wide": grads["wide"]}
        u3, _ = flipped.update(matrices, flipped.init(matrices))
        transposed = jax.tree.map(jnp.transpose, matrices)
        u4, _ = plain.update(transposed, plain.init(transposed))
        return u1, u2, u3, u4

    u1, u2, u3, u4 = updates(grads)
    for name in PARAMS:
        np.testing.assert_array_equal(u1[name], u2[name], err_msg=name)
    matrices = {"w": grads["w"], "wide": grads["wide"]}
    for name in matrices:
        np.testing.assert_allclose(u3[name], u4[name].T, rtol=1e-6, atol=1e-7, err_msg=name)

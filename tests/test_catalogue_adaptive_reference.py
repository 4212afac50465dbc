"""The adaptive catalogue against independent references.

- MXNet 1.9.1 trajectories (tests/data/mxnet_optimizers.json): Adam (epsilon hat), AdaMax
  1.x, NAdam, AdaDelta 1.x, FTML, to 1e-6.
- NumPy float64 implementations written from the papers and tests/data/SEMANTICS.md
  (PyTorch's AMSGrad, fastai's RAdam and QHAdam, AdaBelief, Yogi, NovoGrad, SM3,
  Adafactor), to float32 accuracy.
"""

import json
import pathlib

import _fast
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "mxnet_optimizers.json"
MXNET = json.loads(REFERENCE.read_text())["cases"]


def _mxnet_optimizer(name, h):
    """The optx optimizer equal to MXNet 1.9.1's rule of that name (wd is L2 on the gradient)."""
    if name == "adam":
        tx = optx.adam(h["lr"], h["b1"], h["b2"], h["eps"], eps_convention="hat")
    elif name == "adamax_1x":  # no eps at all in MXNet 1.x
        tx = optx.adamax(h["lr"], h["b1"], h["b2"], eps=0.0, eps_in_max=False)
    elif name == "nadam":
        tx = optx.nadam(h["lr"], h["b1"], h["b2"], h["eps"], schedule_decay=h["sd"])
    elif name == "adadelta_1x":  # no learning rate (1.0); 1.x adds wd*w outside the scaling
        assert h["wd"] == 0.0
        return optx.adadelta(1.0, h["rho"], h["eps"])
    elif name == "ftml":
        tx = optx.ftml(h["lr"], h["b1"], h["b2"], h["eps"])
    else:
        raise KeyError(name)
    return optx.chain(optx.add_decayed_weights(h["wd"]), tx) if h["wd"] else tx


@pytest.mark.parametrize("case", ["adam", "adamax", "nadam", "adadelta", "ftml"])
def test_matches_mxnet_trajectory(case):
    data = MXNET[case]
    tx = _mxnet_optimizer(data["optimizer"], data["hyperparams"])
    w = jnp.asarray(data["w0"], jnp.float32)
    state = tx.init(w)
    update = jax.jit(tx.update)
    for grad, expected in zip(data["grads"], data["expected_w"]):
        updates, state = update(jnp.asarray(grad, jnp.float32), state, w)
        w = optx.apply_updates(w, updates)
        np.testing.assert_allclose(np.asarray(w), expected, rtol=0, atol=1e-6)


# ---- NumPy references (float64), one function per algorithm: grads -> list of updates ----


def _adam_moments(grads, b1, b2):
    m, v = np.zeros_like(grads[0]), np.zeros_like(grads[0])
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        yield t, g, m, v


def amsgrad_pytorch(grads, b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.Adam(amsgrad=True): maximum of the raw moment, corrected afterwards."""
    out, v_max = [], 0.0
    for t, _, m, v in _adam_moments(grads, b1, b2):
        v_max = np.maximum(v_max, v)
        out.append(m / (1 - b1**t) / (np.sqrt(v_max / (1 - b2**t)) + eps))
    return out


def amsgrad_corrected(grads, b1=0.9, b2=0.999, eps=1e-8):
    out, v_max = [], 0.0
    for t, _, m, v in _adam_moments(grads, b1, b2):
        v_max = np.maximum(v_max, v / (1 - b2**t))
        out.append(m / (1 - b1**t) / (np.sqrt(v_max) + eps))
    return out


def radam_fastai(grads, b1=0.9, b2=0.99, eps=1e-5, beta=0.0, threshold=5.0):
    """fastai's radam_step (with its softplus ``beta``), rectifying when r > threshold."""
    out = []
    r_inf = 2 / (1 - b2) - 1
    for t, _, m, v in _adam_moments(grads, b1, b2):
        r = r_inf - 2 * t * b2**t / (1 - b2**t)
        if r > threshold:
            rect = np.sqrt((r - 4) * (r - 2) * r_inf / ((r_inf - 4) * (r_inf - 2) * r))
            denom = np.sqrt(v / (1 - b2**t)) + eps
            if beta:
                denom = np.log1p(np.exp(beta * denom)) / beta
            out.append(rect * m / (1 - b1**t) / denom)
        else:
            out.append(m / (1 - b1**t))
    return out


def qhadam_fastai(grads, b1=0.999, b2=0.999, nu1=0.7, nu2=1.0, eps=1e-8):
    return [
        ((1 - nu1) * g + nu1 * m / (1 - b1**t))
        / (np.sqrt((1 - nu2) * g * g + nu2 * v / (1 - b2**t)) + eps)
        for t, g, m, v in _adam_moments(grads, b1, b2)
    ]


def adabelief_paper(grads, b1=0.9, b2=0.999, eps=1e-16):
    out, m, s = [], 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        out.append(m / (1 - b1**t) / (np.sqrt(s / (1 - b2**t)) + eps))
    return out


def yogi_paper(grads, b1=0.9, b2=0.999, eps=1e-3, v0=1e-6):
    out, m, v = [], 0.0, v0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g * g) * g * g
        out.append(m / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + eps))
    return out


def adamax_paper(grads, b1=0.9, b2=0.999, eps=1e-8, eps_in_max=True):
    out, m, u = [], 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + (eps if eps_in_max else 0.0))
        out.append(m / (1 - b1**t) / (u if eps_in_max else u + eps))
    return out


def novograd_paper(grads, params, b1=0.9, b2=0.25, eps=1e-8, wd=0.0):
    out, m, n = [], 0.0, None
    for g, w in zip(grads, params):
        norm2 = np.sum(g * g)
        n = norm2 if n is None else b2 * n + (1 - b2) * norm2
        m = b1 * m + g / (np.sqrt(n) + eps) + wd * w
        out.append(m)
    return out


def sm3_paper(grads, b1=0.9, eps=1e-8):
    """SM3-II with one cover set per row/column/... (per entry for rank < 2)."""
    out, m = [], 0.0
    mus = None
    for g in grads:
        if g.ndim < 2:
            nu = (0.0 if mus is None else mus) + g * g
            mus = nu
        else:
            prev = np.full(g.shape, np.inf) if mus else 0.0
            for axis, mu in enumerate(mus or []):
                shape = [1] * g.ndim
                shape[axis] = -1
                prev = np.minimum(prev, mu.reshape(shape))
            nu = prev + g * g
            mus = [nu.max(axis=tuple(a for a in range(g.ndim) if a != i)) for i in range(g.ndim)]
        m = b1 * m + (1 - b1) * np.where(nu > 0, g / np.sqrt(nu + eps), 0.0)
        out.append(m)
    return out


def adafactor_paper(grads, decay=0.8, eps1=1e-30):
    """Shazeer and Stern's Algorithm 4 (factored, with row and column *sums*) for a matrix."""
    out, r, c = [], 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        beta = 1 - t ** (-decay)
        q = g * g + eps1
        r = beta * r + (1 - beta) * q.sum(axis=1)  # rows: sum over columns
        c = beta * c + (1 - beta) * q.sum(axis=0)
        v = np.outer(r, c) / r.sum()
        out.append(g / np.sqrt(v))
    return out


def _updates(tx, grads, params=None):
    """optx updates for a list of float64 gradients (run in float32, jitted)."""
    p = jnp.asarray(grads[0] * 0 if params is None else params[0], jnp.float32)
    state, update, out = tx.init(p), jax.jit(tx.update), []
    for i, g in enumerate(grads):
        p = p if params is None else jnp.asarray(params[i], jnp.float32)
        u, state = update(jnp.asarray(g, jnp.float32), state, p)
        out.append(np.asarray(u, np.float64))
    return out


def _grads(shape, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * (1 + 0.5 * np.sin(t)) for t in range(steps)]


REFERENCES = {
    "amsgrad_raw": (optx.scale_by_amsgrad(max_of="raw"), amsgrad_pytorch, (5, 3)),
    "amsgrad_corrected": (optx.scale_by_amsgrad(), amsgrad_corrected, (5, 3)),
    "radam_fastai": (optx.scale_by_radam(b2=0.99, eps=1e-5), radam_fastai, (4,)),
    "radam_fastai_softplus": (
        optx.scale_by_radam(b2=0.99, eps=1e-5, softplus_beta=50.0),
        lambda g: radam_fastai(g, beta=50.0),
        (4,),
    ),
    "qhadam_fastai": (optx.scale_by_qhadam(), qhadam_fastai, (5, 3)),
    "qhadam_nu2": (
        optx.scale_by_qhadam(0.9, 0.99, 0.5, 0.8, 1e-3),
        lambda g: qhadam_fastai(g, 0.9, 0.99, 0.5, 0.8, 1e-3),
        (6,),
    ),
    "adabelief": (optx.scale_by_belief(eps_root=1e-16), adabelief_paper, (5, 3)),
    "yogi": (optx.scale_by_yogi(), yogi_paper, (5, 3)),
    "adamax": (optx.scale_by_adamax(), adamax_paper, (5, 3)),
    "adamax_eps_after_max": (
        optx.scale_by_adamax(eps=1e-3, eps_in_max=False),
        lambda g: adamax_paper(g, eps=1e-3, eps_in_max=False),
        (5,),
    ),
    "sm3_matrix": (optx.scale_by_sm3(), sm3_paper, (5, 3)),
    "sm3_rank3": (optx.scale_by_sm3(), sm3_paper, (3, 4, 2)),
    "sm3_vector": (optx.scale_by_sm3(), sm3_paper, (4,)),
    "sm3_scalar": (optx.scale_by_sm3(), sm3_paper, ()),
    "adafactor_matrix": (
        optx.scale_by_factored_rms(min_dim_size_to_factor=2),
        adafactor_paper,
        (6, 4),
    ),
}


@pytest.mark.parametrize("name", _fast.cases(sorted(REFERENCES)))
def test_matches_numpy_reference(name):
    tx, reference, shape = REFERENCES[name]
    grads = _grads(shape)
    for got, expected in zip(_updates(tx, grads), reference(grads)):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_radam_rectifies_after_the_threshold():
    """With b2=0.99, rho_t first exceeds 5 at t=6: before, the step is momentum SGD."""
    grads = _grads((3,))
    got = _updates(optx.scale_by_radam(b2=0.99), grads)
    m = [m / (1 - 0.9**t) for t, _, m, _ in _adam_moments(grads, 0.9, 0.99)]
    np.testing.assert_allclose(got[:5], m[:5], rtol=1e-5, atol=1e-7)
    assert not np.allclose(got[5], m[5], rtol=1e-2)


def test_radam_rectifier_is_closer_to_float64_than_optax():
    """rho_t = rho_inf - 2t b2^t / (1 - b2^t) cancels near the threshold; optx computes
    1 - b2^t as -expm1(t log1p(-(1 - b2))), Optax as 1 - b2**t in float32."""
    import optax

    grads = _grads((4,))
    expected = np.stack(radam_fastai(grads, b2=0.999, eps=1e-8, threshold=5.0 - 1e-9))
    ours = np.stack(_updates(optx.scale_by_radam(), grads))
    with jax.numpy_dtype_promotion("standard"):
        theirs = np.stack(_updates(optax.scale_by_radam(), grads))
    error = lambda x: np.abs(x - expected).max() / np.abs(expected).max()  # noqa: E731
    assert error(ours) < 1e-5 < error(theirs)


def test_novograd_matches_paper_with_weight_decay():
    grads = _grads((5, 3))
    params = _grads((5, 3), seed=1)
    got = _updates(optx.scale_by_novograd(weight_decay=0.1), grads, params)
    for a, b in zip(got, novograd_paper(grads, params, wd=0.1)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_adam_eps_hat_matches_formula():
    grads, (b1, b2, eps) = _grads((4,)), (0.9, 0.999, 1e-3)
    got = _updates(optx.scale_by_adam(b1, b2, eps, eps_convention="hat"), grads)
    for u, (t, _, m, v) in zip(got, _adam_moments(grads, b1, b2)):
        expected = np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(u, expected, rtol=2e-5)


def test_nadam_momentum_product_is_not_shared_between_parameters():
    """MXNet multiplies one shared product per parameter per step; optx keeps it per step."""
    tx = optx.nadam(1e-2, schedule_decay=0.004)
    a, b = _grads((3,), seed=2), _grads((2, 2), seed=3)
    pair_state = tx.init({"a": jnp.zeros(3), "b": jnp.zeros((2, 2))})
    single_a = _updates(tx, a)
    update = jax.jit(tx.update)
    for t, (x, y) in enumerate(zip(a, b)):
        g = {"a": jnp.asarray(x, jnp.float32), "b": jnp.asarray(y, jnp.float32)}
        u, pair_state = update(g, pair_state)
        np.testing.assert_allclose(np.asarray(u["a"]), single_a[t], rtol=1e-6)
    expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in range(1, 13)])
    np.testing.assert_allclose(float(pair_state[0].mu_product), expected, rtol=1e-5)

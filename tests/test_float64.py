"""float64 params get float64 updates: each family against a float64 NumPy reference to 1e-12.

x64 is enabled only inside each test (``jax.enable_x64``), so the other tests are unaffected.
The references are the NumPy ones of test_catalogue_adaptive_reference.py plus the rules
below, written from the papers.
"""

import _fast
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_catalogue_adaptive_reference as ref

import optx

STEPS = 30
RTOL = 1e-12  # max |error| over max |update|, per step


def _updates64(make, grads, params=None):
    """optx updates for float64 gradients, run (jitted) with x64 enabled."""
    with jax.enable_x64(True):
        tx = make()
        p = jnp.asarray(np.zeros_like(grads[0]) if params is None else params[0], jnp.float64)
        state, update, out = tx.init(p), jax.jit(tx.update), []
        for i, g in enumerate(grads):
            p = p if params is None else jnp.asarray(params[i], jnp.float64)
            u, state = update(jnp.asarray(g, jnp.float64), state, p)
            assert u.dtype == jnp.float64
            out.append(np.asarray(u))
        return out


def _check(make, reference, shape=(5, 3), params=False):
    grads = ref._grads(shape, steps=STEPS)
    ps = ref._grads(shape, steps=STEPS, seed=1) if params else None
    got = _updates64(make, grads, ps)
    expected = reference(grads, ps) if params else reference(grads)
    for i, (a, b) in enumerate(zip(got, expected)):
        error = np.max(np.abs(a - b)) / np.max(np.abs(b))  # relative to the step's size
        assert error < RTOL, f"step {i + 1}: relative error {error:.3g}"


def sgd_ref(grads, lr=0.1, mu=0.0, nesterov=False):
    out, t = [], 0.0
    for g in grads:
        t = mu * t + g
        out.append(-lr * (g + mu * t if nesterov else t))
    return out


def adam_ref(grads, lr=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    return [
        -lr * m / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + eps)
        for t, _, m, v in ref._adam_moments(grads, b1, b2)
    ]


def adamw_ref(grads, params, lr=1e-2, wd=0.1):
    return [u - lr * wd * w for u, w in zip(adam_ref(grads, lr), params)]


def rmsprop_ref(grads, lr=1e-2, decay=0.9, eps=1e-8):
    out, v = [], 0.0
    for g in grads:
        v = decay * v + (1 - decay) * g * g
        out.append(-lr * g / np.sqrt(v + eps))
    return out


def adagrad_ref(grads, lr=0.1, init=0.1, eps=1e-7):
    out, s = [], init
    for g in grads:
        s = s + g * g
        out.append(-lr * g / np.sqrt(s + eps))
    return out


def adadelta_ref(grads, rho=0.9, eps=1e-6):
    out, v, d = [], 0.0, 0.0
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        u = np.sqrt(d + eps) / np.sqrt(v + eps) * g
        d = rho * d + (1 - rho) * u * u
        out.append(-u)
    return out


def lion_ref(grads, lr=1e-3, b1=0.9, b2=0.99):
    out, m = [], 0.0
    for g in grads:
        out.append(-lr * np.sign(b1 * m + (1 - b1) * g))
        m = b2 * m + (1 - b2) * g
    return out


def nadam_ref(grads, lr=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    """NAdam as Optax's adam(nesterov=True): the next step's momentum bias correction."""
    return [
        -lr
        * (b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t))
        / (np.sqrt(v / (1 - b2**t)) + eps)
        for t, g, m, v in ref._adam_moments(grads, b1, b2)
    ]


def _lr(lr, reference):
    return lambda grads: [-lr * u for u in reference(grads)]


FAMILIES = {
    "sgd": (lambda: optx.sgd(0.1), sgd_ref),
    "momentum": (lambda: optx.sgd(0.1, 0.9), lambda g: sgd_ref(g, mu=0.9)),
    "nesterov": (
        lambda: optx.sgd(0.1, 0.9, nesterov=True),
        lambda g: sgd_ref(g, mu=0.9, nesterov=True),
    ),
    "adam": (lambda: optx.adam(1e-2), adam_ref),
    "nadam": (lambda: optx.nadam(1e-2), nadam_ref),
    "amsgrad": (lambda: optx.scale_by_amsgrad(max_of="raw"), ref.amsgrad_pytorch),
    "adamax": (lambda: optx.scale_by_adamax(), ref.adamax_paper),
    "radam": (lambda: optx.scale_by_radam(b2=0.99, eps=1e-5), ref.radam_fastai),
    "adabelief": (lambda: optx.scale_by_belief(eps_root=1e-16), ref.adabelief_paper),
    "yogi": (lambda: optx.scale_by_yogi(), ref.yogi_paper),
    "qhadam": (lambda: optx.scale_by_qhadam(), ref.qhadam_fastai),
    "rmsprop": (lambda: optx.rmsprop(1e-2), rmsprop_ref),
    "adagrad": (lambda: optx.adagrad(0.1), adagrad_ref),
    "adadelta": (lambda: optx.adadelta(1.0, 0.9, 1e-6), adadelta_ref),
    "lion": (lambda: optx.lion(1e-3), lion_ref),
    "sm3": (lambda: optx.scale_by_sm3(), ref.sm3_paper),
    "adafactor": (
        lambda: optx.scale_by_factored_rms(min_dim_size_to_factor=2),
        ref.adafactor_paper,
    ),
}


@pytest.mark.parametrize("name", _fast.cases(sorted(FAMILIES), 3))
def test_family_matches_float64_reference(name):
    make, reference = FAMILIES[name]
    _check(make, reference, (6, 4))


def test_adamw_matches_float64_reference():
    _check(lambda: optx.adamw(1e-2, weight_decay=0.1), adamw_ref, params=True)


def test_novograd_matches_float64_reference():
    _check(
        lambda: optx.scale_by_novograd(weight_decay=0.1),
        lambda g, p: ref.novograd_paper(g, p, wd=0.1),
        params=True,
    )


def _ratio(w, u):
    """Trust ratio ||w|| / ||u||, 1 where either norm is 0 (You et al.)."""
    nw, nu = np.linalg.norm(w), np.linalg.norm(u)
    return nw / nu if nw > 0 and nu > 0 else 1.0


def lamb_ref(grads, params, lr=1e-2, b1=0.9, b2=0.999, eps=1e-6, wd=0.01):
    """LAMB (You et al. 2020, Algorithm 2 with bias correction): Adam + decay, then the ratio."""
    out = []
    for (t, _, m, v), w in zip(ref._adam_moments(grads, b1, b2), params):
        u = m / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * w
        out.append(-lr * _ratio(w, u) * u)
    return out


def lars_ref(grads, params, lr=0.1, wd=1e-3, eta=1e-3, mu=0.9):
    """LARS in Optax's form: decay, ratio eta * ||w|| / ||g + wd w||, rate, then momentum."""
    out, t = [], 0.0
    for g, w in zip(grads, params):
        u = g + wd * w
        t = mu * t - lr * eta * _ratio(w, u) * u
        out.append(t)
    return out


def test_trust_ratio_families_match_float64_references():
    _check(lambda: optx.lamb(1e-2, weight_decay=0.01), lamb_ref, params=True)
    _check(lambda: optx.lars(0.1, 1e-3), lars_ref, params=True)


def ftml_ref(grads, params, lr=0.0025, b1=0.6, b2=0.999, eps=1e-8):
    """FTML (Zheng and Kwok 2017) as MXNet writes it: the update is ``-z / d - w``."""
    out, v, z, d_prev = [], 0.0, 0.0, 0.0
    for t, (g, w) in enumerate(zip(grads, params), start=1):
        v = b2 * v + (1 - b2) * g * g
        d = (1 - b1**t) / lr * (np.sqrt(v / (1 - b2**t)) + eps)
        z = b1 * z + (1 - b1) * g - (d - b1 * d_prev) * w
        out.append(-z / d - w)
        d_prev = d
    return out


def test_ftml_matches_float64_reference():
    _check(lambda: optx.ftml(), ftml_ref, params=True)


def test_sgd_step_is_exact_in_float64():
    with jax.enable_x64(True):
        tx = optx.sgd(0.1)
        g = jnp.ones([], jnp.float64)
        u, _ = tx.update(g, tx.init(jnp.zeros([], jnp.float64)))
        assert u.dtype == jnp.float64
        assert float(u) == -0.1


def test_float32_params_keep_float32_scalars_under_x64():
    with jax.enable_x64(True):
        for tx in (optx.radam(1e-3), optx.nadam(1e-3), optx.adafactor(1e-2)):
            p = jnp.zeros((3, 2), jnp.bfloat16)
            state = tx.init(p)
            u, state = jax.jit(tx.update)(jnp.ones((3, 2), jnp.bfloat16), state, p)
            assert u.dtype == jnp.bfloat16
            widths = {
                x.dtype for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)
            }
            assert jnp.dtype(jnp.float64) not in widths, widths

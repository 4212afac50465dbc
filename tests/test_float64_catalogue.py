"""float64 references for the rest of the catalogue: FTRL, DCASGD, SGLD, Signum, LBSGD, Fromage.

Each rule is written here from its paper (or MXNet's documented kernel, where optx follows
MXNet) in float64 NumPy and compared with optx under x64 to 1e-12 relative per step, with
the harness of test_float64.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import test_catalogue_adaptive_reference as ref
from test_float64 import RTOL, STEPS, _check, _updates64

import optx


def ftrl_ref(grads, params, lr=0.1, l1=0.01, beta=1.0, wd=0.01):
    """FTRL-proximal (McMahan et al. 2013, Algorithm 1) per coordinate; update = w_new - w."""
    out, z, n = [], 0.0, 0.0
    for g, w in zip(grads, params):
        sigma = (np.sqrt(n + g * g) - np.sqrt(n)) / lr
        z = z + g - sigma * w
        n = n + g * g
        w_new = np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / ((beta + np.sqrt(n)) / lr + wd), 0)
        out.append(w_new - w)
    return out


def dcasgd_ref(grads, params, lr=0.05, mu=0.5, lamda=0.04, wd=0.01):
    """DCASGD (Zheng et al. 2017) as MXNet 1.x: the rate inside the momentum."""
    out, m, w_prev = [], 0.0, params[0]
    for g, w in zip(grads, params):
        m = mu * m - lr * (g + wd * w + lamda * g * g * (w - w_prev))
        w_prev = w
        out.append(m)
    return out


def signum_ref(grads, params, lr=0.01, beta=0.9, wd=0.01, wd_lh=0.001):
    """Signum (Bernstein et al. 2018) with MXNet's coupled wd and decoupled wd_lh."""
    out, m = [], 0.0
    for g, w in zip(grads, params):
        m = beta * m + (1 - beta) * (g + wd * w)
        out.append(-lr * (np.sign(m) + wd_lh * w))
    return out


def lbsgd_ref(grads, params, lr=0.05, mu=0.5, wd=0.01, scale=2, warmup_epochs=1, per_epoch=4):
    """MXNet's LBSGD, linear warmup: momentum SGD on the mean of every `scale` gradients."""
    out, m, acc = [], 0.0, 0.0
    total = warmup_epochs * per_epoch
    for c, (g, w) in enumerate(zip(grads, params)):
        acc = acc + g
        n = c + 1
        if n % scale:
            out.append(np.zeros_like(g))
            continue
        mult = scale if n >= total else 1 + (scale - 1) * n / total
        m = mu * m - lr * mult * (acc / scale + wd * w)
        acc = 0.0
        out.append(m)
    return out


def fromage_ref(grads, params, lr=0.01, min_norm=1e-6):
    """Fromage (Bernstein et al. 2020, Algorithm 1): w' = (w - lr |w|/|g| g) / sqrt(1 + lr^2)."""
    out = []
    for g, w in zip(grads, params):
        nw = max(np.linalg.norm(w), min_norm)
        ng = max(np.linalg.norm(g), min_norm)
        w_new = (w - lr * nw / ng * g) / np.sqrt(1 + lr * lr)
        out.append(w_new - w)
    return out


def test_ftrl_matches_float64_reference():
    _check(lambda: optx.ftrl(0.1, 0.01, 1.0, 0.01), ftrl_ref, params=True)


def test_dcasgd_matches_float64_reference():
    _check(lambda: optx.dcasgd(0.05, 0.5, 0.04, 0.01), dcasgd_ref, params=True)


def test_signum_matches_float64_reference():
    _check(lambda: optx.signum(0.01, 0.9, weight_decay=0.01, wd_lh=0.001), signum_ref, params=True)


def test_lbsgd_matches_float64_reference():
    make = lambda: optx.lbsgd(  # noqa: E731
        0.05, 0.5, 0.01, batch_scale=2, warmup_epochs=1, updates_per_epoch=4
    )
    grads = ref._grads((5, 3), steps=STEPS)
    params = ref._grads((5, 3), steps=STEPS, seed=1)
    got, expected = _updates64(make, grads, params), lbsgd_ref(grads, params)
    for i, (a, b) in enumerate(zip(got, expected)):
        if i % 2 == 0:  # the calls between large-batch steps return exact zeros
            assert not np.any(a) and not np.any(b)
        else:
            assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < RTOL, f"step {i + 1}"


def test_fromage_matches_float64_reference():
    _check(lambda: optx.fromage(0.01), fromage_ref, params=True)


def test_sgld_deterministic_part_and_noise_are_float64():
    """SGLD (Welling and Teh 2011): u = -lr/2 (g + wd w) + sqrt(lr) N(0, 1).

    The same key gives the same noise, so two runs with the same keys, one with the
    gradients and one with zero gradients, differ by exactly the drift term; the noise itself
    is float64 with the stated variance.
    """
    lr, wd, shape = 0.01, 0.1, (64, 32)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape) for _ in range(STEPS)]
    params = [rng.standard_normal(shape) for _ in range(STEPS)]
    with jax.enable_x64(True):
        tx = optx.sgld(lr, weight_decay=wd, key=0)
        update = jax.jit(tx.update)
        s_g = s_0 = tx.init(jnp.asarray(params[0]))
        noise = []
        for g, w in zip(grads, params):
            w = jnp.asarray(w, jnp.float64)
            u_g, s_g = update(jnp.asarray(g, jnp.float64), s_g, w)
            u_0, s_0 = update(jnp.zeros(shape, jnp.float64), s_0, w)
            assert u_g.dtype == u_0.dtype == jnp.float64
            drift = -lr / 2 * (g + wd * np.asarray(w))
            got = np.asarray(u_g) - np.asarray(u_0)
            assert np.max(np.abs(got - (-lr / 2 * g))) / np.max(np.abs(drift)) < RTOL
            noise.append((np.asarray(u_0) + lr / 2 * wd * np.asarray(w)) / np.sqrt(lr))
    noise = np.stack(noise)  # 61440 draws: the standard error of the mean is 0.004
    assert abs(noise.std() - 1) < 0.02 and abs(noise.mean()) < 0.02

"""torch.optim parity: the documented optx setting of each optimizer reproduces PyTorch's rule.

Each reference is NumPy written from the algorithm box of torch.optim's documentation
(SGD, Adam, AdamW, Adamax, NAdam, RAdam, Adadelta, Adagrad, RMSprop, Rprop). PyTorch is not
imported. Trajectories run 100 steps in float64 (x64 enabled only inside the test) and
must agree to 1e-10 relative, which a float32 computation could not meet.
"""

import _fast
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

STEPS = 100
RTOL = 1e-10
SHAPE = (4, 3)


def _grads(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SHAPE) * (1 + 0.5 * np.sin(t)) for t in range(STEPS)]


W0 = np.linspace(-1.0, 1.0, 12).reshape(SHAPE)


def _optx_trajectory(make, grads, wd_in_grad=0.0):
    with jax.enable_x64(True):
        tx = make()
        if wd_in_grad:  # torch's weight_decay (L2 added to the gradient) for Adam-like rules
            tx = optx.chain(optx.add_decayed_weights(wd_in_grad), tx)
        w = jnp.asarray(W0, jnp.float64)
        state, update, out = tx.init(w), jax.jit(tx.update), []
        for g in grads:
            u, state = update(jnp.asarray(g, jnp.float64), state, w)
            w = optx.apply_updates(w, u)
            assert w.dtype == jnp.float64
            out.append(np.asarray(w))
        return out


def _torch_trajectory(step, grads, wd=0.0):
    """Runs ``step(state, w, g, t) -> w`` (state a dict it mutates), t 1-based."""
    w, state, out = W0.copy(), {}, []
    for t, g in enumerate(grads, start=1):
        g = g + wd * w  # torch's weight_decay (L2), when not decoupled
        w = step(state, w, g, t)
        out.append(w)
    return out


# ---- torch.optim's documented algorithms, in NumPy ----


def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False):
    def step(s, w, g, t):
        if momentum:
            b = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
            s["b"] = b
            g = g + momentum * b if nesterov else b
        return w - lr * g

    return step


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, amsgrad=False, decoupled_wd=0.0):
    def step(s, w, g, t):
        w = w - lr * decoupled_wd * w  # AdamW
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        v = s["v"]
        if amsgrad:  # the maximum of the raw second moment, corrected afterwards
            v = s["vmax"] = np.maximum(s.get("vmax", 0.0), v)
        return w - lr * (s["m"] / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)

    return step


def adamax(lr, b1=0.9, b2=0.999, eps=1e-8):
    def step(s, w, g, t):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g) + eps)
        return w - lr / (1 - b1**t) * s["m"] / s["u"]

    return step


def nadam(lr, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    def step(s, w, g, t):
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        s["prod"] = s.get("prod", 1.0) * mu_t
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat = mu_next * s["m"] / (1 - s["prod"] * mu_next) + (1 - mu_t) * g / (1 - s["prod"])
        v_hat = s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def radam(lr, b1=0.9, b2=0.999, eps=1e-8):
    rho_inf = 2 / (1 - b2) - 1

    def step(s, w, g, t):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            adaptive = np.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + eps)
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            return w - lr * m_hat * r * adaptive
        return w - lr * m_hat

    return step


def adadelta(lr=1.0, rho=0.9, eps=1e-6):
    def step(s, w, g, t):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(s["v"] + eps) * g
        s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
        return w - lr * delta

    return step


def adagrad(lr=0.01, lr_decay=0.0, initial=0.0, eps=1e-10):
    def step(s, w, g, t):
        clr = lr / (1 + (t - 1) * lr_decay)
        s["sum"] = s.get("sum", initial) + g * g
        return w - clr * g / (np.sqrt(s["sum"]) + eps)

    return step


def rmsprop(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    def step(s, w, g, t):
        s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
        v = s["v"]
        if centered:
            s["avg"] = alpha * s.get("avg", 0.0) + (1 - alpha) * g
            v = v - s["avg"] ** 2
        if momentum:
            s["b"] = momentum * s.get("b", 0.0) + g / (np.sqrt(v) + eps)
            return w - lr * s["b"]
        return w - lr * g / (np.sqrt(v) + eps)

    return step


def rprop(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    def step(s, w, g, t):
        prev, size = s.get("prev", np.zeros_like(g)), s.get("size", np.full_like(g, lr))
        agree = prev * g
        size = np.where(agree > 0, np.minimum(size * etas[1], step_sizes[1]), size)
        size = np.where(agree < 0, np.maximum(size * etas[0], step_sizes[0]), size)
        g = np.where(agree < 0, 0.0, g)
        s["prev"], s["size"] = g, size
        return w - size * np.sign(g)

    return step


# ---- the documented optx settings (see each optimizer's docstring) ----

CASES = {
    "sgd": (lambda: optx.sgd(0.05), sgd(0.05), 0.0),
    "sgd_momentum_dampening_wd": (
        lambda: optx.sgd(0.05, 0.9, weight_decay=0.01, dampening=0.3),
        sgd(0.05, 0.9, dampening=0.3),
        0.01,
    ),
    "sgd_nesterov_wd": (
        lambda: optx.sgd(0.05, 0.9, True, weight_decay=0.01),
        sgd(0.05, 0.9, nesterov=True),
        0.01,
    ),
    "adam_wd": (lambda: optx.adam(1e-2), adam(1e-2), 0.01),
    "adam_amsgrad": (lambda: optx.amsgrad(1e-2, max_of="raw"), adam(1e-2, amsgrad=True), 0.0),
    "adamw": (
        lambda: optx.adamw(1e-2, weight_decay=0.05),
        adam(1e-2, decoupled_wd=0.05),
        0.0,
    ),
    "adamax": (lambda: optx.adamax(2e-3), adamax(2e-3), 0.0),
    "nadam": (lambda: optx.nadam(2e-3, schedule_decay=4e-3), nadam(2e-3), 0.0),
    "radam": (lambda: optx.radam(1e-2, eps_convention="hat"), radam(1e-2), 0.0),
    "radam_eps": (
        lambda: optx.radam(1e-2, 0.9, 0.99, 1e-1, eps_convention="hat"),
        radam(1e-2, 0.9, 0.99, 1e-1),
        0.0,
    ),
    "adadelta_wd": (lambda: optx.adadelta(1.0, weight_decay=0.01), adadelta(), 0.01),
    "adagrad": (
        lambda: optx.adagrad(0.1, 0.0, 1e-10, eps_in_sqrt=False, lr_decay=0.05),
        adagrad(0.1, lr_decay=0.05),
        0.0,
    ),
    "adagrad_initial": (
        lambda: optx.adagrad(0.1, 0.5, 1e-3, eps_in_sqrt=False),
        adagrad(0.1, initial=0.5, eps=1e-3),
        0.0,
    ),
    "rmsprop": (lambda: optx.rmsprop(1e-2, 0.99, eps_in_sqrt=False), rmsprop(), 0.0),
    "rmsprop_centered_momentum": (
        lambda: optx.rmsprop(1e-2, 0.99, 1e-8, eps_in_sqrt=False, centered=True, momentum=0.9),
        rmsprop(centered=True, momentum=0.9),
        0.0,
    ),
    "rprop": (lambda: optx.rprop(0.01), rprop(), 0.0),
}
L2_IN_CHAIN = {"adam_wd"}  # optx.adam has no L2 switch: chain add_decayed_weights first


@pytest.mark.parametrize("name", _fast.cases(sorted(CASES)))
def test_matches_torch_algorithm_in_float64(name):
    make, step, wd = CASES[name]
    grads = _grads()
    got = _optx_trajectory(make, grads, wd if name in L2_IN_CHAIN else 0.0)
    expected = _torch_trajectory(step, grads, wd)
    for t, (a, b) in enumerate(zip(got, expected), start=1):
        error = np.max(np.abs(a - b)) / np.max(np.abs(b))
        assert error < RTOL, f"{name}, step {t}: relative error {error:.3g}"


def test_radam_eps_placement_differs_from_optax_default():
    """The switch matters: with a large eps the corrected placement is measurably off."""
    grads = _grads()
    expected = _torch_trajectory(radam(1e-2, 0.9, 0.99, 1e-1), grads)
    got = _optx_trajectory(lambda: optx.radam(1e-2, 0.9, 0.99, 1e-1), grads)
    assert np.max(np.abs(got[-1] - expected[-1])) > 1e-4


def test_sgd_dampening_needs_momentum():
    with pytest.raises(ValueError, match=r"optx\.sgd: dampening=0\.5 needs a momentum"):
        optx.sgd(0.1, dampening=0.5)


def test_adagrad_lr_decay_must_be_non_negative():
    with pytest.raises(ValueError, match="lr_decay"):
        optx.adagrad(0.1, lr_decay=-1.0)

# ruff: noqa: E501
# %% [markdown]
# # Optimizers and their update rules
#
# MXNet's optimizer tutorial lists each optimizer with its update rule. Here every optx
# optimizer family gets its rule written out, and each rule is *checked*: a few lines of
# NumPy implement the equation as written, and the optx optimizer must produce the same
# weights, step after step, on random gradients. At the end we build a new optimizer from
# transforms and register it by name.
#
# Notation: `w` the weights, `g` the gradient, `t` the 1-based update number, `lr` the
# learning rate. optx optimizers are `(init, update)` pairs: `update` returns the change
# to apply, `optx.apply_updates(w, u)` applies it.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import optx

STEPS, SIZE = 8, 6
rng = np.random.default_rng(0)
W0 = rng.normal(size=SIZE)
GRADS = rng.normal(size=(STEPS, SIZE))
checked = []


def run_optx(tx, w0=W0, grads=GRADS):
    """The weights after each of len(grads) updates, in float32, jitted."""
    w = jnp.asarray(w0, jnp.float32)
    state = tx.init(w)
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        u, state = update(jnp.asarray(g, jnp.float32), state, w)
        w = optx.apply_updates(w, u)
        out.append(np.asarray(w))
    return np.stack(out)


def run_rule(rule, w0=W0, grads=GRADS):
    """The same with the equation in NumPy (float64): rule(w, g, t, state) -> new w."""
    w, state, out = np.array(w0), {}, []
    for t, g in enumerate(grads, start=1):
        w = rule(w, g, t, state)
        out.append(w)
    return np.stack(out)


def check(name, tx, rule, rtol=2e-5, atol=2e-6, **kw):
    ours, reference = run_optx(tx, **kw), run_rule(rule, **kw)
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=atol, err_msg=name)
    checked.append(name)
    err = np.abs(ours - reference).max()
    print(f"{name:<28} matches its update rule over {len(ours)} steps (max |diff| {err:.1e})")


def norm(x):
    return np.sqrt(np.sum(x**2))


# %% [markdown]
# ## A picture first
#
# Seven optimizers on the same ill-conditioned valley, `f(x, y) = x^2/20 + y^2`, from the
# same start, each with a learning rate suited to it. Plain SGD crawls along the flat
# direction, momentum overshoots and recovers, the adaptive methods rescale each
# coordinate, and Lion moves by signs (steps of fixed size).


# %%
def valley(p):
    return p[0] ** 2 / 20 + p[1] ** 2


contenders = {
    "sgd(0.4)": optx.sgd(0.4),
    "sgd(0.1, momentum=0.9)": optx.sgd(0.1, momentum=0.9),
    "nag(0.1, momentum=0.9)": optx.nag(0.1, momentum=0.9),
    "adagrad(0.5)": optx.adagrad(0.5),
    "rmsprop(0.05)": optx.rmsprop(0.05),
    "adam(0.3)": optx.adam(0.3),
    "lion(0.1, weight_decay=0)": optx.lion(0.1, weight_decay=0.0),
}
start = jnp.array([-7.0, 2.0])


def valley_path(tx, steps=60):
    """The start and the points after each of the steps (all of them in one jitted scan)."""

    def step(carry, _):
        p, state = carry
        u, state = tx.update(jax.grad(valley)(p), state, p)
        p = optx.apply_updates(p, u)
        return (p, state), p

    _, points = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), length=steps))(start)
    return np.concatenate([np.asarray(start)[None], np.asarray(points)])


paths = {name: valley_path(tx) for name, tx in contenders.items()}

xs, ys = np.meshgrid(np.linspace(-8, 3, 200), np.linspace(-2.5, 2.5, 200))
fig, ax = plt.subplots(figsize=(9, 4.5))
ax.contour(xs, ys, xs**2 / 20 + ys**2, levels=np.geomspace(0.01, 8, 14), colors="lightgrey")
for name, path in paths.items():
    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
ax.plot(0, 0, "k*", ms=12)
ax.set(title="60 steps on x²/20 + y²", xlabel="x", ylabel="y")
ax.legend(fontsize=8, loc="lower right")
plt.show()

final = {name: float(valley(jnp.asarray(path[-1]))) for name, path in paths.items()}
print({k: f"{v:.2e}" for k, v in final.items()})
assert final["sgd(0.1, momentum=0.9)"] < final["sgd(0.4)"]  # momentum helps in the valley

# %% [markdown]
# ## Stochastic gradient descent
#
# | optimizer | update rule |
# |---|---|
# | `sgd(lr)` | `w = w - lr * g` |
# | `sgd(lr, momentum=mu)` | `t = mu * t + g`, `w = w - lr * t` (the rate outside the buffer: Optax, PyTorch) |
# | `sgd(lr, momentum=mu, lr_inside_momentum=True)` | `m = mu * m - lr * g`, `w = w + m` (MXNet) |
# | `nag(lr, momentum=mu)` | `m = mu * m - lr * g`, `w = w + mu * m - lr * g` (MXNet's NAG) |
# | `sgd(..., weight_decay=wd)` | `g = g + wd * w` first (coupled L2, MXNet's `wd`) |
#
# The two momentum conventions agree for a constant rate and differ under a schedule.

# %%
lr, mu, wd = 0.1, 0.9, 0.01


def sgd_rule(w, g, t, s):
    return w - lr * g


def momentum_rule(w, g, t, s):
    s["t"] = mu * s.get("t", 0.0) + g
    return w - lr * s["t"]


def mxnet_momentum_rule(w, g, t, s):
    s["m"] = mu * s.get("m", 0.0) - lr * (g + wd * w)
    return w + s["m"]


def nag_rule(w, g, t, s):
    s["m"] = mu * s.get("m", 0.0) - lr * g
    return w + mu * s["m"] - lr * g


check("sgd", optx.sgd(lr), sgd_rule)
check("sgd + momentum", optx.sgd(lr, momentum=mu), momentum_rule)
check(
    "sgd, MXNet convention + wd",
    optx.sgd(lr, momentum=mu, lr_inside_momentum=True, weight_decay=wd),
    mxnet_momentum_rule,
)
check("nag", optx.nag(lr, momentum=mu), nag_rule)

# %% [markdown]
# ## Per-coordinate adaptive rates: AdaGrad, RMSProp, AdaDelta
#
# | optimizer | update rule |
# |---|---|
# | `adagrad(lr, initial_accumulator_value=0, eps)` | `s = s + g^2`, `w = w - lr * g / sqrt(s + eps)` (MXNet; Optax starts `s` at 0.1) |
# | `rmsprop(lr, decay=rho)` | `v = rho * v + (1 - rho) * g^2`, `w = w - lr * g / sqrt(v + eps)` |
# | `rmsprop(lr, decay, centered=True, momentum=mu)` | `m = rho * m + (1 - rho) * g`; `d = mu * d + lr * g / sqrt(v - m^2 + eps)`; `w = w - d` (Graves; MXNet's centered form) |
# | `adadelta(lr, rho, eps)` | `e_g = rho * e_g + (1 - rho) * g^2`; `d = sqrt(e_x + eps) / sqrt(e_g + eps) * g`; `e_x = rho * e_x + (1 - rho) * d^2`; `w = w - lr * d` |

# %%
eps, rho = 1e-7, 0.9


def adagrad_rule(w, g, t, s):
    s["s"] = s.get("s", 0.0) + g**2
    return w - lr * g / np.sqrt(s["s"] + eps)


def rmsprop_rule(w, g, t, s):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
    return w - 0.01 * g / np.sqrt(s["v"] + 1e-8)


def centered_rmsprop_rule(w, g, t, s):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
    s["m"] = rho * s.get("m", 0.0) + (1 - rho) * g
    s["d"] = mu * s.get("d", 0.0) + 0.01 * g / np.sqrt(s["v"] - s["m"] ** 2 + 1e-8)
    return w - s["d"]


def adadelta_rule(w, g, t, s):
    s["eg"] = rho * s.get("eg", 0.0) + (1 - rho) * g**2
    d = np.sqrt(s.get("ex", 0.0) + 1e-6) / np.sqrt(s["eg"] + 1e-6) * g
    s["ex"] = rho * s.get("ex", 0.0) + (1 - rho) * d**2
    return w - 1.0 * d


check("adagrad", optx.adagrad(lr, initial_accumulator_value=0.0, eps=eps), adagrad_rule)
check("rmsprop", optx.rmsprop(0.01, decay=rho, eps=1e-8), rmsprop_rule)
check(
    "rmsprop centered + momentum",
    optx.rmsprop(0.01, decay=rho, eps=1e-8, centered=True, momentum=mu),
    centered_rmsprop_rule,
)
check("adadelta", optx.adadelta(1.0, rho=rho, eps=1e-6), adadelta_rule)

# %% [markdown]
# ## The Adam family
#
# With `m = b1 * m + (1 - b1) * g`, `v = b2 * v + (1 - b2) * g^2`,
# `m_hat = m / (1 - b1^t)` and `v_hat = v / (1 - b2^t)`:
#
# | optimizer | update rule |
# |---|---|
# | `adam` | `w = w - lr * m_hat / (sqrt(v_hat) + eps)` (Optax, PyTorch) |
# | `adam(eps_convention="hat")` | `w = w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)` (MXNet, TensorFlow) |
# | `adamw` | `w = w - lr * (m_hat / (sqrt(v_hat) + eps) + wd * w)` (decoupled decay) |
# | `adamax` | `u = max(b2 * u, abs(g) + eps)`, `w = w - lr / (1 - b1^t) * m / u` |
# | `amsgrad` | `v_max = max(v_max, v_hat)`, `w = w - lr * m_hat / (sqrt(v_max) + eps)` |
# | `nadam(lr, schedule_decay=sd)` (default sd=0: Optax) | Dozat's momentum schedule `mu_t = b1 * (1 - 0.5 * 0.96^(t * sd))`, `M_t = M_{t-1} * mu_t`; `w = w - lr * ((1 - mu_t) / (1 - M_t) * g + mu_{t+1} / (1 - M_t * mu_{t+1}) * m) / (sqrt(v_hat) + eps)` |
# | `radam` | `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`; if `rho_t >= 5`: `w = w - lr * r_t * m_hat / (sqrt(v_hat) + eps)`, else `w = w - lr * m_hat` |
# | `adabelief` | `s = b2 * s + (1 - b2) * (g - m)^2 + eps_root`, `w = w - lr * m_hat / (sqrt(s / (1 - b2^t)) + eps)` |
# | `yogi` | `v = v - (1 - b2) * sign(v - g^2) * g^2` (from `v0 = 1e-6`), then Adam's step |
# | `qhadam` | `w = w - lr * ((1 - nu1) g + nu1 m_hat) / (sqrt((1 - nu2) g^2 + nu2 v_hat) + eps)` |

# %%
b1, b2, lr = 0.9, 0.999, 0.01


def moments(g, t, s, b1=b1, b2=b2):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    return s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)


def adam_rule(w, g, t, s):
    m_hat, v_hat = moments(g, t, s)
    return w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def adam_hat_rule(w, g, t, s):
    moments(g, t, s)
    return w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * s["m"] / (np.sqrt(s["v"]) + 1e-8)


def adamw_rule(w, g, t, s):
    m_hat, v_hat = moments(g, t, s)
    return w - lr * (m_hat / (np.sqrt(v_hat) + 1e-8) + 0.1 * w)


def adamax_rule(w, g, t, s):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g) + 1e-8)
    return w - lr / (1 - b1**t) * s["m"] / s["u"]


def amsgrad_rule(w, g, t, s):
    m_hat, v_hat = moments(g, t, s)
    s["vmax"] = np.maximum(s.get("vmax", 0.0), v_hat)
    return w - lr * m_hat / (np.sqrt(s["vmax"]) + 1e-8)


def nadam_rule(w, g, t, s, sd=0.004):
    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * sd))

    s["M"] = s.get("M", 1.0) * mu(t)
    _, v_hat = moments(g, t, s)
    direction = (1 - mu(t)) / (1 - s["M"]) * g + mu(t + 1) / (1 - s["M"] * mu(t + 1)) * s["m"]
    return w - lr * direction / (np.sqrt(v_hat) + 1e-8)


def radam_rule(w, g, t, s):
    m_hat, v_hat = moments(g, t, s)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t < 5:
        return w - lr * m_hat
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return w - lr * r_t * m_hat / (np.sqrt(v_hat) + 1e-8)


def adabelief_rule(w, g, t, s):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["s"] = b2 * s.get("s", 0.0) + (1 - b2) * (g - s["m"]) ** 2 + 1e-16
    return w - lr * s["m"] / (1 - b1**t) / (np.sqrt(s["s"] / (1 - b2**t)) + 1e-16)


def yogi_rule(w, g, t, s):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    v = s.get("v", 1e-6)
    s["v"] = v - (1 - b2) * np.sign(v - g**2) * g**2
    return w - lr * s["m"] / (1 - b1**t) / (np.sqrt(s["v"] / (1 - b2**t)) + 1e-3)


def qhadam_rule(w, g, t, s, nu1=0.7, nu2=1.0):
    m_hat, v_hat = moments(g, t, s, b1=0.999, b2=0.999)
    return w - lr * ((1 - nu1) * g + nu1 * m_hat) / (np.sqrt((1 - nu2) * g**2 + nu2 * v_hat) + 1e-8)


check("adam", optx.adam(lr), adam_rule)
check("adam, MXNet's eps", optx.adam(lr, eps_convention="hat"), adam_hat_rule)
check("adamw", optx.adamw(lr, weight_decay=0.1), adamw_rule)
check("adamax", optx.adamax(lr), adamax_rule)
check(
    "adamaxw",
    optx.adamaxw(lr, weight_decay=0.1),
    lambda w, g, t, s: adamax_rule(w, g, t, s) - lr * 0.1 * w,
)
check("amsgrad", optx.amsgrad(lr), amsgrad_rule)
check("nadam", optx.nadam(lr, schedule_decay=0.004), nadam_rule)
check(
    "nadamw",
    optx.nadamw(lr, weight_decay=0.1, schedule_decay=0.004),
    lambda w, g, t, s: nadam_rule(w, g, t, s) - lr * 0.1 * w,
)
check("radam (both branches)", optx.radam(lr), radam_rule)
check("adabelief", optx.adabelief(lr), adabelief_rule)
check("yogi", optx.yogi(lr), yogi_rule)
check("qhadam", optx.qhadam(lr), qhadam_rule)

# %% [markdown]
# ## Signs: signSGD, Signum, Lion
#
# | optimizer | update rule |
# |---|---|
# | `sign_sgd(lr)` | `w = w - lr * sign(g)` |
# | `signum(lr, beta=mu)` | `m = mu * m + (1 - mu) * g`, `w = w - lr * sign(m)` |
# | `lion(lr, b1, b2, weight_decay)` | `u = sign(b1 * m + (1 - b1) * g)`, `m = b2 * m + (1 - b2) * g`, `w = w - lr * (u + wd * w)` |


# %%
def sign_sgd_rule(w, g, t, s):
    return w - lr * np.sign(g)


def signum_rule(w, g, t, s):
    s["m"] = mu * s.get("m", 0.0) + (1 - mu) * g
    return w - lr * np.sign(s["m"])


def lion_rule(w, g, t, s):
    m = s.get("m", 0.0)
    u = np.sign(0.9 * m + 0.1 * g)
    s["m"] = 0.99 * m + 0.01 * g
    return w - lr * (u + 0.1 * w)


check("sign_sgd", optx.sign_sgd(lr), sign_sgd_rule)
check("signum", optx.signum(lr, mu), signum_rule)
check("lion", optx.lion(lr, weight_decay=0.1), lion_rule)

# %% [markdown]
# ## Layer-wise trust ratios: LARS, LAMB, Fromage
#
# Norms are per leaf (per "layer"); here there is one leaf.
#
# | optimizer | update rule |
# |---|---|
# | `lars(lr, weight_decay, momentum=mu, paper_ratio=True)` | `r = eta * norm(w) / (norm(g) + wd * norm(w))`, `m = mu * m - lr * r * (g + wd * w)`, `w = w + m` |
# | `lamb(lr, weight_decay)` | `d = m_hat / (sqrt(v_hat) + eps) + wd * w`, `w = w - lr * norm(w) / norm(d) * d` |
# | `fromage(lr)` | `w = (w - lr * norm(w) / norm(g) * g) / sqrt(1 + lr^2)` |


# %%
def lars_rule(w, g, t, s, eta=0.001, wd=0.01):
    r = eta * norm(w) / (norm(g) + wd * norm(w))
    s["m"] = mu * s.get("m", 0.0) - 1.0 * r * (g + wd * w)
    return w + s["m"]


def lamb_rule(w, g, t, s, wd=0.01):
    m_hat, v_hat = moments(g, t, s)
    d = m_hat / (np.sqrt(v_hat) + 1e-6) + wd * w
    return w - lr * norm(w) / norm(d) * d


def fromage_rule(w, g, t, s):
    return (w - lr * norm(w) / norm(g) * g) / np.sqrt(1 + lr**2)


check("lars", optx.lars(1.0, 0.01, momentum=mu, paper_ratio=True), lars_rule)
check("lamb", optx.lamb(lr, weight_decay=0.01), lamb_rule)
check("fromage", optx.fromage(lr), fromage_rule)

# %% [markdown]
# ## MXNet's specials: FTRL, FTML, DCASGD, SGLD, LBSGD
#
# | optimizer | update rule |
# |---|---|
# | `ftrl(lr, lambda1, beta, weight_decay)` | `z = z + g - (sqrt(n + g^2) - sqrt(n)) * w / lr`; `n = n + g^2`; `w = (sign(z) * lambda1 - z) / ((beta + sqrt(n)) / lr + wd)` where `abs(z) > lambda1`, else 0 |
# | `ftml(lr, b1, b2, eps)` | `v = b2 * v + (1 - b2) * g^2`; `d_t = (1 - b1^t) / lr * (sqrt(v / (1 - b2^t)) + eps)`; `z = b1 * z + (1 - b1) * g - (d_t - b1 * d_{t-1}) * w`; `w = -z / d_t` |
# | `dcasgd(lr, momentum, lamda)` | `m = mu * m - lr * (g + lamda * g^2 * (w - w_prev))`, `w_prev = w`, `w = w + m` |
# | `sgld(lr)` | `w = w - lr / 2 * g + sqrt(lr) * N(0, 1)` |
# | `lbsgd(lr, batch_scale=S, ...)` | accumulates `S` gradients, then momentum SGD with their mean and the rate times a warmup multiplier (linear from 1 to `S`); zero updates in between |


# %%
def ftrl_rule(w, g, t, s, lr=0.1, l1=0.01, beta=1.0, wd=0.001):
    n = s.get("n", 0.0)
    s["z"] = s.get("z", 0.0) + g - (np.sqrt(n + g**2) - np.sqrt(n)) * w / lr
    s["n"] = n + g**2
    z = s["z"]
    return np.where(
        np.abs(z) > l1, (np.sign(z) * l1 - z) / ((beta + np.sqrt(s["n"])) / lr + wd), 0.0
    )


def ftml_rule(w, g, t, s, lr=0.0025, b1=0.6, b2=0.999, eps=1e-8):
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    d = (1 - b1**t) / lr * (np.sqrt(s["v"] / (1 - b2**t)) + eps)
    s["z"] = b1 * s.get("z", 0.0) + (1 - b1) * g - (d - b1 * s.get("d", 0.0)) * w
    s["d"] = d
    return -s["z"] / d


def dcasgd_rule(w, g, t, s, lamda=0.04):
    w_prev = s.get("w_prev", w)
    s["m"] = mu * s.get("m", 0.0) - lr * (g + lamda * g**2 * (w - w_prev))
    s["w_prev"] = w
    return w + s["m"]


def lbsgd_rule(w, g, t, s, S=2, N=4):
    s["acc"] = s.get("acc", 0.0) + g
    if t % S:
        return w
    mean, s["acc"] = s["acc"] / S, 0.0
    mult = S if t >= N else 1 + (S - 1) * t / N
    s["m"] = mu * s.get("m", 0.0) - lr * mult * mean
    return w + s["m"]


check("ftrl", optx.ftrl(0.1, lambda1=0.01, beta=1.0, weight_decay=0.001), ftrl_rule)
check("ftml", optx.ftml(), ftml_rule)
check("dcasgd", optx.dcasgd(lr, momentum=mu), dcasgd_rule)
check(
    "lbsgd",
    optx.lbsgd(lr, momentum=mu, batch_scale=2, warmup_epochs=1, updates_per_epoch=4),
    lbsgd_rule,
)

# %% [markdown]
# SGLD adds Gaussian noise, so its rule is checked in two parts: with the same key, two
# runs that differ only in the gradient differ by exactly `-lr / 2 * (g_a - g_b)`, and the
# noise has mean 0 and standard deviation `sqrt(lr)`.

# %%
lr_sgld, big = 0.01, 100_000
w = jnp.zeros(big)
g_a = jnp.asarray(rng.normal(size=big), jnp.float32)
g_b = jnp.zeros(big)
tx = optx.sgld(lr_sgld, key=42)
u_a, _ = tx.update(g_a, tx.init(w), w)
u_b, _ = tx.update(g_b, tx.init(w), w)
np.testing.assert_allclose(u_a - u_b, -lr_sgld / 2 * g_a, rtol=1e-5, atol=1e-7)
noise = np.asarray(u_b)
print(f"noise mean {noise.mean():+.5f}, std {noise.std():.5f} (sqrt(lr) = {np.sqrt(lr_sgld):.5f})")
assert (
    abs(noise.mean()) < 5 * np.sqrt(lr_sgld / big)
    and abs(noise.std() / np.sqrt(lr_sgld) - 1) < 0.02
)
checked.append("sgld")

# %% [markdown]
# ## Others: Rprop, NovoGrad, SM3, Adafactor
#
# | optimizer | update rule |
# |---|---|
# | `rprop(lr)` | per coordinate, with `s = sign(g) * sign(g_prev)`: step `*= 1.2` where `s > 0`, `*= 0.5` where `s < 0` (then no move and `g_prev = 0`); `w = w - step * sign(g)` |
# | `novograd(lr, b1, b2)` | per leaf `n = norm(g)^2` at t = 1, then `n = b2 * n + (1 - b2) * norm(g)^2`; `m = b1 * m + g / (sqrt(n) + eps)`; `w = w - lr * m` |
# | `sm3(lr, momentum)` | for a vector, AdaGrad with momentum: `s = s + g^2`, `m = mu * m + (1 - mu) * g / sqrt(s)`, `w = w - lr * m` (for matrices the accumulator is one vector per axis) |
# | `adafactor(lr)` | for a small leaf (not factored): `beta = 1 - t^-0.8`, `v = beta * v + (1 - beta) * g^2`, `d = g / sqrt(v)`, `d = d / max(1, rms(d))`, `d = d * max(1e-3, rms(w))`, `w = w - lr * d` |


# %%
def rprop_rule(w, g, t, s, lr=0.01):
    step, prev = s.get("step", np.full_like(w, lr)), s.get("prev", np.zeros_like(w))
    agree = np.sign(g) * prev
    step = np.where(agree > 0, np.minimum(step * 1.2, 50.0), step)
    step = np.where(agree < 0, np.maximum(step * 0.5, 1e-6), step)
    s["step"], s["prev"] = step, np.where(agree < 0, 0.0, np.sign(g))
    return w - np.where(agree < 0, 0.0, step * np.sign(g))


def novograd_rule(w, g, t, s, b1=0.9, b2=0.25, eps=1e-6):
    s["n"] = norm(g) ** 2 if t == 1 else b2 * s["n"] + (1 - b2) * norm(g) ** 2
    s["m"] = b1 * s.get("m", 0.0) + g / (np.sqrt(s["n"]) + eps)
    return w - lr * s["m"]


def sm3_rule(w, g, t, s):
    s["s"] = s.get("s", 0.0) + g**2
    s["m"] = mu * s.get("m", 0.0) + (1 - mu) * g / np.sqrt(s["s"] + 1e-8)
    return w - lr * s["m"]


def adafactor_rule(w, g, t, s):
    beta = 1 - t**-0.8
    s["v"] = beta * s.get("v", 0.0) + (1 - beta) * (g**2 + 1e-30)
    d = g / np.sqrt(s["v"])
    d = d / max(1.0, np.sqrt(np.mean(d**2)))
    d = d * max(1e-3, np.sqrt(np.mean(w**2)))
    return w - lr * d


check("rprop", optx.rprop(0.01), rprop_rule)
check("novograd", optx.novograd(lr), novograd_rule)
check("sm3", optx.sm3(lr, momentum=mu), sm3_rule)
check("adafactor", optx.adafactor(lr), adafactor_rule)

# %% [markdown]
# ## Lookahead around RAdam: Ranger
#
# | optimizer | update rule |
# |---|---|
# | `ranger(lr, b1=0.95, b2=0.99, eps=1e-6, weight_decay=0.01, sync_period=k, alpha)` | fast step `w = w - lr * (radam_direction + wd * w)` (RAdam's direction from the table above: rectified `r_t * m_hat / (sqrt(v_hat) + eps)` when `rho_t >= 5`, else `m_hat`); every `k` steps the slow weights `phi = phi + alpha * (w - phi)` and `w = phi` (`phi` starts at the initial weights) |


# %%
def radam_direction(g, t, s, b1, b2, eps):
    m_hat, v_hat = moments(g, t, s, b1=b1, b2=b2)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t < 5:
        return m_hat
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return r_t * m_hat / (np.sqrt(v_hat) + eps)


def ranger_rule(w, g, t, s, k=6, alpha=0.5, wd=0.01):
    slow = s.setdefault("slow", w.copy())
    fast = w - lr * (radam_direction(g, t, s, b1=0.95, b2=0.99, eps=1e-6) + wd * w)
    if t % k:
        return fast
    s["slow"] = slow + alpha * (fast - slow)
    return s["slow"]


# 8 steps: RAdam's two branches (rho_t >= 5 from t = 6) and one synchronization (t = 6)
check("ranger", optx.ranger(lr), ranger_rule)

# %% [markdown]
# Every optimizer of the catalogue has been checked against its equation (the registry also
# holds a few alternative spellings, such as MXNet's `signsgd` and `ccsgd` and fastai's
# `larc`). The modern optimizers (Muon, Schedule-Free, Shampoo, SOAP, Prodigy and the
# rest) are trained in notebook 07 and checked against Optax, torch's rules and NumPy
# references of their papers in the test suite (`tests/test_modern_*.py`).

# %%
MODERN = {
    "muon", "adopt", "asgd", "ademamix", "simplified_ademamix", "adan", "mars", "shampoo",
    "soap", "schedule_free_sgd", "schedule_free_adamw", "prodigy", "dadapt_adamw", "sophia",
    "lbfgs",
}  # fmt: skip
registry = optx.registered_optimizers()
exported = {name for name, factory in registry.items() if getattr(optx, name, None) is factory}
covered = {name.split()[0].split(",")[0] for name in checked}
catalogue = exported - MODERN
print(f"{len(checked)} checks cover {len(covered & catalogue)} of {len(catalogue)} optimizers")
assert MODERN <= exported, MODERN - exported
assert catalogue <= covered, catalogue - covered

# %% [markdown]
# ## A custom optimizer from transforms, registered by name
#
# optx optimizers are short chains of transforms, so a new one is a chain too. Here:
# gradient clipping, Adam's scaling, decoupled weight decay that skips the bias, and the
# learning rate (with a schedule). Registering the factory makes it available by name to
# `optx.create`, the `Trainer` and anything else that takes names.


# %%
def no_bias(params):
    return {name: name != "bias" for name in params}


@optx.register_optimizer("clipped_adamw", overwrite=True)
def clipped_adamw(learning_rate=1e-3, max_norm=1.0, weight_decay=0.01, b1=0.9, b2=0.999):
    """AdamW with global-norm clipping; biases are not decayed."""
    return optx.chain(
        optx.clip_by_global_norm(max_norm),
        optx.scale_by_adam(b1=b1, b2=b2),
        optx.add_decayed_weights(weight_decay, mask=no_bias),
        optx.scale_by_learning_rate(learning_rate),
    )


schedule = optx.schedules.cosine_decay_schedule(0.05, decay_steps=100)
tx = optx.create("clipped_adamw", learning_rate=schedule, max_norm=0.5)
params = {"weight": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "bias": jnp.ones(2)}
grads = {"weight": jnp.full((3, 2), 2.0), "bias": jnp.full(2, -1.0)}
state = tx.init(params)
for t in range(2):
    updates, state = tx.update(grads, state, params)
    used = optx.get_hyperparams(state)  # the values this update used
    print(f"update {t + 1}:", {k: float(f"{float(v):.6g}") for k, v in used.items()})
    lr_t = float(schedule(t))
    assert float(used["learning_rate"]) == np.float32(lr_t)  # the schedule's value at count t
    assert float(used["eps"]) == np.float32(1e-8)
    # with a constant gradient every Adam step is sign(g) (m_hat / sqrt(v_hat) = g / |g|)
    expected_weight = -lr_t * (np.sign(2.0) + 0.01 * np.asarray(params["weight"]))
    np.testing.assert_allclose(updates["weight"], expected_weight, rtol=1e-5)
    np.testing.assert_allclose(updates["bias"], -lr_t * np.sign(-1.0) * np.ones(2), rtol=1e-5)
    params = optx.apply_updates(params, updates)
print("both updates match -lr_t * (sign(g) + wd * w) on the weight, no decay on the bias,")
print(f"with lr_t from the cosine schedule: {float(schedule(0)):.6g}, {float(schedule(1)):.6g}")

# by name in the Trainer, with the optx contract checks on the new optimizer
trainer = optx.train.Trainer(params, "clipped_adamw", {"learning_rate": 0.05})
trainer.step(grads, batch_size=1)
optx.testing.check_transform(optx.create("clipped_adamw"), params)
print(
    "check_transform passed; 'clipped_adamw' in registry:",
    "clipped_adamw" in optx.registered_optimizers(),
)

"""Shampoo against a float64 NumPy reference written from the papers' algorithms.

The reference follows Gupta et al. (2018), Algorithm 1 (statistics ``L += G G^T``,
``R += G^T G``, or their moving average), with Distributed Shampoo's additions as
`optx.scale_by_shampoo` documents them (Anil et al., 2020): roots refreshed every
``precondition_frequency`` updates from ``start_preconditioning_step``, damping relative
to the largest eigenvalue, per-block grafting, the graft's update before the start, and
the diagonal fallback. Blocks in the reference are ragged NumPy slices (the last block of
an axis is short), so agreement also shows that optx's zero padding changes nothing.
"""

import itertools
import os
import subprocess
import sys

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

SHAPES = {"m": (5, 4), "t": (2, 3, 4), "v": (6,), "wide": (3, 12), "s": ()}
OPTIONS = {
    "block_size": 3,
    "precondition_frequency": 3,
    "start_preconditioning_step": 2,
    "max_preconditioner_dim": 10,
}


def _grads(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(steps)]


def _inv_root(s, p, eps):
    w, v = np.linalg.eigh(s)
    w = np.maximum(w, 0.0)
    if w.max() <= 0:
        return np.eye(len(s))
    return (v * (w + eps * w.max()) ** (-1.0 / p)) @ v.T


def _mode_product(x, m, axis):
    return np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)


def _gram(x, axis):
    others = [a for a in range(x.ndim) if a != axis]
    return np.tensordot(x, x, axes=(others, others))


class _Reference:
    def __init__(self, graft, b2, eps, graft_b2, graft_eps, exponent=None):
        self.graft, self.b2, self.eps = graft, b2, eps
        self.graft_b2, self.graft_eps, self.exponent = graft_b2, graft_eps, exponent
        self.stats, self.roots, self.diag, self.v = {}, {}, {}, {}

    def _graft(self, key, g, t):
        if self.graft in ("sgd", "none"):
            return g
        v = self.v.get(key, np.zeros_like(g))
        v = self.graft_b2 * v + (1 - self.graft_b2) * g * g
        self.v[key] = v
        if self.graft == "adam":
            v = v / (1 - self.graft_b2**t)
        return g / (np.sqrt(v) + self.graft_eps)

    def _graft_block(self, p, a):
        if self.graft == "none":
            return p
        norm_p = np.linalg.norm(p)
        return p * (np.linalg.norm(a) / norm_p if norm_p > 0 else 0.0)

    def step(self, grads, t):
        c = 1.0 if self.b2 == 1 else 1 - self.b2
        start, freq = OPTIONS["start_preconditioning_step"], OPTIONS["precondition_frequency"]
        refresh = t >= start and (t - start) % freq == 0
        out = {}
        for key, g in grads.items():
            a = self._graft(key, g, t)
            shape = g.shape
            if len(shape) < 2 or max(shape) > OPTIONS["max_preconditioner_dim"]:
                d = self.b2 * self.diag.get(key, np.zeros_like(g)) + c * g * g
                self.diag[key] = d
                top = d.max()
                p = g * (d + self.eps * top) ** -0.5 if top > 0 else g
                u = self._graft_block(p, a)
            else:
                u = np.zeros_like(g)
                b = OPTIONS["block_size"]
                ranges = [[slice(i, min(i + b, n)) for i in range(0, n, b)] for n in shape]
                for index in itertools.product(*ranges):
                    x = g[index]
                    bkey = (key, tuple((s.start, s.stop) for s in index))
                    stats = self.stats.get(bkey, [np.zeros((n, n)) for n in x.shape])
                    stats = [self.b2 * s + c * _gram(x, i) for i, s in enumerate(stats)]
                    self.stats[bkey] = stats
                    exponent = self.exponent or 2 * x.ndim
                    if refresh:
                        self.roots[bkey] = [_inv_root(s, exponent, self.eps) for s in stats]
                    p = x
                    for i, r in enumerate(self.roots.get(bkey, [])):
                        p = _mode_product(p, r, i)
                    u[index] = self._graft_block(p, a[index])
            out[key] = a if t < start else u
        return out


def _optx_updates(tx, grads):
    with jax.enable_x64(True):
        state = tx.init({k: jnp.zeros(s, jnp.float64) for k, s in SHAPES.items()})
        step = jax.jit(tx.update)
        out = []
        for g in grads:
            u, state = step(jax.tree.map(jnp.asarray, g), state)
            out.append(jax.tree.map(np.asarray, u))
        return out, state


@pytest.mark.parametrize(
    "graft, b2, exponent",
    [("adam", 1.0, None), ("rmsprop", 0.9, None), ("sgd", 0.99, 2), ("none", 1.0, None)],
)
def test_matches_float64_reference(graft, b2, exponent):
    eps, graft_b2, graft_eps = 1e-4, 0.95, 1e-8
    tx = optx.scale_by_shampoo(
        b2, eps, graft_b2, graft_eps, graft=graft, exponent_override=exponent, **OPTIONS
    )
    grads = _grads(20)
    got, _ = _optx_updates(tx, grads)
    reference = _Reference(graft, b2, eps, graft_b2, graft_eps, exponent)
    worst = 0.0
    for t, (g, u) in enumerate(zip(grads, got), start=1):
        want = reference.step(g, t)
        for key in SHAPES:
            np.testing.assert_allclose(u[key], want[key], rtol=1e-8, atol=1e-12, err_msg=key)
            scale = np.max(np.abs(want[key]))
            worst = max(worst, float(np.max(np.abs(u[key] - want[key]))) / max(scale, 1e-300))
    assert worst < 1e-8


def test_newton_roots_match_eigh_roots():
    kwargs = dict(eps=1e-4, graft="none", **OPTIONS)
    grads = _grads(12, seed=1)
    eigh, _ = _optx_updates(optx.scale_by_shampoo(**kwargs), grads)
    newton, _ = _optx_updates(optx.scale_by_shampoo(root_method="newton", **kwargs), grads)
    for a, b in zip(eigh, newton):
        for key in SHAPES:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-7, atol=1e-9, err_msg=key)


def _eqns(jaxpr, inside=False):
    """Yield (primitive name, inside a cond) over a jaxpr and its sub-jaxprs."""
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name, inside
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _eqns(sub, inside or eqn.primitive.name == "cond")


def test_roots_run_only_inside_the_cond_and_batched_over_blocks_and_leaves():
    # A (12, 12) leaf in 16 blocks of 3 x 3 and a (6, 3) one in 2 blocks of 3 x 3: every
    # factor is a stack of 3 x 3 matrices, so one batched eigh computes all 36 roots; a
    # (4, 4) leaf's 4 x 4 factors get a second one. Not one eigh per block, axis or leaf.
    tx = optx.scale_by_shampoo(block_size=3, precondition_frequency=5)
    params = {"w": jnp.zeros((12, 12)), "v": jnp.zeros((6, 3)), "b": jnp.zeros(12)}
    state = tx.init(params)
    jaxpr = jax.make_jaxpr(tx.update)(params, state).jaxpr
    eighs = [inside for name, inside in _eqns(jaxpr) if name == "eigh"]
    assert eighs == [True]
    assert state.leaves["w"].factors[0].shape == (16, 3, 3)
    params["u"] = jnp.zeros((4, 4))
    tx = optx.scale_by_shampoo(block_size=4, precondition_frequency=5)
    jaxpr = jax.make_jaxpr(tx.update)(params, tx.init(params)).jaxpr
    # block 4: w in (4, 4) blocks, v's (4, 3) blocks: 4 x 4 and 3 x 3 factors, u (4, 4).
    assert [inside for name, inside in _eqns(jaxpr) if name == "eigh"] == [True, True]


def test_batched_roots_equal_roots_leaf_by_leaf():
    # Two same-shaped leaves batched into one root computation give the roots each gets
    # alone (a one-leaf tree), to float64 rounding, for both root methods.
    rng = np.random.default_rng(7)
    grads = [
        {"a": jnp.asarray(rng.normal(size=(6, 4))), "b": jnp.asarray(rng.normal(size=(4, 6)))}
        for _ in range(3)
    ]
    for method in ("eigh", "newton"):
        tx = optx.scale_by_shampoo(
            block_size=4, precondition_frequency=1, start_preconditioning_step=1, root_method=method
        )
        with jax.enable_x64(True):
            both = tx.init(jax.tree.map(jnp.zeros_like, grads[0]))
            alone = {k: tx.init({k: jnp.zeros_like(v)}) for k, v in grads[0].items()}
            step = jax.jit(tx.update)
            for g in grads:
                _, both = step(g, both)
                alone = {k: step({k: g[k]}, s)[1] for k, s in alone.items()}
            for k in grads[0]:
                for got, want in zip(both.leaves[k].roots, alone[k].leaves[k].roots):
                    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15, err_msg=k)


def test_roots_change_only_every_precondition_frequency():
    tx = optx.scale_by_shampoo(block_size=2, precondition_frequency=3, start_preconditioning_step=2)
    params = {"w": jnp.zeros((4, 3))}
    state = tx.init(params)
    step = jax.jit(tx.update)
    rng = np.random.default_rng(3)
    changed = []
    for _ in range(10):
        before = state.leaves["w"].roots
        _, state = step({"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}, state)
        after = state.leaves["w"].roots
        changed.append(any(not np.array_equal(a, b) for a, b in zip(before, after)))
    assert changed == [t >= 2 and (t - 2) % 3 == 0 for t in range(1, 11)]


def test_bf16_params_keep_float32_statistics():
    tx = optx.shampoo(1e-2, block_size=2, start_preconditioning_step=1, precondition_frequency=1)
    params = {"w": jnp.ones((3, 4), jnp.bfloat16), "b": jnp.ones(4, jnp.bfloat16)}
    state = tx.init(params)
    grads = jax.tree.map(lambda p: (p * 0.5).astype(jnp.bfloat16), params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    leaf = state[0].leaves["w"]
    assert {f.dtype for f in leaf.factors + leaf.roots} == {jnp.dtype(jnp.float32)}
    assert state[0].leaves["b"].diagonal.dtype == jnp.float32
    assert state[0].leaves["w"].graft.dtype == jnp.float32
    assert updates["w"].dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(updates["w"], np.float32)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"block_size": 0}, r"optx.scale_by_shampoo: block_size must be >= 1, got 0"),
        ({"root_method": "svd"}, r"optx.scale_by_shampoo: root_method"),
        ({"graft": "adagrad"}, r"optx.scale_by_shampoo: graft"),
        ({"b2": 1.5}, r"optx.scale_by_shampoo: b2 must be in \[0, 1\], got 1.5"),
        ({"eps": 0.0}, r"optx.scale_by_shampoo: eps must be"),
        ({"exponent_override": 0}, r"optx.scale_by_shampoo: exponent_override must be >= 1"),
    ],
)
def test_bad_inputs_name_the_call_and_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optx.scale_by_shampoo(**kwargs)


def test_bad_alias_inputs_name_the_alias():
    with pytest.raises(ValueError, match=r"optx.shampoo: precondition_frequency must be >= 1"):
        optx.shampoo(precondition_frequency=0)
    with pytest.raises(TypeError, match=r"optx.shampoo: block_size must be an int"):
        optx.shampoo(block_size=2.0)


def test_state_can_be_donated():
    """Factors and roots are distinct buffers: a donated jitted update runs (no buffer twice)."""
    params = {"w": jnp.ones((8, 4)), "b": jnp.zeros(4)}
    grads = jax.tree.map(lambda x: 0.1 * x + 0.01, params)
    tx = optx.shampoo(1e-3, precondition_frequency=2)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optx.apply_updates(p, u), s

    donated = jax.jit(step, donate_argnums=(0, 1))
    p = jax.tree.map(lambda x: jnp.array(x, copy=True), params)
    s = tx.init(p)
    for _ in range(3):
        p, s = donated(p, s, grads)
    assert bool(jnp.all(jnp.isfinite(p["w"])))


_REFRESH_ON_TWO_CORES = """
import os
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # XLA's pool: 2 threads
import jax, jax.numpy as jnp, optx
shapes = {"a": (4096, 64), "b": (64, 4096)}  # 32 blocks each: two batched eighs
params = {k: jnp.full(s, 0.1) for k, s in shapes.items()}
grads = {k: jnp.sin(0.37 * jnp.arange(s[0] * s[1], dtype=jnp.float32)).reshape(s)
         for k, s in shapes.items()}
tx = optx.shampoo(1e-3, precondition_frequency=1, start_preconditioning_step=1)
step = jax.jit(lambda g, s, p: tx.update(g, s, p))
state = tx.init(params)
for _ in range(3):
    updates, state = jax.block_until_ready(step(grads, state, params))
print("finite", all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates)))
"""


def test_eigh_refresh_of_two_block_shapes_does_not_hang_on_two_cores():
    # Two same-step batched eighs (jaxlib's LAPACK kernel splits a batch over XLA's pool
    # and blocks until it is done) deadlocked a 2-thread pool before the roots' calls were
    # chained (`_preconditioner_blocks.batched_by_shape(serial=True)`): every refresh of
    # this tree hung. The timeout only turns such a hang into a failure.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_"))}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _REFRESH_ON_TWO_CORES],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a jitted Shampoo refresh on 2 threads did not finish in 180 s (deadlock)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["finite", "True"]

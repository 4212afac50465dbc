"""Schedules and counters at large step counts: no int32 overflow, float arithmetic.

Step arguments of 10**10 and counts up to 2**31 - 1 (an int32 array or a Python int),
against Optax where it has the same schedule and float64 NumPy of the documented rule.
"""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx
from optx import schedules as s

BIG = 10**10
MAX = 2**31 - 1
COUNTS = [jnp.int32(MAX), MAX, 10**9]


def _cosine(k, steps, init=1000.0):
    return init * (1 + np.cos(np.pi * min(k, steps) / steps)) / 2


OPTAX_PAIRS = {
    "cosine": (s.cosine_decay_schedule(1000.0, BIG), optax.cosine_decay_schedule(1000.0, BIG)),
    "exponential": (
        s.exponential_decay_schedule(1.0, BIG, 0.5),
        optax.exponential_decay(1.0, BIG, 0.5),
    ),
}

# Optax's own linear and polynomial schedules overflow at 10**10 steps: NumPy here.
NUMPY = {
    "linear": (s.linear_schedule(1.0, 0.0, BIG), lambda k: 1.0 - min(k, BIG) / BIG),
    "polynomial": (
        s.polynomial_schedule(1.0, 0.1, 2, BIG),
        lambda k: 0.1 + 0.9 * (1 - min(k, BIG) / BIG) ** 2,
    ),
    "cosine": (s.cosine_decay_schedule(1000.0, BIG), lambda k: _cosine(k, BIG)),
    "piecewise": (
        s.piecewise_constant_schedule(1.0, {10**9: 0.5, BIG: 0.1}),
        lambda k: 1.0 * (0.5 if k >= 10**9 else 1.0) * (0.1 if k >= BIG else 1.0),
    ),
    "inverse_sqrt": (
        s.inverse_sqrt_schedule(1.0, BIG),
        lambda k: min((k + 1) / BIG, np.sqrt(BIG / (k + 1))),
    ),
    "join": (
        s.join_schedules([s.constant_schedule(1.0), s.cosine_decay_schedule(1000.0, BIG)], [5]),
        lambda k: 1.0 if k < 5 else _cosine(k - 5, BIG),
    ),
    "mxnet_cosine": (
        s.cosine_schedule(BIG, base_lr=1.0),
        lambda k: (1 + np.cos(np.pi * min(k + 1, BIG) / BIG)) / 2,
    ),
    "mxnet_poly": (
        s.poly_schedule(BIG, base_lr=1.0, pwr=2),
        lambda k: ((BIG - min(k + 1, BIG)) / BIG) ** 2,
    ),
    "mxnet_factor": (
        s.factor_schedule(BIG // 10, 0.5, base_lr=1.0),
        lambda k: 0.5 ** (k // (BIG // 10)),
    ),
}


@pytest.mark.parametrize("name", OPTAX_PAIRS)
@pytest.mark.parametrize("count", COUNTS, ids=["int32_max_array", "int32_max", "1e9"])
def test_schedule_matches_optax_at_large_steps(name, count):
    ours, theirs = OPTAX_PAIRS[name]
    expected = float(theirs(int(count)))
    np.testing.assert_allclose(float(ours(count)), expected, rtol=1e-5)


@pytest.mark.parametrize("name", NUMPY)
@pytest.mark.parametrize("count", [*COUNTS, 3 * 10**9], ids=["max_array", "max", "1e9", "3e9"])
def test_schedule_matches_float64_rule_at_large_steps(name, count):
    ours, rule = NUMPY[name]
    np.testing.assert_allclose(float(ours(count)), rule(int(count)), rtol=1e-5, atol=1e-7)


def test_the_issue_example():
    value = float(s.cosine_decay_schedule(1000.0, decay_steps=int(1e10))(int(1e9)))
    assert value == pytest.approx(975.528, rel=1e-5)


def test_count_saturates_at_int32_max():
    tx = optx.scale_by_adam()
    params = jnp.ones(3)
    state = tx.init(params)._replace(count=jnp.asarray(MAX - 1, jnp.int32))
    for _ in range(2):
        updates, state = tx.update(jnp.ones(3), state)
        assert int(state.count) == MAX
        assert bool(jnp.all(jnp.isfinite(updates)))

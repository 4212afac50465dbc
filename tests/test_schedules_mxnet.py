"""MXNet-exact schedules against MXNet 1.9.1's values (tests/data/mxnet_schedules.json)."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optx import schedules

REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "mxnet_schedules.json"
TABLES = json.loads(REFERENCE.read_text())["schedules"]
FACTORIES = {
    "FactorScheduler": schedules.factor_schedule,
    "MultiFactorScheduler": schedules.multi_factor_schedule,
    "PolyScheduler": schedules.poly_schedule,
    "CosineScheduler": schedules.cosine_schedule,
}


def _values(schedule, n):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(n, dtype=jnp.int32)))


def test_every_table_has_a_factory():
    assert {t["cls"] for t in TABLES.values()} <= set(FACTORIES)
    assert "mnist_multifactor_3752_6566_8442_factor0.1_base0.03" in TABLES  # the tutorial's


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_float32(name):
    table = TABLES[name]
    expected = np.asarray(table["values"])
    got = _values(FACTORIES[table["cls"]](**table["args"]), len(expected))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_float64(name):
    table = TABLES[name]
    expected = np.asarray(table["values"])
    with jax.enable_x64(True):
        schedule = FACTORIES[table["cls"]](**table["args"])
        got = _values(schedule, len(expected))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _at(schedule, updates):
    """Values at MXNet's 1-based update numbers (optx count = n - 1)."""
    return [float(schedule(n - 1)) for n in updates]


def test_tutorial_semantics_250th_and_251st_update():
    s = schedules.factor_schedule(250, 0.5, base_lr=1.0)
    assert _at(s, [1, 250, 251, 500, 501, 750, 751]) == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]


@pytest.mark.parametrize(
    "make, updates, expected",
    [
        (
            lambda: schedules.factor_schedule(2, 0.1, stop_factor_lr=1e-3, base_lr=1.0),
            range(1, 10),
            [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001],
        ),
        (
            lambda: schedules.multi_factor_schedule([250, 750, 900], 0.5, base_lr=1.0),
            [250, 251, 750, 751, 900, 901],
            [1, 0.5, 0.5, 0.25, 0.25, 0.125],
        ),
        (
            lambda: schedules.poly_schedule(1000, base_lr=1.0, pwr=2),
            [1, 2, 500, 999, 1000, 5000],
            [0.998001, 0.996004, 0.25, 1e-6, 0, 0],
        ),
        (
            lambda: schedules.cosine_schedule(1000, base_lr=1.0),
            [1, 500, 999, 1000, 1001],
            [0.999998, 0.5, 2e-6, 0, 0],
        ),
        (
            lambda: schedules.cosine_schedule(
                100, base_lr=1.0, final_lr=0.1, warmup_steps=10, warmup_mode="linear"
            ),
            [1, 5, 9, 10, 11, 55, 100, 101],
            [0.1, 0.5, 0.9, 1, 0.999726, 0.55, 0.1, 0.1],
        ),
        (
            lambda: schedules.poly_schedule(
                100,
                base_lr=1.0,
                pwr=1,
                warmup_steps=10,
                warmup_begin_lr=0.1,
                warmup_mode="constant",
            ),
            [1, 9, 10, 11, 55, 100],
            [0.1, 0.1, 1, 0.988889, 0.5, 0],
        ),
        (
            lambda: schedules.factor_schedule(10, 0.5, base_lr=1.0, warmup_steps=5),
            [1, 4, 5, 10, 11, 20, 21],
            [0.2, 0.8, 1, 1, 0.5, 0.5, 0.25],
        ),
    ],
)
def test_oracle_values(make, updates, expected):
    np.testing.assert_allclose(_at(make(), updates), expected, rtol=1e-5, atol=1e-6)


def test_factor_schedule_base_below_floor_is_kept_until_the_first_decay():
    # MXNet clamps only when it decays: base 1e-9 < stop 1e-8 stays until update 3.
    s = schedules.factor_schedule(2, 0.5, stop_factor_lr=1e-8, base_lr=1e-9)
    np.testing.assert_allclose(_at(s, [1, 2, 3, 10]), [1e-9, 1e-9, 1e-8, 1e-8], rtol=1e-6)


def test_mxnet_mapping_to_optax_shapes():
    counts = jnp.arange(1200)
    factor = schedules.factor_schedule(250, 0.5, stop_factor_lr=0.0, base_lr=1.0)
    staircase = schedules.exponential_decay_schedule(1.0, 250, 0.5, staircase=True)
    np.testing.assert_array_equal(jax.vmap(factor)(counts), jax.vmap(staircase)(counts))
    multi = schedules.multi_factor_schedule([250, 750, 900], 0.5, base_lr=1.0)
    piecewise = schedules.piecewise_constant_schedule(1.0, {250: 0.5, 750: 0.5, 900: 0.5})
    np.testing.assert_array_equal(jax.vmap(multi)(counts), jax.vmap(piecewise)(counts))


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: schedules.factor_schedule(3, 0.5, base_lr=lr, warmup_steps=2),
        lambda lr: schedules.multi_factor_schedule([2, 5], 0.5, base_lr=lr, warmup_steps=2),
        lambda lr: schedules.poly_schedule(10, base_lr=lr, pwr=2, warmup_steps=3),
        lambda lr: schedules.cosine_schedule(10, base_lr=lr, final_lr=0.01, warmup_steps=3),
    ],
)
def test_vmap_over_base_lr_and_traced_count(make):
    lrs = jnp.array([0.1, 0.5, 1.0])
    counts = jnp.arange(12)
    swept = jax.jit(jax.vmap(lambda lr: jax.vmap(make(lr))(counts)))(lrs)
    for i, lr in enumerate([0.1, 0.5, 1.0]):
        np.testing.assert_allclose(swept[i], [float(make(lr)(k)) for k in range(12)], rtol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: schedules.factor_schedule(0), r"factor_schedule: step must be >= 1, got 0"),
        (lambda: schedules.factor_schedule(10, 1.5), r"factor_schedule: factor must be <= 1.*1\.5"),
        (
            lambda: schedules.factor_schedule(10, warmup_steps=-1),
            r"factor_schedule: warmup_steps must be >= 0, got -1",
        ),
        (
            lambda: schedules.factor_schedule(10, base_lr=0.1, warmup_begin_lr=0.2),
            r"factor_schedule: warmup_begin_lr must be <= base_lr.*warmup_begin_lr=0.2",
        ),
        (
            lambda: schedules.poly_schedule(10, warmup_mode="cosine"),
            r"poly_schedule: warmup_mode must be one of 'linear', 'constant', got 'cosine'",
        ),
        (
            lambda: schedules.multi_factor_schedule([5, 5]),
            r"multi_factor_schedule: step must be an increasing list",
        ),
        (
            lambda: schedules.multi_factor_schedule([0, 5]),
            r"multi_factor_schedule: step\[0\] must be >= 1, got 0",
        ),
        (lambda: schedules.multi_factor_schedule([]), r"multi_factor_schedule: step must be a non"),
        (
            lambda: schedules.multi_factor_schedule([3], factor=2.0),
            r"multi_factor_schedule: factor must be <= 1",
        ),
        (lambda: schedules.poly_schedule(0), r"poly_schedule: max_update must be >= 1, got 0"),
        (
            lambda: schedules.cosine_schedule(10, warmup_steps=10),
            r"cosine_schedule: warmup_steps must be < max_update",
        ),
    ],
)
def test_argument_checks(make, match):
    with pytest.raises(ValueError, match=r"^optx\.schedules\." + match):
        make()


def test_warmup_steps_must_be_an_int():
    with pytest.raises(TypeError, match=r"optx\.schedules\.cosine_schedule: warmup_steps"):
        schedules.cosine_schedule(10, warmup_steps=2.5)

"""fastai-exact schedules: one-cycle (lr and momentum), flat-cos, combined phases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optx import schedules as S


# fastai's schedule functions of pos in [0, 1], written from fastai's formulas.
def _cos(start, end):
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def _combine(pcts, scheds):
    """fastai's combine_scheds: cumulative phase starts, the last start <= pos wins."""
    starts = np.cumsum([0.0, *pcts])

    def inner(pos):
        idx = min(int(np.nonzero(pos >= starts)[0].max()), len(starts) - 2)
        return scheds[idx]((pos - starts[idx]) / (starts[idx + 1] - starts[idx]))

    return inner


def _fastai_values(sched, total, n):
    return np.asarray([sched(min(i / total, 1.0)) for i in range(n)])


def _values(schedule, n):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(n)))


@pytest.mark.parametrize("pct_start", [0.25, 0.3])
def test_onecycle_equals_fastai_fit_one_cycle(pct_start):
    total, lr_max, div, div_final = 120, 3e-3, 25.0, 1e5
    oc = S.onecycle(total, lr_max, div, div_final, pct_start, moms=(0.95, 0.85, 0.95))
    pcts = [pct_start, 1 - pct_start]
    lr = _combine(pcts, [_cos(lr_max / div, lr_max), _cos(lr_max, lr_max / div_final)])
    mom = _combine(pcts, [_cos(0.95, 0.85), _cos(0.85, 0.95)])
    n = total + 5  # past the end the last value holds
    np.testing.assert_allclose(
        _values(oc.learning_rate, n), _fastai_values(lr, total, n), rtol=1e-5, atol=1e-10
    )
    np.testing.assert_allclose(_values(oc.momentum, n), _fastai_values(mom, total, n), rtol=1e-6)
    assert float(oc.momentum(int(pct_start * total))) == pytest.approx(0.85, abs=1e-6)


def test_onecycle_lr_equals_optax_cosine_onecycle():
    total, lr_max = 100, 1.0
    ours = S.onecycle(total, lr_max, div=25.0, div_final=1e5, pct_start=0.25).learning_rate
    theirs = optax.cosine_onecycle_schedule(total, lr_max, 0.25, 25.0, 1e5 / 25.0)
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes bool and float here
        expected = np.asarray(jax.vmap(theirs)(jnp.arange(total + 1)))
    # Optax's float32 cosine loses ~1e-8 absolute near the end; ours is exact there.
    np.testing.assert_allclose(_values(ours, total + 1), expected, rtol=1e-5, atol=3e-8)
    assert float(ours(total)) == pytest.approx(lr_max / 1e5, rel=1e-6)
    assert float(ours(10)) == pytest.approx(0.3716718, rel=1e-6)  # tests/data/SEMANTICS.md's oracle


def test_flat_cos_equals_fastai():
    total, lr = 80, 1e-2
    ours = S.flat_cos(total, lr, div_final=1e5, pct_start=0.75)
    ref = _combine([0.75, 0.25], [lambda pos: lr, _cos(lr, lr / 1e5)])
    np.testing.assert_allclose(
        _values(ours, total + 3), _fastai_values(ref, total, total + 3), rtol=1e-5, atol=1e-12
    )


def test_combine_schedules_with_every_curve():
    curves = [
        S.sched_lin(0.1, 1.0),
        S.sched_exp(1.0, 0.01),
        S.sched_no(0.5, 9.0),
        S.sched_poly(0.5, 0.0, 2),
        S.sched_cos(0.0, 1.0),
    ]
    pcts = [0.1, 0.3, 0.0, 0.2, 0.4]
    refs = [
        lambda p: 0.1 + p * 0.9,
        lambda p: 0.01**p,
        lambda p: 0.5,
        lambda p: 0.5 - 0.5 * p**2,
        _cos(0.0, 1.0),
    ]
    total = 50
    ours = S.combine_schedules(pcts, curves, total)
    np.testing.assert_allclose(
        _values(ours, total + 2),
        _fastai_values(_combine(pcts, refs), total, total + 2),
        rtol=1e-5,
        atol=1e-7,
    )


def test_onecycle_is_sweepable_over_lr_max():
    lrs = jnp.array([1e-3, 1e-2])
    swept = jax.jit(
        jax.vmap(lambda lr: jax.vmap(S.onecycle(40, lr).learning_rate)(jnp.arange(40)))
    )(lrs)
    for i, lr in enumerate([1e-3, 1e-2]):
        np.testing.assert_allclose(
            swept[i], _values(S.onecycle(40, lr).learning_rate, 40), rtol=1e-5, atol=1e-7 * lr
        )


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: S.onecycle(0, 1e-3), r"onecycle: total_steps must be >= 1, got 0"),
        (lambda: S.onecycle(10, 1e-3, div=0.0), r"onecycle: div must be > 0, got 0"),
        (lambda: S.onecycle(10, 1e-3, pct_start=1.5), r"onecycle: pct_start must be in \[0, 1\]"),
        (lambda: S.onecycle(10, 1e-3, moms=(0.9, 0.8)), r"onecycle: moms must be 3 values"),
        (
            lambda: S.onecycle(10, 1e-3, moms=(0.9, 1.2, 0.9)),
            r"onecycle: moms\[1\] must be in \[0, 1\), got 1.2",
        ),
        (lambda: S.flat_cos(10, 1e-3, div_final=-1.0), r"flat_cos: div_final must be > 0"),
        (
            lambda: S.combine_schedules([0.5, 0.6], [S.sched_no(1, 1)] * 2, 10),
            r"combine_schedules: pcts must sum to 1",
        ),
        (
            lambda: S.combine_schedules([1.0], [S.sched_no(1, 1)] * 2, 10),
            r"combine_schedules: pcts and schedules must have the same non-zero length",
        ),
        (
            lambda: S.combine_schedules([1.5, -0.5], [S.sched_no(1, 1)] * 2, 10),
            r"combine_schedules: pcts\[1\] must be >= 0, got -0.5",
        ),
    ],
)
def test_argument_errors(make, match):
    with pytest.raises(ValueError, match=r"^optx\.schedules\." + match):
        make()


def test_onecycle_float64_matches_fastai_to_1e12():
    total, lr_max = 97, 0.1
    pcts = [0.25, 0.75]
    lr = _combine(pcts, [_cos(lr_max / 25, lr_max), _cos(lr_max, lr_max / 1e5)])
    mom = _combine(pcts, [_cos(0.95, 0.85), _cos(0.85, 0.95)])
    with jax.enable_x64(True):
        oc = S.onecycle(total, lr_max)
        got_lr, got_mom = _values(oc.learning_rate, total + 1), _values(oc.momentum, total + 1)
    assert got_lr.dtype == np.float64
    # atol: fastai's own formula is off by 1e-18 at the end (cancellation); ours is exact.
    np.testing.assert_allclose(got_lr, _fastai_values(lr, total, total + 1), rtol=1e-12, atol=1e-15)
    assert got_lr[-1] == lr_max / 1e5
    np.testing.assert_allclose(got_mom, _fastai_values(mom, total, total + 1), rtol=1e-12)

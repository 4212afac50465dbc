"""Generic schedules: against Optax where it has them, against their formulas otherwise."""

import _fast
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
import pytest

from optx import schedules as S

COUNTS = jnp.arange(0, 130)


def _values(schedule, counts=COUNTS):
    return np.asarray(jax.jit(jax.vmap(schedule))(counts))


# (name, optx schedule, optax schedule) built with the same arguments.
AGAINST_OPTAX = [
    ("constant", S.constant_schedule(0.3), optax.constant_schedule(0.3)),
    ("linear", S.linear_schedule(1.0, 0.1, 50, 10), optax.linear_schedule(1.0, 0.1, 50, 10)),
    (
        "polynomial",
        S.polynomial_schedule(1.0, 0.1, 2.5, 70, 5),
        optax.polynomial_schedule(1.0, 0.1, 2.5, 70, 5),
    ),
    (
        "exponential",
        S.exponential_decay_schedule(1.0, 10, 0.7, 5),
        optax.exponential_decay(1.0, 10, 0.7, 5),
    ),
    (
        "exponential_staircase_floor",
        S.exponential_decay_schedule(1.0, 10, 0.5, 0, staircase=True, end_value=0.1),
        optax.exponential_decay(1.0, 10, 0.5, 0, staircase=True, end_value=0.1),
    ),
    (
        "exponential_growth_ceiling",
        S.exponential_decay_schedule(0.1, 10, 1.5, end_value=0.5),
        optax.exponential_decay(0.1, 10, 1.5, end_value=0.5),
    ),
    (
        "piecewise_constant",
        S.piecewise_constant_schedule(1.0, {30: 0.5, 10: 0.1, 90: 3.0}),
        optax.piecewise_constant_schedule(1.0, {30: 0.5, 10: 0.1, 90: 3.0}),
    ),
    (
        "piecewise_linear",
        S.piecewise_interpolate_schedule("linear", 1.0, {20: 2.0, 70: 0.1}),
        optax.piecewise_interpolate_schedule("linear", 1.0, {20: 2.0, 70: 0.1}),
    ),
    (
        "piecewise_cosine",
        S.piecewise_interpolate_schedule("cosine", 1.0, {0: 2.0, 70: 0.1}),
        optax.piecewise_interpolate_schedule("cosine", 1.0, {0: 2.0, 70: 0.1}),
    ),
    (
        "cosine_decay",
        S.cosine_decay_schedule(1.0, 100, alpha=0.1, exponent=2.0),
        optax.cosine_decay_schedule(1.0, 100, alpha=0.1, exponent=2.0),
    ),
    (
        "warmup_cosine",
        S.warmup_cosine_decay_schedule(0.0, 1.0, 20, 100, 0.05),
        optax.warmup_cosine_decay_schedule(0.0, 1.0, 20, 100, 0.05),
    ),
    (
        "warmup_cosine_no_warmup",
        S.warmup_cosine_decay_schedule(0.0, 1.0, 0, 100),
        optax.warmup_cosine_decay_schedule(0.0, 1.0, 0, 100),
    ),
    (
        "warmup_exponential",
        S.warmup_exponential_decay_schedule(0.0, 1.0, 10, 20, 0.5, 5, True, 0.01),
        optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, 20, 0.5, 5, True, 0.01),
    ),
    (
        "join",
        S.join_schedules([S.linear_schedule(0.0, 1.0, 10), S.cosine_decay_schedule(1.0, 50)], [10]),
        optax.join_schedules(
            [optax.linear_schedule(0.0, 1.0, 10), optax.cosine_decay_schedule(1.0, 50)], [10]
        ),
    ),
    (
        "sgdr",
        S.sgdr_schedule(
            [
                dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30),
                dict(init_value=0.0, peak_value=0.5, warmup_steps=0, decay_steps=60),
            ]
        ),
        optax.sgdr_schedule(
            [
                dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30),
                dict(init_value=0.0, peak_value=0.5, warmup_steps=0, decay_steps=60),
            ]
        ),
    ),
    (
        "linear_onecycle",
        S.linear_onecycle_schedule(100, 1.0),
        optax.linear_onecycle_schedule(100, 1.0),
    ),
    (
        "cosine_onecycle",
        S.cosine_onecycle_schedule(100, 2.0, 0.25, 10.0, 100.0),
        optax.cosine_onecycle_schedule(100, 2.0, 0.25, 10.0, 100.0),
    ),
]


@pytest.mark.parametrize("name, ours, theirs", _fast.cases(AGAINST_OPTAX, 3, lambda a: a[0]))
def test_equals_optax(name, ours, theirs):
    with jax.numpy_dtype_promotion("standard"):  # Optax's interpolation mixes bool and float
        expected = np.asarray(jax.vmap(theirs)(COUNTS))
    np.testing.assert_allclose(_values(ours), expected, rtol=2e-6, atol=1e-7)


def _cyclic_reference(base, top, up, down, mode, gamma, n):
    """Smith (2017) / PyTorch CyclicLR, written from the paper's formula."""
    out = []
    for k in range(n):
        total = up + down
        cycle = np.floor(1 + k / total)
        x = 1 + k / total - cycle
        f = x / (up / total) if x <= up / total else (x - 1) / (up / total - 1)
        scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**k}[
            mode
        ]
        out.append(base + (top - base) * f * scale)
    return np.asarray(out)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("down", [None, 7])
def test_cyclic_schedule_formula(mode, down):
    s = S.cyclic_schedule(0.1, 1.0, 5, mode, gamma=0.99, step_size_down=down)
    expected = _cyclic_reference(0.1, 1.0, 5, down or 5, mode, 0.99, len(COUNTS))
    np.testing.assert_allclose(_values(s), expected, rtol=1e-5, atol=1e-6)
    assert float(s(0)) == pytest.approx(0.1)
    assert float(s(5)) == pytest.approx(1.0 if mode != "exp_range" else 0.1 + 0.9 * 0.99**5)


def test_inverse_sqrt_is_vaswanis_schedule():
    d_model, warm = 512, 40
    s = S.inverse_sqrt_schedule((d_model * warm) ** -0.5, warm)
    step = np.arange(1, len(COUNTS) + 1, dtype=np.float64)
    expected = d_model**-0.5 * np.minimum(step**-0.5, step * warm**-1.5)
    np.testing.assert_allclose(_values(s), expected, rtol=1e-5)
    np.testing.assert_allclose(
        _values(S.inverse_sqrt_schedule(2.0, 0)), 2.0 / np.sqrt(step), rtol=1e-6
    )


def test_warmup_wrapper_modes():
    base = S.exponential_decay_schedule(1.0, 1, 0.5)
    linear = _values(S.warmup(base, 4), jnp.arange(7))
    np.testing.assert_allclose(linear, [0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.25])
    constant = _values(S.warmup(base, 4, "constant", 0.1), jnp.arange(6))
    np.testing.assert_allclose(constant, [0.1, 0.1, 0.1, 0.1, 1.0, 0.5])
    # shift=False: the schedule's own counter runs during warmup (MXNet), ramp ends on it.
    unshifted = _values(S.warmup(base, 2, shift=False), jnp.arange(4))
    np.testing.assert_allclose(unshifted, [0.0, 0.125, 0.25, 0.125])
    assert S.warmup(base, 0) is base


# Every schedule as a function of a swept value (peak or base), for the vmap test.
SWEEPABLE = {
    "constant": lambda v: S.constant_schedule(v),
    "linear": lambda v: S.linear_schedule(v, 0.0, 20),
    "polynomial": lambda v: S.polynomial_schedule(v, 0.01, 2, 20),
    "exponential": lambda v: S.exponential_decay_schedule(
        v, 5, 0.5, staircase=True, end_value=0.01
    ),
    "piecewise_constant": lambda v: S.piecewise_constant_schedule(v, {5: 0.5, 9: 0.1}),
    "piecewise_interpolate": lambda v: S.piecewise_interpolate_schedule("cosine", v, {9: 0.1}),
    "cosine_decay": lambda v: S.cosine_decay_schedule(v, 20, 0.1),
    "warmup_cosine": lambda v: S.warmup_cosine_decay_schedule(0.0, v, 5, 20),
    "warmup_exponential": lambda v: S.warmup_exponential_decay_schedule(0.0, v, 5, 3, 0.5),
    "join": lambda v: S.join_schedules([S.constant_schedule(v), S.linear_schedule(v, 0.0, 9)], [4]),
    "sgdr": lambda v: S.sgdr_schedule(
        [dict(init_value=0.0, peak_value=v, warmup_steps=2, decay_steps=8)] * 2
    ),
    "cyclic": lambda v: S.cyclic_schedule(0.0, v, 3, "triangular2"),
    "inverse_sqrt": lambda v: S.inverse_sqrt_schedule(v, 4),
    "linear_onecycle": lambda v: S.linear_onecycle_schedule(20, v),
    "cosine_onecycle": lambda v: S.cosine_onecycle_schedule(20, v),
    "warmup": lambda v: S.warmup(S.cosine_decay_schedule(v, 10), 4, begin_value=v / 10),
    "onecycle_lr": lambda v: S.onecycle(20, v).learning_rate,
    "onecycle_mom": lambda v: S.onecycle(20, 1.0, moms=(v, 0.8, v)).momentum,
    "flat_cos": lambda v: S.flat_cos(20, v),
    "factor": lambda v: S.factor_schedule(4, 0.5, base_lr=v),
    "multi_factor": lambda v: S.multi_factor_schedule([3, 8], 0.5, base_lr=v),
    "poly": lambda v: S.poly_schedule(20, base_lr=v, warmup_steps=3),
    "cosine": lambda v: S.cosine_schedule(20, base_lr=v, warmup_steps=3),
}


@pytest.mark.parametrize("name", _fast.cases(sorted(SWEEPABLE), 2))
def test_vmap_over_swept_value_with_traced_count(name):
    make = SWEEPABLE[name]
    values = [0.3, 0.9]
    counts = jnp.arange(25)
    swept = jax.jit(jax.vmap(lambda v: jax.vmap(make(v))(counts)))(jnp.asarray(values))
    for i, v in enumerate(values):
        single = _values(make(v), counts)  # a concrete value, not swept
        np.testing.assert_allclose(swept[i], single, rtol=1e-5, atol=1e-7)
    assert not np.allclose(swept[0], swept[1])  # the swept value matters


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: S.linear_schedule(1.0, 0.0, 0),
            ValueError,
            r"linear_schedule: transition_steps must be >= 1, got 0",
        ),
        (
            lambda: S.linear_schedule(1.0, 0.0, 2.5),
            TypeError,
            r"linear_schedule: transition_steps must be an int, got 2.5",
        ),
        (
            lambda: S.polynomial_schedule(1.0, 0.0, -1.0, 10),
            ValueError,
            r"polynomial_schedule: power must be > 0, got -1",
        ),
        (
            lambda: S.exponential_decay_schedule(1.0, 10, -0.5),
            ValueError,
            r"exponential_decay_schedule: decay_rate must be >= 0, got -0.5",
        ),
        (
            lambda: S.piecewise_constant_schedule(1.0, {10: -1.0}),
            ValueError,
            r"piecewise_constant_schedule: boundaries_and_scales\[10\] must be >= 0, got -1",
        ),
        (
            lambda: S.piecewise_interpolate_schedule("cubic", 1.0),
            ValueError,
            r"piecewise_interpolate_schedule: interpolate_type must be one of",
        ),
        (
            lambda: S.cosine_decay_schedule(1.0, 0),
            ValueError,
            r"cosine_decay_schedule: decay_steps must be >= 1, got 0",
        ),
        (
            lambda: S.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10),
            ValueError,
            r"warmup_cosine_decay_schedule: decay_steps must be >= 11, got 10",
        ),
        (
            lambda: S.join_schedules([S.constant_schedule(1.0)] * 2, []),
            ValueError,
            r"join_schedules: boundaries must have len\(schedules\) - 1 = 1 entries, got 0",
        ),
        (
            lambda: S.join_schedules([1.0], []),
            TypeError,
            r"join_schedules: schedules\[0\] must be a schedule",
        ),
        (
            lambda: S.cyclic_schedule(0.0, 1.0, 5, "sawtooth"),
            ValueError,
            r"cyclic_schedule: mode must be one of",
        ),
        (
            lambda: S.cyclic_schedule(0.0, 1.0, 5, "exp_range", gamma=1.5),
            ValueError,
            r"cyclic_schedule: gamma must be in \(0, 1\], got 1.5",
        ),
        (
            lambda: S.linear_onecycle_schedule(100, 1.0, pct_start=0.9, pct_final=0.5),
            ValueError,
            r"linear_onecycle_schedule: pct_final must be in \(0.9, 1\), got 0.5",
        ),
        (
            lambda: S.linear_onecycle_schedule(10, 1.0, pct_start=0.3, pct_final=0.35),
            ValueError,
            r"linear_onecycle_schedule: pct_start=0.3, pct_final=0.35 give phase boundaries "
            r"\[3, 3, 10\]",
        ),
        (
            lambda: S.warmup(S.constant_schedule(1.0), 5, mode="cosine"),
            ValueError,
            r"warmup: mode must be one of 'linear', 'constant', got 'cosine'",
        ),
        (
            lambda: S.sgdr_schedule(
                [dict(init_value=0.0, peak_value=1.0, warmup_steps=0, decay_steps=0)]
            ),
            ValueError,
            r"sgdr_schedule: decay_steps must be >= 1, got 0",
        ),
        (
            lambda: S.constant_schedule(lambda c: c),
            TypeError,
            r"constant_schedule: value must be a float or a scalar array, got a function",
        ),
    ],
)
def test_argument_errors_name_the_schedule(make, error, match):
    with pytest.raises(error, match=r"^optx\.schedules\." + match):
        make()


def test_schedules_drive_any_hyperparameter():
    import optx

    tx = optx.sgd(S.linear_schedule(0.1, 0.0, 10), momentum=S.constant_schedule(0.5))
    state = tx.init(jnp.zeros(2))
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state)
    hp = optx.get_hyperparams(state)
    assert float(hp["learning_rate"]) == pytest.approx(0.08)
    assert float(hp["momentum"]) == pytest.approx(0.5)


def test_plot_returns_a_figure():
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = S.plot(S.cosine_decay_schedule(1.0, 50), 60, title="cosine")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata()[[0, 50]], [1.0, 0.0], atol=1e-6)
    both = S.plot(S.onecycle(100, 1e-2), 100)  # learning rate and momentum panels
    assert [ax.get_title() for ax in both.axes] == ["learning_rate", "momentum"]
    with pytest.raises(TypeError, match=r"optx\.schedules\.plot: schedules must be"):
        S.plot(0.1, 10)


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'optx-jax\[plot\]'"):
        S.plot(S.constant_schedule(1.0), 3)

"""The adaptive catalogue equals Optax where the algorithm is the same (float32, 100 steps).

Where a convention differs (AMSGrad's maximum, Adam's epsilon hat, Yogi's first moment,
Dozat's momentum schedule), a test sets the switch both ways: one way equals Optax, the
other does not.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _trajectories import standard_promotion, trajectories

import optx

STEPS = 100


def _tree(rng, big=False, lead=()):
    tree = {
        "kernel": rng.standard_normal((*lead, 3, 2, 4)),
        "bias": rng.standard_normal((*lead, 4)),
    }
    if big:  # second-largest axis >= 128, so Adafactor factors it with its default settings
        tree["embedding"] = rng.standard_normal((*lead, 130, 128))
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def _both(ours, theirs, big=False):
    """Trajectories of both under the same random gradients (independent of the params), in
    one jitted program."""
    rng = np.random.default_rng(7)
    params, grads = _tree(rng, big), _tree(rng, big, lead=(STEPS,))
    both = trajectories({"ours": ours, "theirs": standard_promotion(theirs)}, params, grads)
    return both["ours"], both["theirs"]


def _assert_all_equal(pairs, big=False):
    """Every pair's trajectories (all in one jitted program) are equal; failures are named."""
    rng = np.random.default_rng(7)
    params, grads = _tree(rng, big), _tree(rng, big, lead=(STEPS,))
    txs = {}
    for name, (ours, theirs) in pairs.items():
        txs[name, "ours"], txs[name, "theirs"] = ours, standard_promotion(theirs)
    got = trajectories(txs, params, grads)
    failures = {}
    for name in pairs:
        try:
            _assert_equal_trajectories(got[name, "ours"], got[name, "theirs"])
        except AssertionError as error:
            failures[name] = str(error)[:300]
    assert not failures, failures


def _relative_errors(got, expected):
    return [
        np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64))
        / np.linalg.norm(np.asarray(b, np.float64))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected))
    ]


def _assert_equal_trajectories(got, expected):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        # Relative 1e-6 over each leaf's trajectory; elementwise, a few float32 ulps.
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), np.abs(a - b).max()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-6)


def _yogi_optax(initial_accumulator_value):
    return optax.chain(
        optax.scale_by_yogi(initial_accumulator_value=initial_accumulator_value),
        optax.scale_by_learning_rate(1e-2),
    )


PAIRS = {
    "adamax": (optx.adamax(1e-2), optax.adamax(1e-2)),
    "adamaxw": (optx.adamaxw(1e-2, weight_decay=0.05), optax.adamaxw(1e-2, weight_decay=0.05)),
    "adadelta": (optx.adadelta(1.0), optax.adadelta(1.0)),
    "adadelta_l2": (
        optx.adadelta(0.5, rho=0.95, eps=1e-5, weight_decay=0.01),
        optax.adadelta(0.5, rho=0.95, eps=1e-5, weight_decay=0.01),
    ),
    "amsgrad": (optx.amsgrad(1e-2), optax.amsgrad(1e-2)),
    "radam_b2": (optx.radam(1e-2, b2=0.9), optax.radam(1e-2, b2=0.9)),
    "nadam_no_schedule": (optx.nadam(1e-2), optax.nadam(1e-2)),
    "nadamw_no_schedule": (
        optx.nadamw(1e-2, weight_decay=0.05),
        optax.nadamw(1e-2, weight_decay=0.05),
    ),
    "adabelief": (optx.adabelief(1e-2), optax.adabelief(1e-2)),
    "yogi_zero_init": (optx.yogi(1e-2, initial_accumulator_value=0.0), _yogi_optax(0.0)),
    "novograd": (optx.novograd(1e-2, weight_decay=0.01), optax.novograd(1e-2, weight_decay=0.01)),
    "sm3": (optx.sm3(0.1), optax.sm3(0.1)),
    "sm3_decay": (
        optx.chain(optx.scale_by_sm3(0.5, 0.9), optx.scale(-0.1)),
        optax.chain(optax.scale_by_sm3(0.5, 0.9), optax.scale(-0.1)),
    ),
    "adam_corrected_eps": (optx.adam(1e-2, eps=1e-3), optax.adam(1e-2, eps=1e-3)),
}


@pytest.mark.slow  # every optimizer of the family against Optax
def test_equals_optax():
    _assert_all_equal(PAIRS)


ADAFACTOR_KWARGS = {
    "defaults": {"learning_rate": 0.01},  # clip factor and parameter scale in one scalar
    "momentum": {"learning_rate": 0.01, "momentum": 0.9, "clipping_threshold": 0.5},
    "no_param_scale": {
        "learning_rate": 0.01,
        "multiply_by_parameter_scale": False,
        "decay_rate": 0.6,
    },
    "unfactored": {"learning_rate": 0.01, "factored": False, "clipping_threshold": None},
}


def test_adafactor_equals_optax():
    pairs = {
        name: (optx.adafactor(**kwargs), optax.adafactor(**kwargs))
        for name, kwargs in ADAFACTOR_KWARGS.items()
    }
    _assert_all_equal(pairs, big=True)


def test_adafactor_factors_only_large_leaves_and_stores_scalars_elsewhere():
    params = _tree(np.random.default_rng(0), big=True)
    state = optx.scale_by_factored_rms().init(params)
    assert state.v_row["embedding"].shape == (128,)  # largest axis (130) averaged out
    assert state.v_col["embedding"].shape == (130,)
    assert state.v["embedding"].shape == ()
    assert state.v_row["kernel"].shape == ()  # 3 x 2 x 4 is below min_dim_size_to_factor
    assert state.v["kernel"].shape == (3, 2, 4)


def test_radam_equals_optax_up_to_optax_rounding_of_the_rectifier():
    """Near the threshold Optax's float32 rectifier is off by ~1e-4 relative (see
    test_radam_rectifier_is_closer_to_float64_than_optax); the trajectories agree to 1e-5."""
    got, expected = _both(optx.radam(1e-2), optax.radam(1e-2))
    assert max(_relative_errors(got, expected)) < 1e-5


def test_amsgrad_max_of_switch():
    """max_of="corrected" is Optax; "raw" (PyTorch) differs from it by far more than noise."""
    raw, expected = _both(optx.amsgrad(1e-2, max_of="raw"), optax.amsgrad(1e-2))
    assert max(_relative_errors(raw, expected)) > 1e-3


def test_adam_eps_convention_switch():
    """eps="corrected" is Optax; "hat" differs, by an amount that grows with eps."""
    hat, expected = _both(
        optx.adam(1e-2, eps=1e-3, eps_convention="hat"), optax.adam(1e-2, eps=1e-3)
    )
    assert max(_relative_errors(hat, expected)) > 1e-5
    hat, expected = _both(optx.adam(1e-2, eps_convention="hat"), optax.adam(1e-2))
    assert max(_relative_errors(hat, expected)) < 1e-4  # eps=1e-8: nearly the same


def test_nadam_schedule_differs_from_optax():
    scheduled, expected = _both(optx.nadam(1e-2, schedule_decay=0.004), optax.nadam(1e-2))
    assert max(_relative_errors(scheduled, expected)) > 1e-4


def test_yogi_first_moment_start_differs_from_optax_by_the_initial_value():
    got, expected = _both(optx.yogi(1e-2), _yogi_optax(1e-6))
    errors = _relative_errors(got, expected)
    assert 0 < max(errors) < 1e-4


def test_adam_coupled_l2_is_decay_before_scale_by_adam():
    """MXNet's wd: add_decayed_weights before scale_by_adam (coupled); after is AdamW."""
    coupled = optx.chain(optx.add_decayed_weights(0.05), optx.adam(1e-2))
    reference = optax.chain(optax.add_decayed_weights(0.05), optax.adam(1e-2))
    _assert_equal_trajectories(*_both(coupled, reference))
    decoupled = optx.chain(
        optx.scale_by_adam(), optx.add_decayed_weights(0.05), optx.scale_by_learning_rate(1e-2)
    )
    _assert_equal_trajectories(*_both(decoupled, optax.adamw(1e-2, weight_decay=0.05)))

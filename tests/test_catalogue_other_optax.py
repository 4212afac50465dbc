"""Non-Adam optimizers equal Optax's where the algorithm is the same (100 float32 steps)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _trajectories import standard_promotion, trajectories

import optx

STEPS = 100
SHAPES = {"v": (5,), "m": (4, 3), "k": (2, 2, 3, 4)}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in SHAPES.items()}
    grads = {k: jnp.asarray(rng.normal(size=(STEPS, *s)), jnp.float32) for k, s in SHAPES.items()}
    return params, grads


def _trajectories(pairs, params, grads):
    """``(params, updates)`` of every step, for each optimizer of ``pairs`` (name -> (optx
    transform, Optax transform)), all in one jitted program; keys ``(name, "optx")`` and
    ``(name, "optax")``. Optax relies on implicit dtype promotion, so it is traced in the
    standard mode."""
    txs = {}
    for name, (ours, theirs) in pairs.items():
        txs[name, "optx"] = ours
        if theirs is not None:
            txs[name, "optax"] = standard_promotion(theirs)
    return trajectories(txs, params, grads, with_updates=True)


CASES = {
    "lion": (
        lambda: optx.lion(1e-3, weight_decay=1e-2),
        lambda: optax.lion(1e-3, weight_decay=1e-2),
    ),
    "lamb": (
        lambda: optx.lamb(1e-2, weight_decay=1e-2),
        lambda: optax.lamb(1e-2, weight_decay=1e-2),
    ),
    "lars": (
        lambda: optx.lars(0.1, trust_coefficient=0.01, momentum=0.9),
        lambda: optax.lars(0.1, trust_coefficient=0.01, momentum=0.9),
    ),
    "sign_sgd": (lambda: optx.sign_sgd(1e-2), lambda: optax.sign_sgd(1e-2)),
    "signum": (lambda: optx.signum(1e-2, 0.9), lambda: optax.signum(1e-2, 0.9)),
    "fromage": (lambda: optx.fromage(1e-2), lambda: optax.fromage(1e-2)),
    "sgd_momentum": (lambda: optx.sgd(1e-2, 0.9), lambda: optax.sgd(1e-2, 0.9)),
    "sgd_lr_inside_constant_lr": (
        lambda: optx.sgd(1e-2, 0.9, lr_inside_momentum=True),
        lambda: optax.sgd(1e-2, 0.9),
    ),
    "nag_constant_lr": (
        lambda: optx.nag(1e-2, 0.9),
        lambda: optax.sgd(1e-2, 0.9, nesterov=True),
    ),
    "nag_lr_outside": (
        lambda: optx.nag(1e-2, 0.9, lr_inside_momentum=False),
        lambda: optax.sgd(1e-2, 0.9, nesterov=True),
    ),
    "adaptive_grad_clip": (
        lambda: optx.chain(optx.adaptive_grad_clip(0.05), optx.sgd(0.1)),
        lambda: optax.chain(optax.adaptive_grad_clip(0.05), optax.sgd(0.1)),
    ),
    "centralize_axis0": (
        lambda: optx.chain(optx.centralize(unit_axis=0), optx.sgd(0.1)),
        lambda: optax.chain(optax.centralize(), optax.sgd(0.1)),
    ),
    "clip_by_block_rms": (
        lambda: optx.chain(optx.clip_by_block_rms(0.5), optx.sgd(0.1)),
        lambda: optax.chain(optax.clip_by_block_rms(0.5), optax.sgd(0.1)),
    ),
    "trust_ratio_min_norm": (
        lambda: optx.chain(optx.scale_by_trust_ratio(min_norm=0.5, eps=1e-3), optx.sgd(0.1)),
        lambda: optax.chain(optax.scale_by_trust_ratio(min_norm=0.5, eps=1e-3), optax.sgd(0.1)),
    ),
}


@pytest.mark.slow  # every optimizer of the family against Optax
def test_equals_optax():
    # Every pair of CASES in one jitted program; failures are collected and named together.
    params, grads = _problem()
    runs = _trajectories({name: (a(), b()) for name, (a, b) in CASES.items()}, params, grads)
    failures = {}
    for name in sorted(CASES):
        (got, _), (want, _) = runs[name, "optx"], runs[name, "optax"]
        try:
            for k in SHAPES:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-6, err_msg=k)
        except AssertionError as error:
            failures[name] = str(error)[:300]
    assert not failures, failures


def test_lars_paper_ratio_differs_from_optax_with_decay():
    """At wd > 0 Optax divides by ||g + wd w||, the paper/MXNet by ||g|| + wd ||w||."""
    params, grads = _problem()
    runs = _trajectories(
        {
            "paper": (optx.lars(0.1, 0.5, paper_ratio=True), optax.lars(0.1, 0.5)),
            "default": (optx.lars(0.1, 0.5), None),
        },
        params,
        grads,
    )
    (got, _), (want, _) = runs["paper", "optx"], runs["paper", "optax"]
    assert not np.allclose(got["m"], want["m"], rtol=1e-3)
    default, _ = runs["default", "optx"]
    for k in SHAPES:
        np.testing.assert_allclose(default[k], want[k], rtol=1e-6, atol=1e-6, err_msg=k)


def test_optax_rprop_lags_one_step_behind_pytorch_form():
    """Optax 0.2.8's rprop applies the previous step's move (its first update is 0).

    optx follows PyTorch (checked in test_catalogue_other_reference); Optax's update at t
    is optx's update at t-1, except where the sign just changed (both then skip).
    """
    params, grads = _problem()
    grads = jax.tree.map(jnp.sign, grads)  # repeated magnitudes: sign agreements happen
    runs = _trajectories({"rprop": (optx.rprop(1e-2), optax.rprop(1e-2))}, params, grads)
    (_, ours), (_, theirs) = runs["rprop", "optx"], runs["rprop", "optax"]
    for k in SHAPES:
        np.testing.assert_array_equal(theirs[k][0], 0.0)
        lagged = np.where(ours[k][1:] == 0, 0.0, ours[k][:-1])
        np.testing.assert_allclose(theirs[k][1:], lagged, rtol=1e-6, atol=1e-7)


def test_sgd_switch_differs_from_optax_under_a_schedule():
    params, grads = _problem()
    schedule = optax.exponential_decay(0.05, transition_steps=10, decay_rate=0.5)
    runs = _trajectories(
        {
            "inside": (optx.sgd(schedule, 0.9, lr_inside_momentum=True), None),
            "outside": (optx.sgd(schedule, 0.9), optax.sgd(schedule, 0.9)),
        },
        params,
        grads,
    )
    (inside, _), (outside, _) = runs["inside", "optx"], runs["outside", "optx"]
    want, _ = runs["outside", "optax"]
    np.testing.assert_allclose(outside["m"], want["m"], rtol=1e-6, atol=1e-6)
    assert not np.allclose(inside["m"], want["m"], rtol=1e-3)

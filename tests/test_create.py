"""Creating optimizers by name: optx.create, register_optimizer, registered_optimizers."""

import pathlib
import re

import _cases_modern_sophia
import _fast
import chex
import jax
import jax.numpy as jnp
import pytest

import optx
from optx import _optimizers, _registry

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}
GRADS = {"w": jnp.full((3, 2), 0.3), "b": jnp.array([-1.0, 2.0])}
README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()


def _readme_catalogue():
    """The optimizer names of the README's catalogue table (first column, in backticks)."""
    table = README.split("| optimizer | sources | checked by |\n|---|---|---|\n", 1)[1]
    names = []
    for row in table.split("\n\n", 1)[0].splitlines():
        first_cell = re.sub(r"\(.*?\)", "", row.split("|")[1])  # drop "(arguments...)"
        names += re.findall(r"`(\w+)`", first_cell)
    return names


README_CATALOGUE = _readme_catalogue()

# MXNet 1.9.1's optimizer registry (class names; mx.optimizer.create lowercases them) and
# the optx optimizer each one is.
MXNET_REGISTRY = {
    "AdaDelta": "adadelta",
    "AdaGrad": "adagrad",
    "Adam": "adam",
    "Adamax": "adamax",
    "DCASGD": "dcasgd",
    "FTML": "ftml",
    "Ftrl": "ftrl",
    "LAMB": "lamb",
    "LARS": "lars",
    "LBSGD": "lbsgd",
    "NAG": "nag",
    "Nadam": "nadam",
    "RMSProp": "rmsprop",
    "SGD": "sgd",
    "SGLD": "sgld",
    "Signum": "signum",
    "ccSGD": "sgd",
}


def _two_updates(tx, **extra):
    state = tx.init(PARAMS)
    u1, state = tx.update(GRADS, state, PARAMS, **extra)
    u2, _ = tx.update(GRADS, state, PARAMS, **extra)
    return u1, u2


# Aliases that need arguments (Optax requires sophia's learning rate) and extra args.
_NEEDS = {
    "sophia": ({"learning_rate": 0.01}, {"obj_fn": _cases_modern_sophia._OBJ}),
    "lbfgs": ({}, {"value_fn": _cases_modern_sophia._OBJ}),
}


@pytest.mark.parametrize("name", _fast.cases(sorted(_optimizers.__all__)))
def test_every_alias_is_created_by_name_and_equals_its_factory(name):
    kwargs, extra = _NEEDS.get(name, ({}, {}))
    chex.assert_trees_all_close(
        _two_updates(optx.create(name, **kwargs), **extra),
        _two_updates(getattr(optx, name)(**kwargs), **extra),
        rtol=0,
        atol=0,
    )
    assert name in optx.registered_optimizers()


def test_readme_catalogue_is_every_optimizer_and_public():
    assert len(README_CATALOGUE) == len(set(README_CATALOGUE)) == 47
    assert set(README_CATALOGUE) == {*_optimizers.__all__, "ranger"}
    assert set(README_CATALOGUE) <= set(optx.__all__)


@pytest.mark.parametrize("name", _fast.cases(README_CATALOGUE))
def test_every_readme_optimizer_is_created_by_name(name):
    extra = _NEEDS.get(name, ({}, {}))[1]
    chex.assert_trees_all_close(
        _two_updates(optx.create(name, learning_rate=0.05), **extra),
        _two_updates(getattr(optx, name)(learning_rate=0.05), **extra),
        rtol=0,
        atol=0,
    )
    assert optx.registered_optimizers()[name] is getattr(optx, name)


@pytest.mark.parametrize("spelling", sorted(MXNET_REGISTRY))
def test_every_mxnet_registry_name_is_created(spelling):
    expected = getattr(optx, MXNET_REGISTRY[spelling])(learning_rate=0.05)
    got = optx.create(spelling, learning_rate=0.05)
    chex.assert_trees_all_close(_two_updates(got), _two_updates(expected), rtol=0, atol=0)


@pytest.mark.parametrize(
    "spelling, name, kwargs",
    [
        ("NAG", "nag", {}),
        ("Signum", "signum", {}),
        ("FTML", "ftml", {}),
        ("LBSGD", "lbsgd", {}),
        ("SGD", "sgd", {}),
        ("Adam", "adam", {}),
        ("AdaGrad", "adagrad", {}),
        ("RMSProp", "rmsprop", {}),
        ("SignSGD", "sign_sgd", {}),
        ("sign-sgd", "sign_sgd", {}),
        ("LARC", "lars", {"clip": True, "paper_ratio": True}),
        ("nesterov", "nag", {"lr_inside_momentum": False}),
        (" Ftrl ", "ftrl", {}),
        ("Ranger", "ranger", {}),  # fastai
        ("RAdam", "radam", {}),
        ("QHAdam", "qhadam", {}),
    ],
)
def test_mxnet_and_fastai_spellings(spelling, name, kwargs):
    expected = getattr(optx, name)(learning_rate=0.05, **kwargs)
    got = optx.create(spelling, learning_rate=0.05)
    chex.assert_trees_all_close(_two_updates(got), _two_updates(expected), rtol=0, atol=0)


def test_hyperparameters_pass_through_including_schedules():
    schedule = lambda count: 0.1 / (1.0 + count.astype(jnp.float32))
    tx = optx.create("lamb", learning_rate=schedule, weight_decay=0.01, lower_bound=0.5)
    expected = optx.lamb(learning_rate=schedule, weight_decay=0.01, lower_bound=0.5)
    chex.assert_trees_all_close(_two_updates(tx), _two_updates(expected))
    values = optx.get_hyperparams(tx.init(PARAMS))
    assert float(values["lower_bound"]) == 0.5


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown optimizer 'lambb'.*'lamb'"):
        optx.create("lambb")
    with pytest.raises(ValueError, match=r"'adamw'"):
        optx.create("AdamW2")
    with pytest.raises(ValueError, match="registered_optimizers"):
        optx.create("definitely_not_an_optimizer")
    with pytest.raises(TypeError, match="name must be a string"):
        optx.create(optx.adam)


def test_bad_hyperparameter_names_the_optimizer_and_its_arguments():
    with pytest.raises(TypeError) as info:
        optx.create("signum", learning_rate=0.1, wd=1e-4, betaa=0.9)
    message = str(info.value)
    assert "'signum'" in message
    assert "'wd' is 'weight_decay' in optx" in message
    assert "did you mean 'beta'" in message
    assert "it accepts learning_rate, beta, accumulator_dtype, weight_decay, wd_lh" in message


def test_register_optimizer_as_plain_and_named_decorator(monkeypatch):
    monkeypatch.setattr(_registry, "_USER", {})

    @optx.register_optimizer
    def heavy_ball(learning_rate=0.1, momentum=0.5):
        """SGD with momentum 0.5 by default."""
        return optx.sgd(learning_rate, momentum)

    @optx.register_optimizer("Plain-SGD")
    def _plain(learning_rate=0.1):
        return optx.sgd(learning_rate)

    names = optx.registered_optimizers()
    assert {"heavy_ball", "plain_sgd"} <= set(names)
    assert list(names) == sorted(names)
    assert names["heavy_ball"] is heavy_ball
    chex.assert_trees_all_close(
        _two_updates(optx.create("HEAVY_BALL", momentum=0.9)),
        _two_updates(optx.sgd(0.1, 0.9)),
    )
    chex.assert_trees_all_close(_two_updates(optx.create("plain_sgd")), _two_updates(optx.sgd(0.1)))
    with pytest.raises(TypeError, match="'heavy_ball' got unexpected argument"):
        optx.create("heavy_ball", nesterov=True)


def test_register_refuses_taken_names_unless_overwrite(monkeypatch):
    monkeypatch.setattr(_registry, "_USER", {})
    with pytest.raises(ValueError, match="'adam' is already registered"):
        optx.register_optimizer("Adam")(lambda learning_rate=1.0: optx.sgd(learning_rate))
    optx.register_optimizer("adam", overwrite=True)(lambda learning_rate=1.0: optx.sgd(1.0))
    chex.assert_trees_all_close(_two_updates(optx.create("adam")), _two_updates(optx.sgd(1.0)))
    with pytest.raises(TypeError, match="expected an optimizer factory"):
        optx.register_optimizer("thing")(42)


def test_new_aliases_are_found_at_call_time(monkeypatch):
    """Names are read from optx._optimizers.__all__ when create runs, not at import."""

    def brand_new(learning_rate=0.3):
        return optx.sgd(learning_rate)

    monkeypatch.setattr(_optimizers, "brand_new", brand_new, raising=False)
    monkeypatch.setattr(_optimizers, "__all__", [*_optimizers.__all__, "brand_new"])
    chex.assert_trees_all_close(_two_updates(optx.create("brand_new")), _two_updates(optx.sgd(0.3)))


def test_created_optimizer_jits_and_trains():
    tx = optx.create("Lion", learning_rate=0.01, weight_decay=0.0)
    x = jnp.zeros(3)
    state = tx.init(x)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for _ in range(200):
        u, state = step(2 * (x - 1.0), state, x)
        x = optx.apply_updates(x, u)
    assert float(jnp.max(jnp.abs(x - 1.0))) < 0.1

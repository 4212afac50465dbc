"""The public API: __all__ is complete and every public name is documented."""

import inspect
import types
import typing

import pytest

import optx

MODULES = [optx, optx.transforms, optx.schedules, optx.train, optx.testing]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_is_complete_and_exists(module):
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not (isinstance(value, types.ModuleType) and name not in module.__all__)
        and name not in {"annotations"}
    }
    assert set(module.__all__) >= public, sorted(public - set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name
    assert len(set(module.__all__)) == len(module.__all__), "duplicates in __all__"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_has_a_docstring(module):
    undocumented = []
    for name in module.__all__:
        value = getattr(module, name)
        # Type aliases (optx.Params, a typing.Union) are callable but carry typing's own
        # __doc__; they are documented by the attribute docstrings the API pages render.
        if typing.get_origin(value) is not None:
            continue
        if isinstance(value, types.ModuleType) or inspect.isclass(value) or callable(value):
            if not (value.__doc__ or "").strip():
                undocumented.append(name)
    assert not undocumented, undocumented


def test_py_typed_is_shipped():
    import pathlib

    assert (pathlib.Path(optx.__file__).parent / "py.typed").exists()


def test_no_private_jax_imports():
    import pathlib

    root = pathlib.Path(optx.__file__).parent
    offenders = [str(p) for p in root.rglob("*.py") if "jax._src" in p.read_text()]
    assert not offenders, offenders


OPTIMIZERS = [*optx._optimizers.__all__, "ranger"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_docstring_gives_rule_arguments_and_reference(name):
    doc = getattr(optx, name).__doc__
    assert "Update rule" in doc or "::" in doc, "no update rule"
    assert "Args:" in doc and "References:" in doc


@pytest.mark.parametrize(
    "name", [n for n in optx.transforms.__all__ if n[0].islower() and n != "reduce_on_plateau"]
)
def test_transform_docstring_gives_its_rule(name):
    doc = getattr(optx, name).__doc__
    assert "rule" in doc.lower() or "::" in doc, "no update rule"

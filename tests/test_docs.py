"""The documentation site documents every public name, and its configuration is sound.

`mkdocs build --strict` (run by .ci/run) fails on a broken link or a docstring it cannot
render; this test catches, without mkdocs installed, a public name missing from the API
reference pages (``docs/api/*.md``, one ``::: path`` directive per name) or a directive
naming something that does not exist.
"""

import importlib
import pathlib
import re

import optx
import optx.train.distributed

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
MODULES = [optx, optx.transforms, optx.schedules, optx.train, optx.testing, optx.train.distributed]


def _documented():
    text = "\n".join(p.read_text() for p in sorted(API.glob("*.md")))
    return re.findall(r"^::: ([\w.]+)$", text, re.M)


def _resolve_attr(path):
    parts = path.split(".")
    value = importlib.import_module(parts[0])
    for part in parts[1:]:
        value = getattr(value, part)
    return value


def test_every_public_name_is_in_the_api_reference():
    documented = set(_documented())
    missing = []
    for module in MODULES:
        for name in module.__all__:
            own = f"{module.__name__}.{name}"
            # Top-level names re-exported from optx.transforms are documented there.
            via_transforms = module is optx and name in optx.transforms.__all__
            if own not in documented and not (
                via_transforms and f"optx.transforms.{name}" in documented
            ):
                missing.append(own)
    assert not missing, f"add to docs/api/*.md: {missing}"


def test_every_api_directive_names_a_public_object():
    public = {f"{m.__name__}.{n}" for m in MODULES for n in m.__all__}
    public |= {m.__name__ for m in MODULES}
    paths = _documented()
    assert len(paths) == len(set(paths)), "a name is documented twice"
    unknown = [p for p in paths if p not in public]
    assert not unknown, unknown
    for path in paths:
        _resolve_attr(path)  # raises AttributeError if it does not exist


def test_nav_pages_exist():
    config = (ROOT / "mkdocs.yml").read_text()
    pages = re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.(?:md|ipynb))$", config, re.M)
    assert len(pages) > 20
    generated = {"benchmarks.md", "schedules-gallery.md"}  # made by docs/hooks.py
    for page in pages:
        if page in generated:
            continue
        if page.startswith("notebooks/"):
            assert (ROOT / page).exists(), page
        else:
            assert (ROOT / "docs" / page).exists(), page

"""The code base passes ruff's checks and formatting (settings in pyproject.toml)."""

import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGETS = ["optx", "tests", "benchmarks", "notebooks", "docs"]


def _ruff(*args):
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    return subprocess.run([ruff, *args, *TARGETS], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr

"""Smoke test of the benchmark runner (benchmarks/ is not part of the test run otherwise).

Runs the runner end to end on a three-leaf tree, one optimizer, two repetitions, so a broken
runner fails CI. No timing is asserted: only that every measurement is present and sane.
"""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: an installed optx stays the one tested

from benchmarks import run  # noqa: E402


@pytest.mark.slow  # runs the benchmark runner on every quick row
def test_runner_end_to_end(tmp_path):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    results = run.main(
        [
            "--trees",
            "tiny",
            "--optimizers",
            "adam",
            "--step-optimizers",
            "adam",
            "--steps-per-call",
            "2",
            "--reps",
            "2",
            "--warmup",
            "1",
            "--scale",
            "0.01",
            "--json",
            str(out_json),
            "--md",
            str(out_md),
            "--quiet",
        ]
    )
    saved = json.loads(out_json.read_text())
    assert saved["trees"]["tiny"]["leaves"] == 3
    (row,) = results["trees"]["tiny"]["updates"]
    for lib in ("optx", "optax"):
        stats = row[lib]
        assert stats["reps"] == 2
        assert stats["median_ms"] > 0 and stats["total_compile_s"] > 0
        assert stats["argument_bytes"] > 0 and stats["temp_bytes"] >= 0
        assert not stats["param_sized_temp"]
    assert row["ratio"] > 0 and row["compile_ratio"] > 0
    (step,) = results["trees"]["tiny"]["steps"]
    assert step["steps_per_call"] == 2 and step["ratio_k2"] > 0
    assert results["bandwidth"]["start"]["bytes_per_s"] > 0
    criteria = [c["criterion"] for c in results["acceptance"]]
    assert len(criteria) == 7
    text = out_md.read_text()
    assert "python -m benchmarks.run" in text and "| adam |" in text

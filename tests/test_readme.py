"""The README's code runs as written, and its commands are the ones CI runs."""

import pathlib
import re

import jax
import pytest

pytestmark = pytest.mark.slow  # heavy (clients, devices, loops): in the full run, not the fast one

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_python_block_runs(capsys):
    import matplotlib

    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    namespace = {"__name__": "__readme__"}
    # README code is user code: it broadcasts freely, as users do.
    with jax.numpy_rank_promotion("allow"):
        for i, code in enumerate(blocks):
            exec(compile(code, f"README python block {i}", "exec"), namespace)
    assert "final loss" in capsys.readouterr().out


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README.split("## Set up", 1)[1], re.S)[:2]
    assert len(commands) == 2, commands
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_demo_loss_goes_down(capsys):
    from optx import demo

    losses = demo.main(steps=200, report_every=50)
    assert losses[-1] < 0.2 * losses[0]
    assert "learning rate" in capsys.readouterr().out

"""The README's quick start runs as written, and its commands are the ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block_after(heading: str, language: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


def test_quick_start_runs(capsys):
    code = _block_after("## Quick start", "python")
    exec(compile(code, "README quick start", "exec"), {"__name__": "__readme__"})
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

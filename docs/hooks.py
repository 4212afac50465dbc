"""mkdocs hook: pages and images made at build time, so no copy or binary is committed.

- the notebooks (``notebooks/*.ipynb``, stored executed) appear under ``notebooks/``;
  mkdocs-jupyter renders them without running them;
- ``BENCHMARKS.md`` appears as ``benchmarks.md``;
- ``schedules-gallery.md`` and its PNGs are drawn from ``GALLERY`` with
  ``optx.schedules.plot``: the code shown above each plot is the code that drew it.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]

# (title, code that binds `schedule` and `steps`, a sentence). Each code block runs with
# `import optx` done.
GALLERY = [
    ("Optax shapes", None, None),
    (
        "warmup_cosine_decay_schedule",
        "schedule = optx.schedules.warmup_cosine_decay_schedule(\n"
        "    init_value=0.0, peak_value=1e-3, warmup_steps=100, decay_steps=1000, end_value=1e-5\n"
        ")\nsteps = 1000",
        "Linear warmup to the peak, then cosine decay to `end_value` at `decay_steps`.",
    ),
    (
        "cosine_decay_schedule",
        "schedule = optx.schedules.cosine_decay_schedule(1e-3, decay_steps=800, alpha=0.1)\n"
        "steps = 1000",
        "Cosine from `init_value` to `alpha * init_value`, constant after `decay_steps`.",
    ),
    (
        "exponential_decay_schedule",
        "schedule = {\n"
        '    "smooth": optx.schedules.exponential_decay_schedule(1e-3, 100, 0.7),\n'
        '    "staircase": optx.schedules.exponential_decay_schedule(\n'
        "        1e-3, 100, 0.7, staircase=True\n"
        "    ),\n}\nsteps = 1000",
        "`init_value * decay_rate ** (count / transition_steps)`, smooth or by steps.",
    ),
    (
        "linear_schedule and polynomial_schedule",
        "schedule = {\n"
        '    "linear": optx.schedules.linear_schedule(1e-3, 1e-4, transition_steps=800),\n'
        '    "power 2": optx.schedules.polynomial_schedule(1e-3, 1e-4, 2, transition_steps=800),\n'
        "}\nsteps = 1000",
        "From `init_value` to `end_value` over `transition_steps`, then constant.",
    ),
    (
        "piecewise_constant_schedule",
        "schedule = optx.schedules.piecewise_constant_schedule(\n"
        "    1e-3, {300: 0.5, 600: 0.5, 900: 0.1}\n)\nsteps = 1000",
        "Multiplied by each scale from its boundary on.",
    ),
    (
        "piecewise_interpolate_schedule",
        "schedule = optx.schedules.piecewise_interpolate_schedule(\n"
        '    "cosine", 1e-3, {200: 2.0, 600: 0.1}\n)\nsteps = 1000',
        "Interpolated (linearly or by a cosine) between the boundaries.",
    ),
    (
        "sgdr_schedule",
        "schedule = optx.schedules.sgdr_schedule(\n"
        "    [dict(init_value=0.0, peak_value=1e-3, warmup_steps=20, decay_steps=d)\n"
        "     for d in (200, 300, 500)]\n)\nsteps = 1000",
        "Warm restarts: warmup-cosine cycles one after another.",
    ),
    (
        "cosine_onecycle_schedule and linear_onecycle_schedule",
        "schedule = {\n"
        '    "cosine": optx.schedules.cosine_onecycle_schedule(1000, 1e-3),\n'
        '    "linear": optx.schedules.linear_onecycle_schedule(1000, 1e-3),\n'
        "}\nsteps = 1000",
        "Optax's one-cycle shapes (learning rate only).",
    ),
    (
        "join_schedules",
        "schedule = optx.schedules.join_schedules(\n"
        "    [optx.schedules.linear_schedule(0.0, 1e-3, 100),\n"
        "     optx.schedules.cosine_decay_schedule(1e-3, 900)],\n"
        "    boundaries=[100],\n)\nsteps = 1000",
        "One schedule after another; each later one sees the count from its boundary.",
    ),
    ("More shapes", None, None),
    (
        "cyclic_schedule",
        "schedule = {\n"
        "    mode: optx.schedules.cyclic_schedule(1e-4, 1e-3, 100, mode, gamma=0.998)\n"
        '    for mode in ("triangular", "triangular2", "exp_range")\n'
        "}\nsteps = 1000",
        "Smith's cyclical learning rates, in his three modes.",
    ),
    (
        "inverse_sqrt_schedule",
        "schedule = optx.schedules.inverse_sqrt_schedule(1e-3, warmup_steps=100)\nsteps = 1000",
        "The Transformer's warmup, then `1 / sqrt(count)`.",
    ),
    (
        "warmup",
        "schedule = optx.schedules.warmup(\n"
        "    optx.schedules.exponential_decay_schedule(1e-3, 100, 0.8), steps=200\n)\n"
        "steps = 1000",
        "A linear (or constant) warmup put before any schedule.",
    ),
    ("MXNet's schedulers", None, None),
    (
        "factor_schedule",
        "schedule = optx.schedules.factor_schedule(\n"
        "    250, factor=0.5, base_lr=1e-3, warmup_steps=100\n)\nsteps = 1000",
        "MXNet's `FactorScheduler`: halved every 250 updates (MXNet counts from 1).",
    ),
    (
        "multi_factor_schedule",
        "schedule = optx.schedules.multi_factor_schedule(\n"
        "    [300, 600, 900], factor=0.3, base_lr=1e-3\n)\nsteps = 1000",
        "MXNet's `MultiFactorScheduler`.",
    ),
    (
        "poly_schedule and cosine_schedule",
        "schedule = {\n"
        '    "poly": optx.schedules.poly_schedule(1000, base_lr=1e-3, pwr=2, warmup_steps=100),\n'
        '    "cosine": optx.schedules.cosine_schedule(1000, base_lr=1e-3, warmup_steps=100),\n'
        "}\nsteps = 1000",
        "MXNet's `PolyScheduler` and `CosineScheduler`, with their warmup.",
    ),
    ("fastai's schedules", None, None),
    (
        "onecycle",
        "schedule = optx.schedules.onecycle(1000, 1e-3)\nsteps = 1000",
        "fastai's `fit_one_cycle`: the learning rate and the momentum, each in its own panel.",
    ),
    (
        "flat_cos",
        "schedule = optx.schedules.flat_cos(1000, 1e-3)\nsteps = 1000",
        "fastai's `fit_flat_cos`: flat, then a cosine annealing.",
    ),
    (
        "combine_schedules",
        "S = optx.schedules\n"
        "schedule = S.combine_schedules(\n"
        "    [0.3, 0.7], [S.sched_lin(1e-4, 1e-3), S.sched_cos(1e-3, 1e-5)], total_steps=1000\n"
        ")\nsteps = 1000",
        "fastai's `combine_scheds`: phases as fractions of the run, curves `sched_lin`, "
        "`sched_cos`, `sched_exp`, `sched_poly`, `sched_no`.",
    ),
]


def _slug(title: str) -> str:
    return title.split()[0].lower().replace("_", "-")


def _gallery(config) -> list[File]:
    import matplotlib

    matplotlib.use("Agg")
    import optx

    lines = [
        "# Schedules gallery",
        "",
        "Every schedule is a pure function of the 0-based update count, and any",
        "hyperparameter takes one (`optx.sgd(lr_schedule, momentum=momentum_schedule)`).",
        "Each plot below is drawn at build time by `optx.schedules.plot` from the code",
        "above it; the arguments are in the [API reference](api/schedules.md).",
        "",
    ]
    files = []
    for title, code, sentence in GALLERY:
        if code is None:
            lines += [f"## {title}", ""]
            continue
        namespace = {"optx": optx}
        exec(compile(code, f"gallery: {title}", "exec"), namespace)
        figure = optx.schedules.plot(namespace["schedule"], namespace["steps"])
        figure.set_size_inches(3.6 * len(figure.axes), 2.6)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=90, bbox_inches="tight")
        name = f"gallery/{_slug(title)}.png"
        files.append(File.generated(config, name, content=png.getvalue()))
        lines += [
            f"### `{title}`" if " and " not in title else f"### {title}",
            "",
            sentence,
            "",
            "```python",
            textwrap.dedent(code),
            "```",
            "",
            f"![{title}]({name})",
            "",
        ]
    files.append(File.generated(config, "schedules-gallery.md", content="\n".join(lines)))
    return files


@event_priority(100)  # before mkdocs-jupyter looks for notebooks
def on_files(files, config):
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        # A real File whose source directory is the repository root (mkdocs-jupyter reads
        # src_dir, which File.generated leaves unset).
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    benchmarks = (ROOT / "BENCHMARKS.md").read_text()
    files.append(File.generated(config, "benchmarks.md", content=benchmarks))
    for file in _gallery(config):
        files.append(file)
    return files

"""Registry entries: AdEMAMix, Simplified AdEMAMix, Adan and MARS (AdamW and Lion forms)."""

from cases import Case

import optx

CASES = [
    Case(
        "ademamix",
        optx.ademamix,
        {"learning_rate": 1e-2, "b3": 0.999, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.02, "b3": 0.99},
        rosenbrock={"learning_rate": 0.02, "b3": 0.99},
        hyperparam="b3",
    ),
    Case(
        "simplified_ademamix",
        optx.simplified_ademamix,
        {"learning_rate": 1e-3, "alpha": 1.0, "weight_decay": 1e-3},
        quadratic={"learning_rate": 5e-4, "b1": 0.9, "alpha": 1.0},
        rosenbrock={"learning_rate": 5e-4, "b1": 0.9, "alpha": 1.0},
        hyperparam="alpha",
    ),
    Case(
        "adan",
        optx.adan,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.02},
        rosenbrock={"learning_rate": 0.02},
    ),
    Case(
        "mars",
        optx.mars,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.02},
        rosenbrock={"learning_rate": 0.02},
    ),
    Case(
        "mars_lion",
        lambda **kw: optx.mars(optimizer="lion", **kw),
        {"learning_rate": 1e-3, "weight_decay": 1e-3},
        refuses_complex="optx.mars",
        quadratic={"learning_rate": 3e-3},
        rosenbrock={"learning_rate": 3e-3},
    ),
]

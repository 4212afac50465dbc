"""Registry entries: Muon, ADOPT, cautious(inner) and ASGD (issue 19, group "muon")."""

from cases import Case

import optx


def _muon(learning_rate=0.02, b1=0.9, **kwargs):
    # The contract reads and sets "b1" (AdamW's, for the non-matrix leaves): Muon's own
    # "beta" cannot change an update of constant gradients, which the normalization of the
    # Newton-Schulz iteration removes; learning_rate and eps occur in both groups.
    return optx.muon(learning_rate, adam_b1=b1, **kwargs)


def _cautious_adamw(learning_rate=1e-2, weight_decay=1e-4):
    return optx.cautious(optx.adamw(learning_rate, weight_decay=weight_decay))


def _cautious_sgd_directions(learning_rate=1e-2, decay=0.9):
    return optx.chain(
        optx.cautious(optx.trace(decay), inner_output="directions"),
        optx.scale_by_learning_rate(learning_rate),
    )


CASES = [
    Case(
        "muon",
        _muon,
        {"learning_rate": 0.02, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.05},
        rosenbrock={"learning_rate": 0.01},
        hyperparam="b1",
    ),
    Case(
        "muon_torch_adjust",
        _muon,
        {
            "learning_rate": 0.02,
            "adjust_lr_fn": "match_rms_adamw",
            "bias_correction": False,
            "nesterov": False,
            "adaptive": True,
        },
        quadratic={"learning_rate": 0.05},
        rosenbrock={"learning_rate": 0.01},
        hyperparam="b1",
    ),
    Case(
        "adopt",
        optx.adopt,
        {"learning_rate": 1e-2},
        refuses_complex="optx.adopt",
        quadratic={"learning_rate": 0.05},
        # Steps of about learning_rate per coordinate: slow along the valley.
        rosenbrock={"learning_rate": 0.03, "b2": 0.999},
        rosenbrock_steps=6000,
    ),
    Case(
        "adopt_nesterov_unclipped",
        optx.adopt,
        {"learning_rate": 1e-2, "nesterov": True, "use_clipping": False},
        quadratic={"learning_rate": 0.05, "nesterov": True, "use_clipping": False},
        rosenbrock={"learning_rate": 0.03, "b2": 0.999, "nesterov": True, "use_clipping": False},
        rosenbrock_steps=6000,
        hyperparam="b1",
    ),
    Case(
        "cautious_adamw",
        _cautious_adamw,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.05},
        rosenbrock={"learning_rate": 0.01},
    ),
    Case(
        "cautious_momentum_directions",
        _cautious_sgd_directions,
        {"learning_rate": 1e-2},
        quadratic={"learning_rate": 0.02},
        rosenbrock={"learning_rate": 5e-4},
        hyperparam="decay",
    ),
    Case(
        "asgd",
        optx.asgd,
        {"learning_rate": 0.05, "lambd": 1e-2, "t0": 1.0, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.1, "t0": 10.0},
        rosenbrock={"learning_rate": 1.5e-3, "lambd": 0.0},
        rosenbrock_steps=20000,
        hyperparam="lambd",
    ),
]

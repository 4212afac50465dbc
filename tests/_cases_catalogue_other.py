"""Registry entries: the non-Adam catalogue (sign, trust-ratio, online, noise, Rprop, MXNet)."""

from cases import Case

import optx

CASES = [
    Case(
        "nag",
        optx.nag,
        {"learning_rate": 0.05, "momentum": 0.9},
        quadratic={"learning_rate": 0.02, "momentum": 0.9},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9},
    ),
    Case(
        "sgd_mxnet_l2",
        optx.sgd,
        {"learning_rate": 0.05, "momentum": 0.9, "lr_inside_momentum": True, "weight_decay": 1e-3},
        quadratic={
            "learning_rate": 0.02,
            "momentum": 0.9,
            "lr_inside_momentum": True,
            "weight_decay": 1e-4,
        },
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9, "lr_inside_momentum": True},
        hyperparam="weight_decay",
    ),
    Case(
        "lion",
        optx.lion,
        {"learning_rate": 1e-3},
        refuses_complex="optx.lion",
        quadratic={"learning_rate": 0.01, "weight_decay": 0.0},
        rosenbrock={"learning_rate": 1e-3, "weight_decay": 0.0},
        rosenbrock_steps=6000,
    ),
    Case(
        "signum",
        optx.signum,
        {"learning_rate": 1e-2, "weight_decay": 1e-3, "wd_lh": 1e-3},
        refuses_complex="optx.signum",
        quadratic={"learning_rate": 0.01},
        rosenbrock={"learning_rate": 1e-3},
        rosenbrock_steps=6000,
    ),
    Case(
        "sign_sgd",
        optx.sign_sgd,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        refuses_complex="optx.sign_sgd",
        quadratic={"learning_rate": 0.01},
        rosenbrock=None,
        why_not_rosenbrock="sign steps without momentum zigzag across the curved valley "
        "at a fixed size; they cannot follow it to (1, 1) at a useful rate",
    ),
    Case(
        "lamb",
        optx.lamb,
        {"learning_rate": 1e-2, "weight_decay": 1e-2},
        quadratic={"learning_rate": 0.05},
        rosenbrock={"learning_rate": 0.01},
        hyperparam="b1",
    ),
    Case(
        "lamb_mxnet_bounds",
        optx.lamb,
        {
            "learning_rate": 1e-2,
            "lower_bound": 0.1,
            "upper_bound": 10.0,
            "bias_correction": False,
            "max_ratio": 10.0,
        },
        quadratic={"learning_rate": 0.05, "lower_bound": 0.1, "upper_bound": 10.0},
        rosenbrock={"learning_rate": 0.01, "lower_bound": 0.1},
    ),
    Case(
        "lars",
        optx.lars,
        {"learning_rate": 0.1, "weight_decay": 1e-3},
        quadratic={"learning_rate": 1.0, "trust_coefficient": 0.01},
        rosenbrock={"learning_rate": 0.1, "trust_coefficient": 0.01},
        hyperparam="trust_coefficient",
    ),
    Case(
        "larc_clip",
        optx.lars,
        {"learning_rate": 0.1, "trust_coefficient": 0.02, "eps": 1e-8, "clip": True},
        quadratic={"learning_rate": 0.05, "trust_coefficient": 0.02, "clip": True},
        rosenbrock={"learning_rate": 0.01, "trust_coefficient": 0.1, "clip": True},
    ),
    Case(
        "lbsgd",
        optx.lbsgd,
        {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-4},
        quadratic={"learning_rate": 0.02, "momentum": 0.9},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9},
    ),
    Case(
        "lbsgd_accumulate_lars",
        optx.lbsgd,
        {"learning_rate": 0.05, "batch_scale": 2, "warmup_strategy": "lars"},
        quadratic={"learning_rate": 0.02, "momentum": 0.9, "batch_scale": 2},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9, "batch_scale": 2},
        rosenbrock_steps=6000,
    ),
    Case(
        "ftrl",
        optx.ftrl,
        {"learning_rate": 0.1},
        quadratic={"learning_rate": 1.0, "lambda1": 0.0},
        rosenbrock={"learning_rate": 1.0, "lambda1": 0.0},
    ),
    Case(
        "dcasgd",
        optx.dcasgd,
        {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.02, "momentum": 0.9},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9},
    ),
    Case(
        "sgld",
        optx.sgld,
        {"learning_rate": 1e-3, "weight_decay": 1e-3},
        quadratic=None,
        why_not_quadratic="it samples exp(-loss) (a posterior) rather than minimizing: at "
        "unit temperature the loss hovers near dim/2, far above the test's 1% threshold",
        rosenbrock=None,
        why_not_rosenbrock="a sampler, not a minimizer (see quadratic)",
        extra_args=lambda key: {"key": key},
    ),
    Case(
        "rprop",
        optx.rprop,
        {"learning_rate": 1e-2, "eta_plus": 2.4},  # halved by the contract test: still >= 1
        refuses_complex="optx.rprop",
        quadratic={"learning_rate": 0.01},
        rosenbrock={"learning_rate": 1e-3},
        hyperparam="eta_plus",
    ),
    Case(
        "fromage",
        optx.fromage,
        {"learning_rate": 1e-2},
        quadratic={"learning_rate": 0.1},
        rosenbrock={"learning_rate": 0.01},
    ),
]

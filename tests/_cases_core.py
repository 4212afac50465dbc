"""Registry entries for the foundation optimizers."""

from cases import Case

import optx

CASES = [
    Case(
        "sgd",
        optx.sgd,
        {"learning_rate": 0.05},
        quadratic={"learning_rate": 0.05},
        rosenbrock={"learning_rate": 1e-3},
        rosenbrock_steps=20000,
    ),
    Case(
        "sgd_momentum",
        optx.sgd,
        {"learning_rate": 0.05, "momentum": 0.9},
        quadratic={"learning_rate": 0.02, "momentum": 0.9},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9},
        hyperparam="momentum",
    ),
    Case(
        "sgd_nesterov",
        optx.sgd,
        {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
        quadratic={"learning_rate": 0.02, "momentum": 0.9, "nesterov": True},
        rosenbrock={"learning_rate": 5e-4, "momentum": 0.9, "nesterov": True},
    ),
    Case(
        "adam",
        optx.adam,
        {"learning_rate": 1e-2},
        quadratic={"learning_rate": 0.1},
        rosenbrock={"learning_rate": 0.02},
        hyperparam="b1",
    ),
    Case(
        "adamw",
        optx.adamw,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.1, "weight_decay": 1e-4},
        rosenbrock={"learning_rate": 0.02, "weight_decay": 1e-5},
        hyperparam="weight_decay",
    ),
    Case(
        "rmsprop",
        optx.rmsprop,
        {"learning_rate": 1e-2},
        quadratic={"learning_rate": 0.01, "decay": 0.9},
        rosenbrock={"learning_rate": 1e-3},
        rosenbrock_steps=5000,
        hyperparam="decay",
    ),
    Case(
        "rmsprop_centered_momentum",
        optx.rmsprop,
        {"learning_rate": 1e-2, "centered": True, "momentum": 0.9},
        quadratic={"learning_rate": 3e-3, "centered": True, "momentum": 0.9},
        rosenbrock={"learning_rate": 2e-4, "centered": True, "momentum": 0.9},
        rosenbrock_steps=5000,
    ),
    Case(
        "adagrad",
        optx.adagrad,
        {"learning_rate": 0.1},
        quadratic={"learning_rate": 0.5},
        rosenbrock={"learning_rate": 0.5},
        rosenbrock_steps=10000,
    ),
]

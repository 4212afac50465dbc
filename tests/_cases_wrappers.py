"""Registry entries: wrappers, each around a small optimizer."""

from cases import Case

import optx

# "b" is the bias-like leaf of the contract params; a single-array param (the convergence
# tests) has path "" and falls to the default / catch-all.
_BIAS_OFF = optx.path_rules({"b": False}, default=True)
_BIAS_FROZEN = optx.path_rules({"b": True}, default=False)


def _masked_adam(learning_rate=1e-2, b1=0.9):
    return optx.chain(
        optx.masked(optx.scale_by_adam(b1=b1), _BIAS_OFF),
        optx.scale_by_learning_rate(learning_rate),
    )


def _partition(learning_rate=1e-2, weight_decay=1e-3):
    return optx.partition(
        {
            "decay": optx.adamw(learning_rate, weight_decay=weight_decay),
            "no_decay": optx.sgd(learning_rate),
        },
        {"b": "no_decay", "*": "decay"},
    )


def _freeze(learning_rate=1e-2):
    return optx.freeze(_BIAS_FROZEN, optx.adam(learning_rate))


def _param_groups(learning_rate=1e-2, weight_decay=1e-4):
    return optx.param_groups(
        optx.scale_by_adam(),
        learning_rate,
        weight_decay,
        groups={"decay": {"lr_mult": 1.0}, "no_decay": {"lr_mult": 2.0, "wd_mult": 0.0}},
        param_labels={"b": "no_decay", "*": "decay"},
    )


def _accumulate(learning_rate=1e-2):
    return optx.accumulate_gradients(optx.adam(learning_rate), every_k=2)


def _accumulate_samples(learning_rate=0.05):
    return optx.accumulate_gradients(optx.sgd(learning_rate), every_samples=3)


def _apply_every(learning_rate=1e-2):
    return optx.chain(optx.adam(learning_rate), optx.apply_every(2))


def _apply_if_finite(learning_rate=1e-2):
    return optx.apply_if_finite(optx.adam(learning_rate), max_consecutive_errors=3)


def _zero_nans(learning_rate=0.05):
    return optx.chain(optx.zero_nans(), optx.sgd(learning_rate))


def _lookahead(slow_step_size=0.5, learning_rate=0.02):
    return optx.lookahead(
        optx.sgd(learning_rate, momentum=0.9), sync_period=2, slow_step_size=slow_step_size
    )


def _ema_params(learning_rate=1e-2):
    return optx.chain(optx.adam(learning_rate), optx.ema_params(0.9))


def _polyak_params(learning_rate=0.05):
    return optx.chain(optx.sgd(learning_rate), optx.polyak_params(start=1))


def _master_weights(learning_rate=1e-2):
    return optx.with_master_weights(optx.adam(learning_rate))


def _conditionally(learning_rate=1e-2):
    return optx.chain(
        optx.clip(1.0),
        optx.conditionally_transform(optx.scale_by_adam(), start=1),
        optx.scale_by_learning_rate(learning_rate),
    )


def _nonnegative(learning_rate=1e-2):
    return optx.chain(optx.adam(learning_rate), optx.keep_params_nonnegative())


def _flatten(learning_rate=1e-2):
    return optx.flatten(optx.adam(learning_rate))


_ADAM = dict(quadratic={"learning_rate": 0.1}, rosenbrock={"learning_rate": 0.02})
_SGD = dict(
    quadratic={"learning_rate": 0.05}, rosenbrock={"learning_rate": 1e-3}, rosenbrock_steps=20000
)

CASES = [
    Case("masked_adam", _masked_adam, hyperparam="b1", **_ADAM),
    Case(
        "partition_rules",
        _partition,
        hyperparam="weight_decay",
        quadratic={"learning_rate": 0.1, "weight_decay": 1e-4},
        rosenbrock={"learning_rate": 0.02, "weight_decay": 1e-5},
    ),
    Case("freeze_adam", _freeze, **_ADAM),
    Case(
        "param_groups_adam",
        _param_groups,
        quadratic={"learning_rate": 0.1},
        rosenbrock={"learning_rate": 0.02, "weight_decay": 0.0},
    ),
    Case(
        "accumulate_gradients_adam",
        _accumulate,
        quadratic_steps=1000,
        rosenbrock_steps=6000,
        **_ADAM,
    ),
    Case(
        "accumulate_gradients_samples_sgd",
        _accumulate_samples,
        extra_args=lambda key: {"num_samples": 2.0},
        quadratic={"learning_rate": 0.05},
        quadratic_steps=1000,
        rosenbrock={"learning_rate": 1e-3},
        rosenbrock_steps=40000,
    ),
    Case(
        "apply_every_adam",
        _apply_every,
        quadratic={"learning_rate": 0.05},
        quadratic_steps=1000,
        rosenbrock={"learning_rate": 0.01},
        rosenbrock_steps=6000,
    ),
    Case("apply_if_finite_adam", _apply_if_finite, **_ADAM),
    Case("zero_nans_sgd", _zero_nans, **_SGD),
    Case(
        "lookahead_sgd_momentum",
        _lookahead,
        hyperparam="slow_step_size",
        quadratic={"learning_rate": 0.02},
        rosenbrock={"learning_rate": 5e-4},
        rosenbrock_steps=10000,
    ),
    Case(
        "ranger",
        optx.ranger,
        {"learning_rate": 1e-2},
        hyperparam="b1",
        quadratic={"learning_rate": 0.1},
        rosenbrock={"learning_rate": 2e-3, "weight_decay": 0.0},
        rosenbrock_steps=10000,
    ),
    Case("ema_params_adam", _ema_params, **_ADAM),
    Case("polyak_params_sgd", _polyak_params, **_SGD),
    Case("with_master_weights_adam", _master_weights, **_ADAM),
    Case("conditionally_transform_adam", _conditionally, **_ADAM, refuses_complex="optx.clip"),
    Case(
        "keep_params_nonnegative_adam",
        _nonnegative,
        **_ADAM,
        refuses_complex="optx.keep_params_nonnegative",
    ),
    Case("flatten_adam", _flatten, **_ADAM),
]

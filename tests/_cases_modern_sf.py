"""Registry entries: Schedule-Free (a wrapper and its SGD/AdamW aliases), Prodigy, D-Adaptation."""

from cases import Case

import optx


def _schedule_free_rmsprop(learning_rate=1e-2, b1=0.9):
    """The wrapper around a momentum-free base, reading the base's learning rate."""
    return optx.schedule_free(optx.rmsprop(learning_rate, decay=0.99), None, b1=b1)


def _schedule_free_sgd_explicit_lr(learning_rate=0.05, b1=0.9):
    """The wrapper given its own learning rate, as Optax takes it."""
    return optx.schedule_free(optx.sgd(learning_rate), learning_rate, b1=b1)


CASES = [
    Case(
        "schedule_free_sgd",
        optx.schedule_free_sgd,
        {"learning_rate": 0.05, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.1},
        rosenbrock={"learning_rate": 1e-3, "b1": 0.5},
        rosenbrock_steps=6000,
    ),
    Case(
        "schedule_free_sgd_warmup",
        optx.schedule_free_sgd,
        {"learning_rate": 0.05, "warmup_steps": 2, "weight_decay": 1e-2},
        quadratic={"learning_rate": 0.1, "warmup_steps": 50},
        rosenbrock=None,
        why_not_rosenbrock="schedule_free_sgd without warmup covers Rosenbrock; the warmup "
        "only changes the first steps",
        hyperparam="weight_decay",  # b1 has no effect while c = 1 (the first weighted step)
    ),
    Case(
        "schedule_free_adamw",
        optx.schedule_free_adamw,
        {"learning_rate": 1e-2, "weight_decay": 1e-3},
        quadratic={"learning_rate": 0.1, "warmup_steps": 20},
        rosenbrock={"learning_rate": 0.02, "b1": 0.5},
    ),
    Case(
        "schedule_free_rmsprop",
        _schedule_free_rmsprop,
        quadratic={"learning_rate": 0.05},
        rosenbrock=None,
        why_not_rosenbrock="the aliases cover Rosenbrock; this entry checks the wrapper's "
        "contract around another base",
        hyperparam="b1",
    ),
    Case(
        "schedule_free_sgd_explicit_lr",
        _schedule_free_sgd_explicit_lr,
        quadratic={"learning_rate": 0.1},
        rosenbrock=None,
        why_not_rosenbrock="schedule_free_sgd covers Rosenbrock",
        hyperparam="b1",
    ),
    Case(
        "prodigy",
        optx.prodigy,
        {"weight_decay": 1e-3},
        refuses_complex="optx.prodigy",
        quadratic={},
        rosenbrock={"safeguard_warmup": True},
        rosenbrock_steps=6000,
    ),
    Case(
        "dadapt_adamw",
        optx.dadapt_adamw,
        {"weight_decay": 1e-3},
        refuses_complex="optx.dadapt_adamw",
        quadratic={},
        rosenbrock={"learning_rate": 0.5},
    ),
]

"""Optimizers: short chains of transforms, grouped by family."""

from optx._optimizers._adam import adam as adam, adamw as adamw
from optx._optimizers._rms import adagrad as adagrad, rmsprop as rmsprop
from optx._optimizers._sgd import sgd as sgd

__all__ = [
    "adagrad",
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
]

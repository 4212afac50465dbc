"""Optimizers: short chains of transforms, grouped by family."""

from optx._optimizers._adadelta import adadelta as adadelta
from optx._optimizers._adafactor import adafactor as adafactor
from optx._optimizers._adam import adam as adam, adamw as adamw
from optx._optimizers._adam_variants import (
    adabelief as adabelief,
    adamax as adamax,
    adamaxw as adamaxw,
    amsgrad as amsgrad,
    nadam as nadam,
    nadamw as nadamw,
    qhadam as qhadam,
    radam as radam,
    yogi as yogi,
)
from optx._optimizers._lbfgs import lbfgs as lbfgs
from optx._optimizers._misc_adaptive import ftml as ftml, novograd as novograd, sm3 as sm3
from optx._optimizers._noise import sgld as sgld
from optx._optimizers._online import dcasgd as dcasgd, ftrl as ftrl
from optx._optimizers._rms import adagrad as adagrad, rmsprop as rmsprop
from optx._optimizers._rprop import rprop as rprop
from optx._optimizers._sgd import nag as nag, sgd as sgd
from optx._optimizers._sign import lion as lion, sign_sgd as sign_sgd, signum as signum
from optx._optimizers._sophia import sophia as sophia
from optx._optimizers._trust import (
    fromage as fromage,
    lamb as lamb,
    lars as lars,
    lbsgd as lbsgd,
)

__all__ = [
    # catalogue: adaptive family
    "adabelief",
    "adadelta",
    "adafactor",
    "adamax",
    "adamaxw",
    "amsgrad",
    "ftml",
    "nadam",
    "nadamw",
    "novograd",
    "qhadam",
    "radam",
    "sm3",
    "yogi",
    # catalogue: other families
    "dcasgd",
    "fromage",
    "ftrl",
    "lamb",
    "lars",
    "lbsgd",
    "lion",
    "nag",
    "rprop",
    "sgld",
    "sign_sgd",
    "signum",
    # modern: sophia/sam/lbfgs
    "lbfgs",
    "sophia",
    # foundation
    "adagrad",
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
]

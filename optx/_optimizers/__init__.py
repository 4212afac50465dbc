"""Optimizers: short chains of transforms, grouped by family."""

from optx._optimizers._adabelief import adabelief as adabelief
from optx._optimizers._adadelta import adadelta as adadelta
from optx._optimizers._adafactor import adafactor as adafactor
from optx._optimizers._adagrad import adagrad as adagrad
from optx._optimizers._adam import adam as adam, adamw as adamw
from optx._optimizers._adamax import adamax as adamax, adamaxw as adamaxw
from optx._optimizers._adan import adan as adan
from optx._optimizers._ademamix import (
    ademamix as ademamix,
    simplified_ademamix as simplified_ademamix,
)
from optx._optimizers._adopt import adopt as adopt
from optx._optimizers._amsgrad import amsgrad as amsgrad
from optx._optimizers._asgd import asgd as asgd
from optx._optimizers._dadapt import dadapt_adamw as dadapt_adamw
from optx._optimizers._ftml import ftml as ftml
from optx._optimizers._lbfgs import lbfgs as lbfgs
from optx._optimizers._lbsgd import lbsgd as lbsgd
from optx._optimizers._mars import mars as mars
from optx._optimizers._momentum import nag as nag, sgd as sgd
from optx._optimizers._muon import muon as muon
from optx._optimizers._nadam import nadam as nadam, nadamw as nadamw
from optx._optimizers._noise import sgld as sgld
from optx._optimizers._novograd import novograd as novograd
from optx._optimizers._online import dcasgd as dcasgd, ftrl as ftrl
from optx._optimizers._prodigy import prodigy as prodigy
from optx._optimizers._qhadam import qhadam as qhadam
from optx._optimizers._radam import radam as radam
from optx._optimizers._rms import rmsprop as rmsprop
from optx._optimizers._rprop import rprop as rprop
from optx._optimizers._schedule_free import (
    schedule_free_adamw as schedule_free_adamw,
    schedule_free_sgd as schedule_free_sgd,
)
from optx._optimizers._shampoo import shampoo as shampoo
from optx._optimizers._sign import lion as lion, sign_sgd as sign_sgd, signum as signum
from optx._optimizers._sm3 import sm3 as sm3
from optx._optimizers._soap import soap as soap
from optx._optimizers._sophia import sophia as sophia
from optx._optimizers._trust import fromage as fromage, lamb as lamb, lars as lars
from optx._optimizers._yogi import yogi as yogi

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
    # foundation
    "adagrad",
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
    "adopt",
    "asgd",
    "muon",
    "ademamix",
    "adan",
    "mars",
    "simplified_ademamix",
    "shampoo",
    "soap",
    "dadapt_adamw",
    "prodigy",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "lbfgs",
    "sophia",
]

"""optx: functional optimizer transformations for JAX.

Every optimizer is a pure ``(init, update)`` pair over pytrees, interchangeable with Optax's.
Building blocks live in `optx.transforms` (re-exported here), schedules in
`optx.schedules`, and contract checks for any transform in `optx.testing`.
"""

from importlib import metadata as _metadata

from optx import _core, _optimizers, _wrappers, schedules, testing, train, transforms
from optx._constraints import (
    CLOSED_UNIT_INTERVAL as CLOSED_UNIT_INTERVAL,
    FINITE as FINITE,
    NON_NEGATIVE as NON_NEGATIVE,
    POSITIVE as POSITIVE,
    UNIT_INTERVAL as UNIT_INTERVAL,
    Constraint as Constraint,
    debug_checks as debug_checks,
)
from optx._core import (
    EmptyState as EmptyState,
    GradientTransformation as GradientTransformation,
    OptState as OptState,
    Params as Params,
    ScalarOrSchedule as ScalarOrSchedule,
    Schedule as Schedule,
    TransformInitFn as TransformInitFn,
    TransformUpdateFn as TransformUpdateFn,
    Updates as Updates,
    apply_updates as apply_updates,
    chain as chain,
    identity as identity,
    is_transformation as is_transformation,
    named_chain as named_chain,
    set_to_zero as set_to_zero,
    stateless as stateless,
)
from optx._flat import FlatLayout as FlatLayout, FlatParams as FlatParams
from optx._flat_tx import FlatState as FlatState, flat as flat
from optx._hyperparams import (
    Hyperparams as Hyperparams,
    HyperparamsState as HyperparamsState,
    Resolved as Resolved,
    ScheduledFlags as ScheduledFlags,
)
from optx._hyperparams_access import (
    get_hyperparams as get_hyperparams,
    rename_hyperparams as rename_hyperparams,
    set_hyperparams as set_hyperparams,
)
from optx._optimizers import *  # noqa: F403  (names listed in _optimizers.__all__)
from optx._registry import (
    create as create,
    register_optimizer as register_optimizer,
    registered_optimizers as registered_optimizers,
)
from optx._tree import moments_like as moments_like
from optx._wrappers import *  # noqa: F403  (names listed in _wrappers.__all__)
from optx.transforms import *  # noqa: F403  (names listed in transforms.__all__)

try:
    __version__ = _metadata.version("optx-jax")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    *_core.__all__,
    "CLOSED_UNIT_INTERVAL",
    "Constraint",
    "FINITE",
    "FlatLayout",
    "FlatParams",
    "FlatState",
    "Hyperparams",
    "HyperparamsState",
    "NON_NEGATIVE",
    "POSITIVE",
    "Resolved",
    "ScheduledFlags",
    "UNIT_INTERVAL",
    "debug_checks",
    "flat",
    "get_hyperparams",
    "moments_like",
    "rename_hyperparams",
    "set_hyperparams",
    "create",
    "register_optimizer",
    "registered_optimizers",
    *_optimizers.__all__,
    *transforms.__all__,
    *_wrappers.__all__,
    "schedules",
    "testing",
    "train",
    "transforms",
]

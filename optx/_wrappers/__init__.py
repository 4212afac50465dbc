"""Wrappers around transformations: masking, partitions, accumulation, NaN skipping, ..."""

from optx._wrappers._accumulate import (
    AccumulateGradientsState,
    ApplyEveryState,
    MultiSteps,
    accumulate_gradients,
    apply_every,
    has_updated,
)
from optx._wrappers._averaging import (
    EmaParamsState,
    averaged_params,
    ema_params,
    polyak_params,
)
from optx._wrappers._cautious import CautiousState, cautious
from optx._wrappers._conditional import ConditionallyTransformState, conditionally_transform
from optx._wrappers._finite import (
    ApplyIfFiniteState,
    DynamicLossScale,
    ZeroNansState,
    all_finite,
    apply_if_finite,
    dynamic_loss_scale,
    zero_nans,
)
from optx._wrappers._flatten import FlattenState, flatten
from optx._wrappers._groups import (
    NO_DECAY_RULES,
    ParamGroupsState,
    param_groups,
)
from optx._wrappers._lookahead import (
    LookaheadState,
    lookahead,
    ranger,
)
from optx._wrappers._masking import (
    MaskedNode,
    MaskedState,
    PartitionState,
    PathRules,
    freeze,
    masked,
    partition,
    path_rules,
)
from optx._wrappers._nonnegative import keep_params_nonnegative
from optx._wrappers._precision import (
    MasterWeightsState,
    master_params,
    with_master_weights,
)
from optx._wrappers._sam import SAMState, normalize_by_global_norm, sam
from optx._wrappers._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_eval_params,
)
from optx.transforms._asgd import asgd_average  # a state accessor, like averaged_params

__all__ = [
    # _accumulate
    "AccumulateGradientsState",
    "ApplyEveryState",
    "MultiSteps",
    "accumulate_gradients",
    "apply_every",
    "has_updated",
    # _averaging
    "EmaParamsState",
    "averaged_params",
    "ema_params",
    "polyak_params",
    # _conditional
    "ConditionallyTransformState",
    "conditionally_transform",
    # _finite
    "ApplyIfFiniteState",
    "DynamicLossScale",
    "ZeroNansState",
    "all_finite",
    "apply_if_finite",
    "dynamic_loss_scale",
    "zero_nans",
    # _flatten
    "FlattenState",
    "flatten",
    # _groups
    "NO_DECAY_RULES",
    "ParamGroupsState",
    "param_groups",
    # _lookahead
    "LookaheadState",
    "lookahead",
    "ranger",
    # _masking
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    "PathRules",
    "freeze",
    "masked",
    "partition",
    "path_rules",
    # _nonnegative
    "keep_params_nonnegative",
    # _precision
    "MasterWeightsState",
    "master_params",
    "with_master_weights",
    "CautiousState",
    "cautious",
    "asgd_average",
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_eval_params",
    "SAMState",
    "normalize_by_global_norm",
    "sam",
]

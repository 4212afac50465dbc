"""Building blocks: gradient transformations that optimizers chain together."""

from optx.transforms._adaptive import (
    ScaleByAdamState as ScaleByAdamState,
    ScaleByRmsState as ScaleByRmsState,
    ScaleByRssState as ScaleByRssState,
    ScaleByStddevState as ScaleByStddevState,
    scale_by_adam as scale_by_adam,
    scale_by_rms as scale_by_rms,
    scale_by_rss as scale_by_rss,
    scale_by_stddev as scale_by_stddev,
)
from optx.transforms._clipping import (
    ClipByGlobalNormState as ClipByGlobalNormState,
    ClipState as ClipState,
    clip as clip,
    clip_by_global_norm as clip_by_global_norm,
)
from optx.transforms._decay import (
    AddDecayedWeightsState as AddDecayedWeightsState,
    add_decayed_weights as add_decayed_weights,
)
from optx.transforms._momentum import (
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from optx.transforms._scale import (
    ScaleByLearningRateState as ScaleByLearningRateState,
    ScaleByScheduleState as ScaleByScheduleState,
    ScaleState as ScaleState,
    scale as scale,
    scale_by_learning_rate as scale_by_learning_rate,
    scale_by_schedule as scale_by_schedule,
    scale_by_sign as scale_by_sign,
)

__all__ = [
    # _adaptive
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByStddevState",
    "scale_by_adam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
    # _clipping
    "ClipByGlobalNormState",
    "ClipState",
    "clip",
    "clip_by_global_norm",
    # _decay
    "AddDecayedWeightsState",
    "add_decayed_weights",
    # _momentum
    "EmaState",
    "TraceState",
    "ema",
    "trace",
    # _scale
    "ScaleByLearningRateState",
    "ScaleByScheduleState",
    "ScaleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "scale_by_sign",
]

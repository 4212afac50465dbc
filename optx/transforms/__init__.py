"""Building blocks: gradient transformations that optimizers chain together."""

from optx.transforms._adadelta import (
    ScaleByAdadeltaState as ScaleByAdadeltaState,
    scale_by_adadelta as scale_by_adadelta,
)
from optx.transforms._adam_second_moment import (
    ScaleByBeliefState as ScaleByBeliefState,
    ScaleByQhadamState as ScaleByQhadamState,
    ScaleByYogiState as ScaleByYogiState,
    scale_by_belief as scale_by_belief,
    scale_by_qhadam as scale_by_qhadam,
    scale_by_yogi as scale_by_yogi,
)
from optx.transforms._adam_variants import (
    ScaleByAdamaxState as ScaleByAdamaxState,
    ScaleByAmsgradState as ScaleByAmsgradState,
    ScaleByNadamState as ScaleByNadamState,
    scale_by_adamax as scale_by_adamax,
    scale_by_amsgrad as scale_by_amsgrad,
    scale_by_nadam as scale_by_nadam,
)
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
from optx.transforms._centralize import centralize as centralize
from optx.transforms._clipping import (
    ClipByGlobalNormState as ClipByGlobalNormState,
    ClipState as ClipState,
    clip as clip,
    clip_by_global_norm as clip_by_global_norm,
)
from optx.transforms._clipping_extra import (
    AdaptiveGradClipState as AdaptiveGradClipState,
    ClipByBlockRmsState as ClipByBlockRmsState,
    adaptive_grad_clip as adaptive_grad_clip,
    clip_by_block_rms as clip_by_block_rms,
)
from optx.transforms._decay import (
    AddDecayedWeightsState as AddDecayedWeightsState,
    add_decayed_weights as add_decayed_weights,
)
from optx.transforms._factored import (
    ScaleByFactoredRmsState as ScaleByFactoredRmsState,
    scale_by_factored_rms as scale_by_factored_rms,
)
from optx.transforms._ftml import (
    ScaleByFtmlState as ScaleByFtmlState,
    scale_by_ftml as scale_by_ftml,
)
from optx.transforms._lbfgs import (
    ScaleByLbfgsState as ScaleByLbfgsState,
    scale_by_lbfgs as scale_by_lbfgs,
)
from optx.transforms._lbsgd import (
    ScaleByLbsgdState as ScaleByLbsgdState,
    scale_by_lbsgd as scale_by_lbsgd,
)
from optx.transforms._linesearch import (
    ScaleByZoomLinesearchState as ScaleByZoomLinesearchState,
    ZoomLinesearchInfo as ZoomLinesearchInfo,
    scale_by_zoom_linesearch as scale_by_zoom_linesearch,
)
from optx.transforms._momentum import (
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from optx.transforms._noise import (
    AddNoiseState as AddNoiseState,
    ScaleBySgldState as ScaleBySgldState,
    add_noise as add_noise,
    scale_by_sgld as scale_by_sgld,
)
from optx.transforms._novograd import (
    ScaleByNovogradState as ScaleByNovogradState,
    scale_by_novograd as scale_by_novograd,
)
from optx.transforms._online import (
    ScaleByDcasgdState as ScaleByDcasgdState,
    ScaleByFtrlState as ScaleByFtrlState,
    scale_by_dcasgd as scale_by_dcasgd,
    scale_by_ftrl as scale_by_ftrl,
)
from optx.transforms._plateau import (
    ReduceOnPlateauState as ReduceOnPlateauState,
    reduce_on_plateau as reduce_on_plateau,
)
from optx.transforms._radam import (
    ScaleByRadamState as ScaleByRadamState,
    scale_by_radam as scale_by_radam,
)
from optx.transforms._rprop import (
    ScaleByRpropState as ScaleByRpropState,
    scale_by_rprop as scale_by_rprop,
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
from optx.transforms._sign import (
    ScaleByLionState as ScaleByLionState,
    ScaleBySignumState as ScaleBySignumState,
    scale_by_lion as scale_by_lion,
    scale_by_signum as scale_by_signum,
)
from optx.transforms._sm3 import (
    ScaleBySm3State as ScaleBySm3State,
    scale_by_sm3 as scale_by_sm3,
)
from optx.transforms._sophia import (
    HutchinsonState as HutchinsonState,
    ScaleBySophiaState as ScaleBySophiaState,
    hutchinson_estimator_diag_hessian as hutchinson_estimator_diag_hessian,
    scale_by_sophia as scale_by_sophia,
)
from optx.transforms._trust import (
    ScaleByTrustRatioState as ScaleByTrustRatioState,
    scale_by_trust_ratio as scale_by_trust_ratio,
)

__all__ = [
    # _adadelta
    "ScaleByAdadeltaState",
    "scale_by_adadelta",
    # _adam_second_moment
    "ScaleByBeliefState",
    "ScaleByQhadamState",
    "ScaleByYogiState",
    "scale_by_belief",
    "scale_by_qhadam",
    "scale_by_yogi",
    # _adam_variants
    "ScaleByAdamaxState",
    "ScaleByAmsgradState",
    "ScaleByNadamState",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_nadam",
    # _adaptive
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByStddevState",
    "scale_by_adam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
    # _centralize
    "centralize",
    # _clipping
    "ClipByGlobalNormState",
    "ClipState",
    "clip",
    "clip_by_global_norm",
    # _clipping_extra
    "AdaptiveGradClipState",
    "ClipByBlockRmsState",
    "adaptive_grad_clip",
    "clip_by_block_rms",
    # _decay
    "AddDecayedWeightsState",
    "add_decayed_weights",
    # _factored
    "ScaleByFactoredRmsState",
    "scale_by_factored_rms",
    # _ftml
    "ScaleByFtmlState",
    "scale_by_ftml",
    # _lbsgd
    "ScaleByLbsgdState",
    "scale_by_lbsgd",
    # _momentum
    "EmaState",
    "TraceState",
    "ema",
    "trace",
    # _noise
    "AddNoiseState",
    "ScaleBySgldState",
    "add_noise",
    "scale_by_sgld",
    # _novograd
    "ScaleByNovogradState",
    "scale_by_novograd",
    # _online
    "ScaleByDcasgdState",
    "ScaleByFtrlState",
    "scale_by_dcasgd",
    "scale_by_ftrl",
    # _plateau
    "ReduceOnPlateauState",
    "reduce_on_plateau",
    # _radam
    "ScaleByRadamState",
    "scale_by_radam",
    # _rprop
    "ScaleByRpropState",
    "scale_by_rprop",
    # _scale
    "ScaleByLearningRateState",
    "ScaleByScheduleState",
    "ScaleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "scale_by_sign",
    # _sign
    "ScaleByLionState",
    "ScaleBySignumState",
    "scale_by_lion",
    "scale_by_signum",
    # _sm3
    "ScaleBySm3State",
    "scale_by_sm3",
    # _lbfgs, _linesearch
    "ScaleByLbfgsState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_lbfgs",
    "scale_by_zoom_linesearch",
    # _sophia
    "HutchinsonState",
    "ScaleBySophiaState",
    "hutchinson_estimator_diag_hessian",
    "scale_by_sophia",
    # _trust
    "ScaleByTrustRatioState",
    "scale_by_trust_ratio",
]

"""Building blocks: gradient transformations that optimizers chain together."""

from optx.transforms._adabelief import (
    ScaleByBeliefState as ScaleByBeliefState,
    scale_by_belief as scale_by_belief,
)
from optx.transforms._adadelta import (
    ScaleByAdadeltaState as ScaleByAdadeltaState,
    scale_by_adadelta as scale_by_adadelta,
)
from optx.transforms._adafactor import (
    ScaleByFactoredRmsState as ScaleByFactoredRmsState,
    scale_by_factored_rms as scale_by_factored_rms,
)
from optx.transforms._adagrad import (
    ScaleByRssState as ScaleByRssState,
    scale_by_rss as scale_by_rss,
)
from optx.transforms._adam import (
    ScaleByAdamState as ScaleByAdamState,
    scale_by_adam as scale_by_adam,
)
from optx.transforms._adamax import (
    ScaleByAdamaxState as ScaleByAdamaxState,
    scale_by_adamax as scale_by_adamax,
)
from optx.transforms._adan import (
    ScaleByAdanState as ScaleByAdanState,
    scale_by_adan as scale_by_adan,
)
from optx.transforms._ademamix import (
    ScaleByAdemamixState as ScaleByAdemamixState,
    ScaleBySimplifiedAdemamixState as ScaleBySimplifiedAdemamixState,
    scale_by_ademamix as scale_by_ademamix,
    scale_by_simplified_ademamix as scale_by_simplified_ademamix,
)
from optx.transforms._adopt import (
    ScaleByAdoptState as ScaleByAdoptState,
    scale_by_adopt as scale_by_adopt,
)
from optx.transforms._amsgrad import (
    ScaleByAmsgradState as ScaleByAmsgradState,
    scale_by_amsgrad as scale_by_amsgrad,
)
from optx.transforms._asgd import (
    ScaleByAsgdState as ScaleByAsgdState,
    scale_by_asgd as scale_by_asgd,
)
from optx.transforms._centralize import centralize as centralize
from optx.transforms._clipping import (
    AdaptiveGradClipState as AdaptiveGradClipState,
    ClipByBlockRmsState as ClipByBlockRmsState,
    ClipByGlobalNormState as ClipByGlobalNormState,
    ClipState as ClipState,
    adaptive_grad_clip as adaptive_grad_clip,
    clip as clip,
    clip_by_block_rms as clip_by_block_rms,
    clip_by_global_norm as clip_by_global_norm,
)
from optx.transforms._dadapt import (
    ScaleByDAdaptAdamWState as ScaleByDAdaptAdamWState,
    scale_by_dadapt_adamw as scale_by_dadapt_adamw,
)
from optx.transforms._decay import (
    AddDecayedWeightsState as AddDecayedWeightsState,
    add_decayed_weights as add_decayed_weights,
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
from optx.transforms._mars import (
    ScaleByMarsState as ScaleByMarsState,
    scale_by_mars as scale_by_mars,
)
from optx.transforms._momentum import (
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from optx.transforms._muon import (
    MuonDimensionNumbers as MuonDimensionNumbers,
    ScaleByMuonState as ScaleByMuonState,
    ScaleByShapeState as ScaleByShapeState,
    scale_by_muon as scale_by_muon,
    scale_by_shape as scale_by_shape,
)
from optx.transforms._nadam import (
    ScaleByNadamState as ScaleByNadamState,
    scale_by_nadam as scale_by_nadam,
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
from optx.transforms._prodigy import (
    ScaleByProdigyState as ScaleByProdigyState,
    scale_by_prodigy as scale_by_prodigy,
)
from optx.transforms._qhadam import (
    ScaleByQhadamState as ScaleByQhadamState,
    scale_by_qhadam as scale_by_qhadam,
)
from optx.transforms._radam import (
    ScaleByRadamState as ScaleByRadamState,
    scale_by_radam as scale_by_radam,
)
from optx.transforms._rms import (
    ScaleByRmsState as ScaleByRmsState,
    ScaleByStddevState as ScaleByStddevState,
    scale_by_rms as scale_by_rms,
    scale_by_stddev as scale_by_stddev,
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
)
from optx.transforms._shampoo import (
    ScaleByShampooState as ScaleByShampooState,
    ShampooLeafState as ShampooLeafState,
    scale_by_shampoo as scale_by_shampoo,
)
from optx.transforms._sign import (
    ScaleByLionState as ScaleByLionState,
    ScaleBySignumState as ScaleBySignumState,
    scale_by_lion as scale_by_lion,
    scale_by_sign as scale_by_sign,
    scale_by_signum as scale_by_signum,
)
from optx.transforms._sm3 import (
    ScaleBySm3State as ScaleBySm3State,
    scale_by_sm3 as scale_by_sm3,
)
from optx.transforms._soap import (
    ScaleBySoapState as ScaleBySoapState,
    SoapLeafState as SoapLeafState,
    scale_by_soap as scale_by_soap,
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
from optx.transforms._yogi import (
    ScaleByYogiState as ScaleByYogiState,
    scale_by_yogi as scale_by_yogi,
)

__all__ = [
    # _adadelta
    "ScaleByAdadeltaState",
    "scale_by_adadelta",
    # _adabelief
    "ScaleByBeliefState",
    "scale_by_belief",
    # _adafactor
    "ScaleByFactoredRmsState",
    "scale_by_factored_rms",
    # _adagrad
    "ScaleByRssState",
    "scale_by_rss",
    # _adam
    "ScaleByAdamState",
    "scale_by_adam",
    # _adamax
    "ScaleByAdamaxState",
    "scale_by_adamax",
    # _amsgrad
    "ScaleByAmsgradState",
    "scale_by_amsgrad",
    # _centralize
    "centralize",
    # _clipping
    "AdaptiveGradClipState",
    "ClipByBlockRmsState",
    "ClipByGlobalNormState",
    "ClipState",
    "adaptive_grad_clip",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    # _decay
    "AddDecayedWeightsState",
    "add_decayed_weights",
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
    # _nadam
    "ScaleByNadamState",
    "scale_by_nadam",
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
    # _qhadam
    "ScaleByQhadamState",
    "scale_by_qhadam",
    # _radam
    "ScaleByRadamState",
    "scale_by_radam",
    # _rms
    "ScaleByRmsState",
    "ScaleByStddevState",
    "scale_by_rms",
    "scale_by_stddev",
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
    # _sign
    "ScaleByLionState",
    "ScaleBySignumState",
    "scale_by_lion",
    "scale_by_sign",
    "scale_by_signum",
    # _sm3
    "ScaleBySm3State",
    "scale_by_sm3",
    # _trust
    "ScaleByTrustRatioState",
    "scale_by_trust_ratio",
    # _yogi
    "ScaleByYogiState",
    "scale_by_yogi",
    "MuonDimensionNumbers",
    "ScaleByMuonState",
    "ScaleByShapeState",
    "scale_by_muon",
    "scale_by_shape",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdemamixState",
    "scale_by_ademamix",
    "scale_by_simplified_ademamix",
    "ScaleByAdanState",
    "scale_by_adan",
    "ScaleByMarsState",
    "scale_by_mars",
    "ScaleByAdoptState",
    "scale_by_adopt",
    "ScaleByAsgdState",
    "scale_by_asgd",
    "ScaleByDAdaptAdamWState",
    "scale_by_dadapt_adamw",
    "ScaleByProdigyState",
    "scale_by_prodigy",
    "ScaleByShampooState",
    "ShampooLeafState",
    "scale_by_shampoo",
    "ScaleBySoapState",
    "SoapLeafState",
    "scale_by_soap",
    "ScaleByLbfgsState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_lbfgs",
    "scale_by_zoom_linesearch",
    "HutchinsonState",
    "ScaleBySophiaState",
    "hutchinson_estimator_diag_hessian",
    "scale_by_sophia",
]

"""optx.train: a pure jitted train step, parallel drivers, a callback loop and checkpoints."""

from optx.train import distributed as distributed
from optx.train._callbacks import (
    ParamScheduler as ParamScheduler,
    ProgressBar as ProgressBar,
    Recorder as Recorder,
    TerminateOnNaN as TerminateOnNaN,
)
from optx.train._checkpoint import (
    PendingSave as PendingSave,
    read_metadata as read_metadata,
    restore as restore,
    save as save,
    wait_until_finished as wait_until_finished,
)
from optx.train._ckpt_manager import CheckpointManager as CheckpointManager
from optx.train._ckpt_tree import CheckpointError as CheckpointError
from optx.train._events import (
    EVENTS as EVENTS,
    Callback as Callback,
    CancelBatchException as CancelBatchException,
    CancelEpochException as CancelEpochException,
    CancelFitException as CancelFitException,
    CancelStepException as CancelStepException,
    CancelTrainException as CancelTrainException,
    CancelValidException as CancelValidException,
    sort_callbacks as sort_callbacks,
)
from optx.train._gluon import Trainer as Trainer
from optx.train._loop import Loop as Loop, fit as fit
from optx.train._lr_find import (
    LRFinderResult as LRFinderResult,
    combined_cos as combined_cos,
    fit_one_cycle as fit_one_cycle,
    lr_find as lr_find,
)
from optx.train._monitors import (
    Checkpoint as Checkpoint,
    EarlyStopping as EarlyStopping,
    ReduceLROnPlateau as ReduceLROnPlateau,
)
from optx.train._parallel import (
    DataParallel as DataParallel,
    data_parallel as data_parallel,
)
from optx.train._state import TrainState as TrainState
from optx.train._step import make_train_step as make_train_step
from optx.train._sweep import (
    ensemble_states as ensemble_states,
    make_sweep_step as make_sweep_step,
    stack_states as stack_states,
    sweep_states as sweep_states,
    unstack_states as unstack_states,
)
from optx.train._zero import zero_shardings as zero_shardings

__all__ = [
    "TrainState",
    # pure step, sweeps, data parallel, ZeRO-1, many hosts
    "DataParallel",
    "data_parallel",
    "distributed",
    "ensemble_states",
    "make_sweep_step",
    "make_train_step",
    "stack_states",
    "sweep_states",
    "unstack_states",
    "zero_shardings",
    # host loop, callbacks, lr_find, checkpoints, Gluon-style Trainer
    "EVENTS",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "Checkpoint",
    "CheckpointError",
    "CheckpointManager",
    "EarlyStopping",
    "LRFinderResult",
    "Loop",
    "ParamScheduler",
    "PendingSave",
    "ProgressBar",
    "Recorder",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "Trainer",
    "combined_cos",
    "fit",
    "fit_one_cycle",
    "lr_find",
    "read_metadata",
    "restore",
    "save",
    "sort_callbacks",
    "wait_until_finished",
]

"""Schedules: pure functions of the 0-based update count, usable for any hyperparameter.

A schedule maps the number of updates already applied (``count``, 0 for the first update)
to a scalar. Every schedule is jit-safe with a traced count and with traced values (sweep a
peak under ``jax.vmap``). Pass one wherever a number is accepted:
``optx.adam(learning_rate=warmup_cosine_decay_schedule(...), b1=onecycle(...).momentum)``.

- Optax-compatible shapes: `constant_schedule`, `linear_schedule`, `polynomial_schedule`,
  `exponential_decay_schedule`, `piecewise_constant_schedule`,
  `piecewise_interpolate_schedule`, `cosine_decay_schedule`, `warmup_cosine_decay_schedule`,
  `warmup_exponential_decay_schedule`, `join_schedules`, `sgdr_schedule`,
  `linear_onecycle_schedule`, `cosine_onecycle_schedule`; Optax's names
  `exponential_decay` and `warmup_constant_schedule` too.
- More shapes: `cyclic_schedule` (Smith's triangular, triangular2, exp_range),
  `inverse_sqrt_schedule` (Transformer warmup), `warmup` around any schedule.
- MXNet-exact (1-based ``num_update = count + 1``): `factor_schedule`,
  `multi_factor_schedule`, `poly_schedule`, `cosine_schedule`.
- fastai-exact (functions of the fraction of training): `onecycle` (learning rate and
  momentum), `flat_cos`, `combine_schedules` with the curves `sched_lin`, `sched_cos`,
  `sched_exp`, `sched_no`, `sched_poly`.
- `plot` draws any of them (needs matplotlib).
"""

from optx.schedules._basic import (
    constant_schedule as constant_schedule,
    exponential_decay as exponential_decay,
    exponential_decay_schedule as exponential_decay_schedule,
    inverse_sqrt_schedule as inverse_sqrt_schedule,
    linear_schedule as linear_schedule,
    piecewise_constant_schedule as piecewise_constant_schedule,
    piecewise_interpolate_schedule as piecewise_interpolate_schedule,
    polynomial_schedule as polynomial_schedule,
    warmup_constant_schedule as warmup_constant_schedule,
)
from optx.schedules._cosine import (
    cosine_decay_schedule as cosine_decay_schedule,
    warmup_cosine_decay_schedule as warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)
from optx.schedules._cyclic import (
    cosine_onecycle_schedule as cosine_onecycle_schedule,
    cyclic_schedule as cyclic_schedule,
    linear_onecycle_schedule as linear_onecycle_schedule,
    sgdr_schedule as sgdr_schedule,
)
from optx.schedules._fastai import (
    OneCycle as OneCycle,
    combine_schedules as combine_schedules,
    flat_cos as flat_cos,
    onecycle as onecycle,
    sched_cos as sched_cos,
    sched_exp as sched_exp,
    sched_lin as sched_lin,
    sched_no as sched_no,
    sched_poly as sched_poly,
)
from optx.schedules._join import join_schedules as join_schedules, warmup as warmup
from optx.schedules._mxnet import (
    cosine_schedule as cosine_schedule,
    factor_schedule as factor_schedule,
    multi_factor_schedule as multi_factor_schedule,
    poly_schedule as poly_schedule,
)
from optx.schedules._plot import plot as plot

__all__ = [
    # _basic
    "constant_schedule",
    "exponential_decay",
    "exponential_decay_schedule",
    "inverse_sqrt_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "warmup_constant_schedule",
    # _cosine
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    # _cyclic
    "cosine_onecycle_schedule",
    "cyclic_schedule",
    "linear_onecycle_schedule",
    "sgdr_schedule",
    # _fastai
    "OneCycle",
    "combine_schedules",
    "flat_cos",
    "onecycle",
    "sched_cos",
    "sched_exp",
    "sched_lin",
    "sched_no",
    "sched_poly",
    # _join
    "join_schedules",
    "warmup",
    # _mxnet
    "cosine_schedule",
    "factor_schedule",
    "multi_factor_schedule",
    "poly_schedule",
    # _plot
    "plot",
]

"""NAdam and NAdamW."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_nadam,
)

Mask = Any | Callable[[Any], Any] | None


def _nadam_direction(call, b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay):
    if nesterov:
        return scale_by_nadam(b1, b2, eps, eps_root, schedule_decay, mu_dtype, nu_dtype=nu_dtype)
    if not (isinstance(schedule_decay, (int, float)) and schedule_decay == 0):
        raise ValueError(
            f"{call}(nesterov=False, schedule_decay={schedule_decay!r}): Dozat's momentum "
            "schedule needs the Nesterov first moment. Pass nesterov=True, or "
            "schedule_decay=0.0 for plain Adam."
        )
    return scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype)


@_validate.public_call("optx.nadam")
def nadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    schedule_decay: ScalarOrSchedule = 0.0,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam: Adam with a Nesterov first moment, optionally with Dozat's momentum schedule.

    Update rule: ``w = w - learning_rate * nadam_direction``, see `scale_by_nadam`.
    With the defaults this is Optax's `nadam` (``adam(nesterov=True)``, no momentum
    schedule), with the same positional arguments. ``schedule_decay=0.004`` (keyword-only)
    gives Dozat's schedule as in MXNet, Keras and PyTorch's NAdam (PyTorch's
    ``momentum_decay``; its learning rate is 2e-3). The schedule's product is kept in this
    optimizer's own state, not shared across parameters as in MXNet.
    ``nesterov=False`` is plain Adam (Optax's switch).

    torch.optim.NAdam(lr, betas=(b1, b2), eps, momentum_decay): use ``nadam(lr, b1, b2, eps,
    schedule_decay=momentum_decay)``: PyTorch's ``momentum_decay`` (psi, default 4e-3) is
    this ``schedule_decay``, the same rule; its weight_decay: chain `add_decayed_weights`
    first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype: as `scale_by_nadam`.
      nesterov: keyword-only; False gives plain Adam (then ``schedule_decay`` must be 0).
      schedule_decay: keyword-only, >= 0: Dozat's momentum schedule (0: none, Optax).
      nu_dtype: keyword-only; as `scale_by_nadam`.

    Raises:
      ValueError: ``nesterov=False`` with a nonzero ``schedule_decay``; invalid betas/eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.nadam(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.85263...], dtype=float32)

    References:
      Dozat, 2016, Incorporating Nesterov Momentum into Adam,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    return chain(
        _nadam_direction(
            "optx.nadam", b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay
        ),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.nadamw")
def nadamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = True,
    schedule_decay: ScalarOrSchedule = 0.0,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam with decoupled weight decay (multiplied by the learning rate, as Optax).

    Update rule: ``w = w - learning_rate * (nadam_direction + weight_decay * w)``, the
    direction as in `scale_by_nadam`.

    ``chain(scale_by_nadam, add_decayed_weights(weight_decay, mask), scale_by_learning_rate)``;
    with the defaults it equals Optax's `nadamw` (same positional arguments). PyTorch's
    ``NAdam(decoupled_weight_decay=True)`` is the same with ``schedule_decay=0.004``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype: as `nadam`.
      weight_decay: >= 0.
      mask: which leaves to decay.
      nesterov, schedule_decay, nu_dtype: keyword-only; as `nadam`.

    Raises:
      ValueError: ``nesterov=False`` with a nonzero ``schedule_decay``; invalid betas/eps.

    References:
      Dozat, 2016, Incorporating Nesterov Momentum into Adam,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    return chain(
        _nadam_direction(
            "optx.nadamw", b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

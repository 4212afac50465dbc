"""Sign-based optimizers: Lion, Signum and signSGD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    add_decayed_weights,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_sign,
    scale_by_signum,
)


@_validate.public_call("optx.lion")
def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """Lion (Chen et al., 2023): the sign of an interpolated momentum, decoupled decay.

    Update rule::

        u = sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        w = w - learning_rate * (u + weight_decay * w)

    ``chain(scale_by_lion(b1, b2, mu_dtype), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``, the same as Optax's ``lion`` (and its
    defaults apart from the learning rate, which Optax requires: 1e-4 here, as the paper
    advises 3 to 10 times below AdamW's).

    Args:
      learning_rate: >= 0.
      b1: in [0, 1).
      b2: in (0, 1).
      mu_dtype: dtype of the momentum.
      weight_decay: >= 0, decoupled (multiplied by the learning rate).
      mask: which leaves to decay (bool pytree or ``params -> pytree``).

    References:
      Chen et al., 2023, Symbolic Discovery of Optimization Algorithms,
      https://arxiv.org/abs/2302.06675
    """
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.signum")
def signum(
    learning_rate: ScalarOrSchedule = 0.01,
    beta: ScalarOrSchedule = 0.9,
    accumulator_dtype: Any = None,
    *,
    weight_decay: ScalarOrSchedule | None = None,
    wd_lh: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """Signum (Bernstein et al., 2018) with MXNet's coupled ``wd`` and decoupled ``wd_lh``.

    Update rule (MXNet 1.9's kernel)::

        m = beta * m + (1 - beta) * (g + weight_decay * w)
        w = (1 - learning_rate * wd_lh) * w - learning_rate * sign(m)

    ``chain(add_decayed_weights(weight_decay), scale_by_signum(beta, wd_lh),
    scale_by_learning_rate(learning_rate))`` (each decay only when given). Without decays
    this is Optax's ``signum``, with the same positional arguments. MXNet's defaults
    (lr 0.01, momentum 0.9; MXNet's ``momentum`` is ``beta`` here). With ``beta=0`` MXNet
    switches to signSGD, whose ``wd`` is decoupled: use `sign_sgd` for that.

    Args:
      learning_rate: >= 0.
      beta: in [0, 1), the decay of the gradient average (MXNet's ``momentum``).
      accumulator_dtype: dtype of the average (default float32).
      weight_decay: keyword-only, >= 0 or None: L2 added to the gradient before the average.
      wd_lh: keyword-only, >= 0 or None: decoupled decay outside the sign.

    References:
      Bernstein et al., 2018, signSGD: Compressed Optimisation for Non-Convex Problems,
      https://arxiv.org/abs/1802.04434
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    with shown_as({"momentum": "beta"}):  # named as the user wrote it
        scaling = scale_by_signum(beta, wd_lh, accumulator_dtype=accumulator_dtype)
    return chain(
        *decay,
        rename_hyperparams(scaling, {"momentum": "beta"}),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.sign_sgd")
def sign_sgd(
    learning_rate: ScalarOrSchedule = 0.01,
    weight_decay: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """signSGD (Bernstein et al., 2018): step along the gradient's sign.

    Update rule (MXNet's ``signsgd`` kernel)::

        w = (1 - learning_rate * weight_decay) * w - learning_rate * sign(g)

    ``chain(scale_by_sign(), add_decayed_weights(weight_decay),
    scale_by_learning_rate(learning_rate))``: the decay is decoupled, outside the sign, as
    MXNet's kernel does (MXNet's ``signsgd`` also ignores ``rescale_grad`` and
    ``clip_gradient``). Without decay it is Optax's ``sign_sgd``.

    Args:
      learning_rate: >= 0.
      weight_decay: >= 0 or None (None: params are not needed).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.sign_sgd(0.1)
      >>> tx.update(jnp.array([-3.0, 0.5]), tx.init(jnp.zeros(2)))[0]
      Array([ 0.1, -0.1], dtype=float32)

    References:
      Bernstein et al., 2018, signSGD: Compressed Optimisation for Non-Convex Problems,
      https://arxiv.org/abs/1802.04434
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    return chain(scale_by_sign(), *decay, scale_by_learning_rate(learning_rate))

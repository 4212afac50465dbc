"""Layer-wise trust-ratio optimizers: LAMB, LARS (and fastai's LARC), Fromage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams import shown_as
from optx._hyperparams_access import rename_hyperparams
from optx._wrappers import masked
from optx.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_trust_ratio,
    trace,
)
from optx.transforms._trust import fromage_rescale


@_validate.public_call("optx.lamb")
def lamb(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    lower_bound: ScalarOrSchedule | None = None,
    upper_bound: ScalarOrSchedule | None = None,
    max_ratio: ScalarOrSchedule | None = None,
    bias_correction: bool = True,
) -> GradientTransformation:
    """LAMB (You et al., 2020): Adam's direction plus decay, scaled per layer by a trust ratio.

    Update rule (per leaf; ``m_hat``, ``v_hat`` bias-corrected unless
    ``bias_correction=False``)::

        d = m_hat / (sqrt(v_hat + eps_root) + eps) + weight_decay * w
        r = clip(||w||, lower_bound, upper_bound) / ||d||   (1 if either norm is 0)
        w = w - learning_rate * min(r, max_ratio) * d

    ``chain(scale_by_adam, add_decayed_weights(weight_decay, mask),
    scale_by_trust_ratio(lower_bound=, upper_bound=, max_ratio=), scale_by_learning_rate)``.
    Defaults equal Optax's ``lamb`` and MXNet's ``LAMB`` (eps 1e-6); the bounds and
    ``bias_correction`` are MXNet's; ``max_ratio=10`` is fastai's cap (fastai's ``Lamb``
    also uses b2=0.99, eps=1e-5).

    Args:
      learning_rate: >= 0.
      b1, b2: in [0, 1).
      eps, eps_root: >= 0.
      weight_decay: >= 0, added to the direction before the trust ratio.
      mask: which leaves to decay.
      lower_bound, upper_bound: > 0 or None: bounds on ``||w||`` (MXNet).
      max_ratio: > 0 or None: cap on the trust ratio (fastai uses 10).
      bias_correction: keyword-only; False uses the raw moments (MXNet's switch).

    References:
      You et al., 2020, Large Batch Optimization for Deep Learning: Training BERT in 76
      minutes, https://arxiv.org/abs/1904.00962
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, bias_correction=bias_correction),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(lower_bound=lower_bound, upper_bound=upper_bound, max_ratio=max_ratio),
        scale_by_learning_rate(learning_rate),
    )


def _all_leaves(mask: Any) -> bool:
    return mask is True or mask is None


@_validate.public_call("optx.lars")
def lars(
    learning_rate: ScalarOrSchedule = 0.1,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any | Callable[[Any], Any] = True,
    trust_coefficient: ScalarOrSchedule = 0.001,
    eps: ScalarOrSchedule = 0.0,
    trust_ratio_mask: Any | Callable[[Any], Any] = True,
    momentum: ScalarOrSchedule = 0.9,
    nesterov: bool = False,
    *,
    clip: bool = False,
    paper_ratio: bool = False,
) -> GradientTransformation:
    """LARS (You et al., 2017): momentum SGD with a layer-wise trust ratio.

    Update rule, per leaf (``eta`` is ``trust_coefficient``)::

        d = g + weight_decay * w                              (where weight_decay_mask)
        r = eta * ||w|| / (||d|| + eps)                       (where trust_ratio_mask, else 1;
                                                               1 if a norm is 0)
        r = eta * ||w|| / (||g|| + weight_decay * ||w|| + eps)   (paper_ratio=True)
        r = min(r, 1)                                         (clip=True: fastai's LARC)
        m = momentum * m - learning_rate * r * d
        w = w + m

    ``chain(add_decayed_weights(weight_decay, weight_decay_mask),
    masked(scale_by_trust_ratio(trust_coefficient=, eps=), trust_ratio_mask),
    scale_by_learning_rate, trace(momentum, nesterov))``: Optax's ``lars``, with the same
    positional arguments. The learning rate is inside the momentum (MXNet, Optax).
    ``paper_ratio=True`` divides by ``||g|| + wd * ||w||`` as the paper, MXNet's LARS and
    fastai's LARC do (Optax's ``||g + wd * w||`` agrees only at ``wd = 0``); it needs one
    mask for both (MXNet skips names ending in bias/gamma/beta). Not implemented: MXNet's
    ``momentum_correction``. fastai's LARC averages raw gradients and multiplies by the
    current ratio, so it matches only while the ratio is constant.

    Args:
      learning_rate: >= 0.
      weight_decay: >= 0.
      weight_decay_mask: leaves that get decay (True: all), a function ``params -> mask``.
      trust_coefficient: > 0 (MXNet's eta; fastai's ``trust_coeff`` is 0.02).
      eps: >= 0 (MXNet 1.x 0, 2.0 1e-8; fastai 1e-8).
      trust_ratio_mask: leaves that get the ratio (True: all); the others plain momentum SGD.
      momentum: in [0, 1).
      nesterov: Nesterov momentum.
      clip: keyword-only; cap the ratio at 1 (fastai's LARC ``clip=True``).
      paper_ratio: keyword-only; the paper's/MXNet's/fastai's denominator (see above).

    Raises:
      ValueError: ``paper_ratio=True`` with two different masks; invalid hyperparameters.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.lars(0.1, 1e-4)  # weight_decay=1e-4, as optax.lars(0.1, 1e-4)
      >>> w = jnp.array([3.0, 4.0])
      >>> optx.get_hyperparams(tx.init(w))["weight_decay"]
      Array(1.e-04, dtype=float32)

    References:
      You et al., 2017, Large Batch Training of Convolutional Networks,
      https://arxiv.org/abs/1708.03888
    """
    max_ratio = 1.0 if clip else None
    if paper_ratio:
        if weight_decay_mask is not trust_ratio_mask:
            raise ValueError(
                "optx.lars(paper_ratio=True): the paper's ratio applies decay and ratio to the "
                f"same leaves, got weight_decay_mask={weight_decay_mask!r} and "
                f"trust_ratio_mask={trust_ratio_mask!r}. Pass one mask object for both."
            )
        direction = scale_by_trust_ratio(
            trust_coefficient=trust_coefficient,
            eps=eps,
            weight_decay=weight_decay,
            max_ratio=max_ratio,
            mask=None if _all_leaves(weight_decay_mask) else weight_decay_mask,
        )
    else:
        ratio = scale_by_trust_ratio(
            trust_coefficient=trust_coefficient, eps=eps, max_ratio=max_ratio
        )
        if not _all_leaves(trust_ratio_mask):
            ratio = masked(ratio, trust_ratio_mask)
        direction = chain(
            add_decayed_weights(
                weight_decay, None if _all_leaves(weight_decay_mask) else weight_decay_mask
            ),
            ratio,
        )
    with shown_as({"decay": "momentum"}):
        momentum_tx = trace(momentum, nesterov=nesterov)
    return chain(
        direction,
        scale_by_learning_rate(learning_rate),
        rename_hyperparams(momentum_tx, {"decay": "momentum"}),
    )


@_validate.public_call("optx.fromage")
def fromage(
    learning_rate: ScalarOrSchedule = 0.01, min_norm: ScalarOrSchedule = 1e-6
) -> GradientTransformation:
    """Fromage (Bernstein et al., 2020): a trust-ratio step, then a shrink of the weights.

    Update rule, per leaf::

        w = (w - learning_rate * ||w|| / ||g|| * g) / sqrt(1 + learning_rate**2)

    with both norms clipped below at ``min_norm`` (a ratio of 1 if one is 0).
    ``chain(scale_by_trust_ratio(min_norm), <rescale>)``, where the rescale computes
    ``-lr * c * d + (c - 1) * w`` with the scalar ``c = 1/sqrt(1 + lr**2)``. Same as
    Optax's ``fromage``; the paper's default rate is 0.01.

    Args:
      learning_rate: >= 0; float, array or schedule.
      min_norm: >= 0.

    References:
      Bernstein et al., 2020, On the distance between two neural networks and the
      stability of learning, https://arxiv.org/abs/2002.03432
    """
    return chain(scale_by_trust_ratio(min_norm), fromage_rescale(learning_rate))

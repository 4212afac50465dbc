"""AdaBelief."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_belief,
    scale_by_learning_rate,
)


@_validate.public_call("optx.adabelief")
def adabelief(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al., 2020): Adam scaled by the belief in the gradient.

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(s_hat) + eps)`` with ``s`` the
    moving average of ``(g - m)**2 + eps_root``; see `scale_by_belief`. Optax's and the
    paper's defaults.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root: as `scale_by_belief`.

    References:
      Zhuang et al., 2020, AdaBelief Optimizer: Adapting Stepsizes by the Belief in
      Observed Gradients, https://arxiv.org/abs/2010.07468
    """
    return chain(scale_by_belief(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))

"""Yogi."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_yogi,
)


@_validate.public_call("optx.yogi")
def yogi(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
    eps_root: ScalarOrSchedule = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Yogi (Zaheer et al., 2018): Adam with an additive second-moment update.

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(v_hat) + eps)`` with
    ``v = v - (1 - b2) * sign(v - g**2) * g**2``; see `scale_by_yogi` (where the first
    moment starts differs from Optax by ``initial_accumulator_value``). Default learning
    rate 1e-2 and eps 1e-3 as in the paper.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, initial_accumulator_value: as `scale_by_yogi`.

    References:
      Zaheer et al., 2018, Adaptive Methods for Nonconvex Optimization,
      https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    return chain(
        scale_by_yogi(b1, b2, eps, eps_root, initial_accumulator_value),
        scale_by_learning_rate(learning_rate),
    )

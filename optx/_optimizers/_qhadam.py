"""QHAdam."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_qhadam,
)


@_validate.public_call("optx.qhadam")
def qhadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.999,
    b2: ScalarOrSchedule = 0.999,
    nu1: ScalarOrSchedule = 0.7,
    nu2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """QHAdam (Ma and Yarats, 2019), with fastai's defaults.

    Update rule::

        w = w - learning_rate * ((1 - nu1) g + nu1 m_hat) / (sqrt((1 - nu2) g**2 + nu2 v_hat) + eps)

    ``chain(scale_by_qhadam, scale_by_learning_rate)``; fastai's ``QHAdam(lr, mom, sqr_mom,
    nu_1, nu_2, eps)`` with ``wd=0``. Not in Optax.

    Args:
      learning_rate: >= 0.
      b1, b2, nu1, nu2, eps: as `scale_by_qhadam`.

    References:
      Ma and Yarats, 2019, Quasi-hyperbolic momentum and Adam for deep learning,
      https://arxiv.org/abs/1810.06801
    """
    return chain(scale_by_qhadam(b1, b2, nu1, nu2, eps), scale_by_learning_rate(learning_rate))

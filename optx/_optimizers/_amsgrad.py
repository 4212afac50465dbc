"""AMSGrad."""

from __future__ import annotations

from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_amsgrad,
    scale_by_learning_rate,
)


@_validate.public_call("optx.amsgrad")
def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
    max_of: str = "corrected",
) -> GradientTransformation:
    """AMSGrad: Adam with a non-decreasing second moment (Reddi et al., 2018).

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(v_max) + eps)``, with ``v_max`` the
    running maximum of the bias-corrected second moment (``max_of="corrected"``, Optax) or
    the maximum of the raw moment, corrected afterwards (``max_of="raw"``, PyTorch's
    ``Adam(amsgrad=True)``); see `scale_by_amsgrad`.

    torch.optim.Adam(amsgrad=True): use ``amsgrad(lr, b1, b2, eps, max_of="raw")``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype, nu_dtype, max_of: as `scale_by_amsgrad`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.amsgrad(0.1, max_of="raw")
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Reddi et al., 2018, On the Convergence of Adam and Beyond,
      https://openreview.net/forum?id=ryQu7f-RZ
    """
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, max_of=max_of),
        scale_by_learning_rate(learning_rate),
    )

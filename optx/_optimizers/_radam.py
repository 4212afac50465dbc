"""RAdam."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    scale_by_learning_rate,
    scale_by_radam,
)


@_validate.public_call("optx.radam")
def radam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: ScalarOrSchedule = 5.0,
    *,
    softplus_beta: ScalarOrSchedule = 0.0,
    eps_convention: str = "corrected",
) -> GradientTransformation:
    """Rectified Adam (Liu et al., 2020).

    Update rule: ``w = w - learning_rate * r_t * m_hat / (sqrt(v_hat) + eps)`` once the
    variance estimate is tractable (``rho_t >= threshold``), else ``w - learning_rate *
    m_hat``; see `scale_by_radam`. Optax's defaults; fastai's ``RAdam`` is ``radam(lr,
    b2=0.99, eps=1e-5, softplus_beta=beta)``.

    torch.optim.RAdam(lr, betas=(b1, b2), eps): use ``radam(lr, b1, b2, eps,
    eps_convention="hat")``; its weight_decay (L2): chain `add_decayed_weights` first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, threshold, softplus_beta, eps_convention: as
        `scale_by_radam`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.radam(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.5], dtype=float32)

    References:
      Liu et al., 2020, On the Variance of the Adaptive Learning Rate and Beyond,
      https://arxiv.org/abs/1908.03265
    """
    return chain(
        scale_by_radam(
            b1,
            b2,
            eps,
            eps_root,
            threshold,
            softplus_beta=softplus_beta,
            eps_convention=eps_convention,
        ),
        scale_by_learning_rate(learning_rate),
    )

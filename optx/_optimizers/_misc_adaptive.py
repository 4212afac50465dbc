"""Other adaptive optimizers: NovoGrad, FTML, SM3."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._hyperparams_access import rename_hyperparams
from optx.transforms import (
    scale_by_ftml,
    scale_by_learning_rate,
    scale_by_novograd,
    scale_by_sm3,
)


@_validate.public_call("optx.novograd")
def novograd(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al., 2019): per-leaf normalized gradients with momentum.

    Update rule: ``m = b1 * m + g / sqrt(n) + weight_decay * w``, ``w = w - learning_rate * m``
    with ``n`` one moving second moment per leaf; see `scale_by_novograd`. Optax's
    defaults. The weight decay is inside the momentum (it needs ``params`` unless 0).

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, weight_decay: as `scale_by_novograd`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.novograd(0.5, eps=0.0)
      >>> w = jnp.array([1.0, 1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([3.0, 4.0]), tx.init(w), w)[0])
      Array([0.7, 0.6], dtype=float32)

    References:
      Ginsburg et al., 2019, Stochastic Gradient Methods with Layer-wise Adaptive Moments
      for Training of Deep Networks, https://arxiv.org/abs/1905.11286
    """
    return chain(
        scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.ftml")
def ftml(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: ScalarOrSchedule = 0.6,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """FTML, Follow the Moving Leader (Zheng and Kwok, 2017), as MXNet's.

    Update rule (MXNet's, t the 1-based update count)::

        v = b2 * v + (1 - b2) * g**2
        d_t = (1 - b1**t) / learning_rate * (sqrt(v / (1 - b2**t)) + eps)
        z = b1 * z + (1 - b1) * g - (d_t - b1 * d_{t-1}) * w
        w = -z / d_t

    The learning rate lives inside the state (`scale_by_ftml`), so this alias is that one
    transform. Defaults are MXNet 2.0's (1.x has the same betas and eps, lr 0.01 by default).
    MXNet's ``wd`` is coupled: ``chain(add_decayed_weights(wd), ftml(...))``. Not in Optax.

    Args:
      learning_rate: > 0.
      b1, b2, eps: as `scale_by_ftml`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.ftml(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([2.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Zheng and Kwok, 2017, Follow the Moving Leader in Deep Learning,
      http://proceedings.mlr.press/v70/zheng17a.html
    """
    return chain(scale_by_ftml(learning_rate, b1, b2, eps))


@_validate.public_call("optx.sm3")
def sm3(
    learning_rate: ScalarOrSchedule = 0.1,
    momentum: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """SM3 (Anil et al., 2019): AdaGrad with per-axis accumulators, plus momentum.

    Update rule: ``w = w - learning_rate * m`` with ``m`` the momentum average of
    ``g / sqrt(s)`` and ``s`` SM3's cover-set accumulator; see `scale_by_sm3`. Same as
    Optax's `sm3` (which requires a learning rate; 0.1 here).

    Args:
      learning_rate: >= 0.
      momentum: in [0, 1); `scale_by_sm3`'s ``b1``.
      b2, eps: as `scale_by_sm3`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.sm3(1.0, momentum=0.0)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([2.0]), tx.init(w), w)[0])
      Array([0.], dtype=float32)

    References:
      Anil et al., 2019, Memory-Efficient Adaptive Optimization,
      https://arxiv.org/abs/1901.11150
    """
    _validate.check_unit_interval("optx.sm3", "momentum", momentum)
    return chain(
        rename_hyperparams(scale_by_sm3(momentum, b2, eps), {"b1": "momentum"}),
        scale_by_learning_rate(learning_rate),
    )

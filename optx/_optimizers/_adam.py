"""Adam and AdamW."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights, scale_by_adam, scale_by_learning_rate


@_validate.public_call("optx.adam")
def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
    nesterov: bool = False,
    eps_convention: str = "corrected",
) -> GradientTransformation:
    """Adam (Kingma and Ba, 2014).

    Update rule (t the 1-based update count)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        w = w - learning_rate * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    ``chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))``.
    Defaults and eps placement are Optax's and PyTorch's (eps outside the root, on the
    corrected moment). MXNet's and TensorFlow's Adam put eps on the uncorrected moment
    ("epsilon hat"); ``eps_convention="hat"`` reproduces it::

        w = w - learning_rate * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)

    The two differ by about 1e-6 after a few steps with the default eps.

    Weight decay: MXNet's ``wd`` is coupled L2, added to the gradient before the moments:
    ``chain(add_decayed_weights(wd), scale_by_adam(...), scale_by_learning_rate(lr))``.
    Decoupled decay (`adamw`) adds it after `scale_by_adam`.

    torch.optim.Adam(lr, betas=(b1, b2), eps): use ``adam(lr, b1, b2, eps)`` (the default
    eps placement); its weight_decay (L2 on the gradient): chain
    ``add_decayed_weights(weight_decay)`` first; ``amsgrad=True``: use
    ``amsgrad(lr, b1, b2, eps, max_of="raw")``.

    Args:
      learning_rate: >= 0; float, array or schedule.
      b1, b2: moment decays in [0, 1); floats, arrays or schedules (one-cycle momentum).
      eps, eps_root: >= 0.
      mu_dtype, nu_dtype: moment dtypes (default float32).
      nesterov: Nesterov-accelerated first moment.
      eps_convention: ``"corrected"`` (Optax, PyTorch) or ``"hat"`` (MXNet, TensorFlow).

    Raises:
      ValueError: e.g. ``optx.adam(b1=1.2)``: b1 must be in [0, 1).
      TypeError: a ``mu_dtype`` that is not floating or complex, or a ``nu_dtype`` that
        is not floating (``jnp.int32`` moments would round every update away); at init,
        integer params (integer gradients are promoted to the param's dtype).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adam(0.1, eps_convention="hat")
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -4.0]), tx.init(params), params)
      >>> optx.apply_updates(params, updates)
      Array([ 0.9, -0.9], dtype=float32)

    References:
      Kingma and Ba, 2014, Adam: A Method for Stochastic Optimization,
      https://arxiv.org/abs/1412.6980
    """
    return chain(
        scale_by_adam(
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            nu_dtype=nu_dtype,
            nesterov=nesterov,
            eps_convention=eps_convention,
        ),
        scale_by_learning_rate(learning_rate),
    )


@_validate.public_call("optx.adamw")
def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    nu_dtype: Any = None,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Update rule: Adam's direction plus ``weight_decay * w``, both multiplied by the
    learning rate::

        w = w - learning_rate * (adam_direction + weight_decay * w)

    ``chain(scale_by_adam, add_decayed_weights(weight_decay, mask), scale_by_learning_rate)``.
    The decay is multiplied by the learning rate as in Optax and PyTorch; the paper's
    fully decoupled form multiplies it by the schedule multiplier only. ``mask=None``
    decays every leaf, like Optax; fastai does not decay biases and norm scales (use a
    mask, or `optx.param_groups`, whose default rules skip biases and norms). Defaults are Optax's
    (weight_decay=1e-4); fastai's Adam equals ``adamw(lr, b2=0.99, eps=1e-5,
    weight_decay=0.01)``.

    torch.optim.AdamW(lr, betas=(b1, b2), eps, weight_decay): use ``adamw(lr, b1, b2, eps,
    weight_decay=weight_decay)`` (PyTorch's default weight_decay is 0.01, optx's 1e-4).

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov: as `adam`.
      weight_decay: >= 0, hyperparameter ``weight_decay``.
      mask: which leaves to decay: a bool pytree or a function ``params -> bool pytree``.

    References:
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )

"""AdaDelta."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx.transforms import add_decayed_weights, scale_by_adadelta, scale_by_learning_rate


@_validate.public_call("optx.adadelta")
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule | None = 0.0,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    """AdaDelta (Zeiler, 2012).

    Update rule::

        g = g + weight_decay * w                          (not when weight_decay is None)
        e_g = rho * e_g + (1 - rho) * g**2
        d = sqrt(e_x + eps) / sqrt(e_g + eps) * g
        e_x = rho * e_x + (1 - rho) * d**2
        w = w - learning_rate * d

    ``chain(add_decayed_weights, scale_by_adadelta, scale_by_learning_rate)``. The default
    learning rate is 1.0, as in PyTorch and MXNet 2.0, so the defaults descend. (Optax's
    ``adadelta()`` defaults to ``learning_rate=None``, which moves *uphill*; MXNet 1.x has
    no learning rate, i.e. 1.0, uses ``eps=1e-5`` and adds its ``wd * w`` to the step
    without passing it through the scaling.) Weight decay is coupled L2, as Optax, PyTorch
    and MXNet 2.0; it needs ``params`` (as in Optax, also at the default 0.0; pass
    ``weight_decay=None`` to drop the term and call ``update`` without params). The other
    arguments are Optax's, in Optax's order.

    torch.optim.Adadelta(lr, rho, eps, weight_decay): use ``adadelta(lr, rho, eps,
    weight_decay=weight_decay)``.

    Args:
      learning_rate: >= 0.
      rho: in [0, 1).
      eps: > 0.
      weight_decay: >= 0, or None (no decay term, no params needed).
      weight_decay_mask: which leaves to decay (bool pytree or ``params -> pytree``).

    Raises:
      ValueError: e.g. ``optx.adadelta(rho=1.0)``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adadelta()
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([2.0]), tx.init(w), w)[0])
      Array([0.9968...], dtype=float32)

    References:
      Zeiler, 2012, ADADELTA: An Adaptive Learning Rate Method,
      https://arxiv.org/abs/1212.5701
    """
    decay = (
        identity() if weight_decay is None else add_decayed_weights(weight_decay, weight_decay_mask)
    )
    return chain(decay, scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate))

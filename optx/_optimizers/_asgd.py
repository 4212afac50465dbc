"""Averaged SGD (torch.optim.ASGD)."""

from __future__ import annotations

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import add_decayed_weights
from optx.transforms._asgd import scale_by_asgd


@_validate.public_call("optx.asgd")
def asgd(
    learning_rate: ScalarOrSchedule = 0.01,
    lambd: ScalarOrSchedule = 1e-4,
    alpha: ScalarOrSchedule = 0.75,
    t0: ScalarOrSchedule = 1e6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Averaged SGD, as torch.optim.ASGD (same arguments, defaults and meaning).

    Update rule (``eta = learning_rate`` and ``mu = 1`` at first; t the 1-based count)::

        g = g + weight_decay * w
        w = w * (1 - lambd * eta) - eta * g
        ax = w  if mu == 1  else  ax + mu * (w - ax)
        eta = learning_rate / (1 + lambd * learning_rate * t)**alpha
        mu = 1 / max(1, t - t0)

    ``chain(add_decayed_weights(weight_decay), scale_by_asgd(learning_rate, lambd, alpha,
    t0))``. The params follow the SGD iterates; the averaged params ``ax`` (Polyak-Ruppert
    averaging of the iterates after step ``t0``) live in the state: evaluate with
    ``optx.asgd_average(state)``. A new learning rate reaches the step one update later,
    as in torch (see `scale_by_asgd`).

    Args:
      learning_rate: torch's ``lr``, >= 0.
      lambd: decay term, >= 0.
      alpha: power of the ``eta`` decay, >= 0.
      t0: the step after which averaging starts, >= 0.
      weight_decay: L2 penalty added to the gradient, >= 0.

    Raises:
      ValueError: a negative hyperparameter; at update, no params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.asgd(0.1, lambd=0.0)
      >>> w = jnp.array([1.0])
      >>> u, state = tx.update(jnp.array([2.0]), tx.init(w), w)
      >>> optx.apply_updates(w, u)
      Array([0.8], dtype=float32)

    References:
      Polyak and Juditsky, 1992, Acceleration of stochastic approximation by averaging,
      https://doi.org/10.1137/0330046 ; torch.optim.ASGD,
      https://pytorch.org/docs/stable/generated/torch.optim.ASGD.html
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_asgd(learning_rate, lambd, alpha, t0),
    )

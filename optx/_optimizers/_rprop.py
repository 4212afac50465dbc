"""Rprop."""

from __future__ import annotations

import jax

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, stateless
from optx.transforms import scale_by_rprop


@_validate.public_call("optx.rprop")
def rprop(
    learning_rate: ScalarOrSchedule = 0.01,
    eta_minus: ScalarOrSchedule = 0.5,
    eta_plus: ScalarOrSchedule = 1.2,
    min_step_size: ScalarOrSchedule = 1e-6,
    max_step_size: ScalarOrSchedule = 50.0,
) -> GradientTransformation:
    """Rprop- (Riedmiller and Braun, 1993): per-coordinate step sizes adapted by sign agreement.

    Update rule per coordinate (``s = sign(g) * sign(g_prev)``)::

        step = min(step * eta_plus, max_step_size)    where s > 0
        step = max(step * eta_minus, min_step_size)   where s < 0
        w = w - step * sign(g)                        (no move where s < 0, and g_prev = 0)

    ``chain(scale_by_rprop(...), negate)``. ``learning_rate`` is the initial step size.
    The skip-after-a-sign-change variant (Rprop-) is PyTorch's ``Rprop``; Optax's
    ``rprop`` computes the same steps (checked in the tests). PyTorch's defaults.
    Full-batch gradients only: Rprop is not meant for noisy minibatch gradients.

    torch.optim.Rprop(lr, etas=(eta_minus, eta_plus), step_sizes=(min, max)): use
    ``rprop(lr, eta_minus, eta_plus, min, max)``; PyTorch's Rprop is this Rprop-.

    Args:
      learning_rate: > 0, initial step size.
      eta_minus: in (0, 1).
      eta_plus: >= 1.
      min_step_size, max_step_size: bounds on the step.

    References:
      Riedmiller and Braun, 1993, A direct adaptive method for faster backpropagation
      learning: the RPROP algorithm, https://doi.org/10.1109/ICNN.1993.298623
    """
    negate = stateless(lambda updates, params: jax.tree.map(lambda u: -u, updates))
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        negate,
    )

"""Keep params non-negative."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import EmptyState, GradientTransformation


def keep_params_nonnegative() -> GradientTransformation:
    """Clips updates so that no parameter becomes negative; keeps no state.

    Update rule: ``u = max(u, -w)``, so ``w + u >= 0``. Chain it last. Params must start
    non-negative.

    Raises:
      ValueError: ``update`` called without params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.keep_params_nonnegative()
      >>> w = jnp.array([1.0, 0.5])
      >>> tx.update(jnp.array([-2.0, 0.25]), tx.init(w), w)[0]
      Array([-1.  ,  0.25], dtype=float32)
    """
    call = "optx.keep_params_nonnegative"

    def init(params):
        _validate.refuse_complex(
            call, params, "complex numbers are neither nonnegative nor negative (no order)"
        )
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)

        def one(u, p):
            wide = _tree.wide_dtype(u)
            return jnp.maximum(u.astype(wide), -p.astype(wide)).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init, update)

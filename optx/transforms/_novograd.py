"""NovoGrad: Adam-like normalization by a per-layer (per-leaf) second moment."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByNovogradState(NamedTuple):
    """State of `scale_by_novograd`: the momentum and one second moment per leaf."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hyperparams: HyperparamsState


def _second_moment_dtype(p):
    """The real dtype of a per-leaf norm of ``p``: float32 at least, float64 for 64-bit."""
    return _tree.real_dtype(_tree.wide_dtype(jnp.result_type(p)))


@_validate.public_call("optx.scale_by_novograd")
def scale_by_novograd(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Scales updates by NovoGrad: gradients normalized per leaf, then momentum.

    Update rule, per leaf (a "layer"), t the 1-based update count::

        n = ||g||**2                          at t = 1
        n = b2 * n + (1 - b2) * ||g||**2      after
        m = b1 * m + g / (sqrt(n + eps_root) + eps) + weight_decay * w
        u = m

    The second moment is one scalar per leaf, so the normalization is a scalar multiplier.
    The momentum has no ``(1 - b1)`` factor, as in the paper and Optax. Weight decay sits
    inside the momentum (it needs ``params`` unless ``weight_decay`` is 0.0).

    Args:
      b1: momentum in [0, 1).
      b2: decay of the per-leaf second moment, in [0, 1).
      eps, eps_root: >= 0, outside and inside the root.
      weight_decay: >= 0.
      mu_dtype: dtype of the momentum (default float32).

    Raises:
      ValueError: a beta outside [0, 1) or a negative eps or weight_decay; at update,
        missing ``params`` when weight decay is on.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_novograd(eps=0.0)
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))[0]
      Array([0.6, 0.8], dtype=float32)

    References:
      Ginsburg et al., 2019, Stochastic Gradient Methods with Layer-wise Adaptive Moments
      for Training of Deep Networks, https://arxiv.org/abs/1905.11286
    """
    call = "optx.scale_by_novograd"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    needs_params = _validate.concrete_scalar(weight_decay) != 0.0
    hyperparams = Hyperparams(
        call,
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        weight_decay=weight_decay,
        decays=("b2",),
        constraints={"b1": _constraints.UNIT_INTERVAL},
    )

    def init(params):
        nu = jax.tree.map(lambda p: _tree.zeros_reduced(p, (), _second_moment_dtype(p)), params)
        return ScaleByNovogradState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            nu,
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.check_structure(call, state.mu, updates)
        if needs_params:
            _tree.require_params(call, params)
            _tree.check_structure(call, state.mu, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)
        count = h.count
        first = count == 1
        one_minus_b2 = h.complement("b2")

        def one(g, m_old, n, p=None):
            wide = _tree.wide_dtype(g)
            gw = g.astype(wide)
            squared = _tree.squared_norm(gw).astype(n.dtype)
            n = jnp.where(first, squared, h["b2"] * n + one_minus_b2 * squared)
            scale = (1 / (jnp.sqrt(n + h["eps_root"]) + h["eps"])).astype(wide)
            m = h["b1"].astype(wide) * m_old.astype(wide) + scale * gw
            if p is not None:
                m = m + h["weight_decay"].astype(wide) * p.astype(wide)
            m = m.astype(m_old.dtype)
            return m.astype(g.dtype), m, n

        rest = (params,) if needs_params else ()
        updates, mu, nu = _tree.map_unzip(one, 3, updates, state.mu, state.nu, *rest)
        return updates, ScaleByNovogradState(count, mu, nu, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

"""Sign-based scaling: the sign alone (signSGD), Lion and Signum (momentum followed by the sign)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate, _xla_cpu
from optx._core import EmptyState, GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx._tree import moments_like

_SIGN_RULE = (
    "the step is sign(...) per element (+1 or -1), and sign(z) of a complex z is z / |z|, "
    "not a choice between two directions"
)


class ScaleByLionState(NamedTuple):
    """State of `scale_by_lion`: the momentum.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    hyperparams: HyperparamsState


class ScaleBySignumState(NamedTuple):
    """State of `scale_by_signum`: the momentum.

    ``count`` is the number of updates so far.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_lion")
def scale_by_lion(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Scales updates by the sign of an interpolation of momentum and gradient (Lion).

    Update rule::

        u = sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g

    The update is computed from the *new* momentum as stored: since
    ``b1 * m_old + (1 - b1) * g = (b1 * m + (b2 - b1) * g) / b2`` with the new ``m``,
    ``u = sign(b1 * m + (b2 - b1) * g)``. This needs ``b2 > 0`` (a zero ``b2`` would make
    the momentum forget everything, so Lion is plain sign descent; use `scale_by_sign`).
    Same algorithm and defaults as Optax's ``scale_by_lion`` (hard mode).

    Args:
      b1: interpolation weight of the momentum in the update, in [0, 1).
      b2: decay of the momentum, in (0, 1).
      mu_dtype: dtype of the momentum; default float32 (or the params' dtype if wider).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_lion()
      >>> tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))[0]
      Array([ 1., -1.], dtype=float32)

    Raises:
      TypeError: at init, for complex params (the step is a sign per element).

    References:
      Chen et al., 2023, Symbolic Discovery of Optimization Algorithms,
      https://arxiv.org/abs/2302.06675
    """
    call = "optx.scale_by_lion"
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype)
    hyperparams = Hyperparams(
        call,
        constraints={
            "b1": _constraints.UNIT_INTERVAL,
            "b2": _constraints.Constraint(0.0, 1.0, low_open=True, high_open=True),
        },
        b1=b1,
        b2=b2,
        decays=("b2",),
    )
    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(public, params, _SIGN_RULE)
        mu = moments_like(params, mu_dtype)
        return ScaleByLionState(hyperparams.init_count(params), mu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b2", state.mu, updates)
        # sign(b1 m + (1 - b1) g) of the old m is sign(b1 m' + (b2 - b1) g) of the new one
        b1, b2_minus_b1 = _xla_cpu.pack_scalars(updates, h["b1"], h["b2"] - h["b1"])

        def one(g, m):
            wide = _tree.wide_dtype(m)
            u = jnp.sign(
                b1.astype(wide) * m.astype(wide) + b2_minus_b1.astype(wide) * g.astype(wide)
            )
            return u.astype(g.dtype)

        updates = jax.tree.map(one, updates, mu)
        return updates, ScaleByLionState(h.count, mu, h.state)

    return GradientTransformation(init, update)


@_validate.public_call("optx.scale_by_signum")
def scale_by_signum(
    momentum: ScalarOrSchedule = 0.9,
    wd_lh: ScalarOrSchedule | None = None,
    *,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Scales updates by the sign of their moving average (Signum), with MXNet's ``wd_lh``.

    Update rule::

        m = momentum * m + (1 - momentum) * g
        u = sign(m) + wd_lh * w          (the wd_lh term only when wd_lh is given)

    Followed by ``scale_by_learning_rate(lr)`` this is MXNet's Signum,
    ``w = (1 - lr * wd_lh) * w - lr * sign(m)``: ``wd_lh`` is weight decay decoupled
    from the sign (Loshchilov and Hutter's form), while MXNet's ``wd`` is coupled into the
    gradient before the average (chain `add_decayed_weights` in front). Optax's
    ``signum`` is the same without ``wd_lh`` (an undebiased EMA then the sign).
    ``momentum=0`` gives signSGD.

    Args:
      momentum: decay of the average, in [0, 1).
      wd_lh: decoupled weight decay, >= 0, or None for none (then params are not needed).
      accumulator_dtype: dtype of the average; default float32.

    Raises:
      ValueError: at update, when ``wd_lh`` is given and ``params`` are not.
      TypeError: at init, for complex params (the step is a sign per element).

    References:
      Bernstein et al., 2018, signSGD: Compressed Optimisation for Non-Convex Problems,
      https://arxiv.org/abs/1802.04434
    """
    call = "optx.scale_by_signum"
    _validate.check_float_dtype(call, "accumulator_dtype", accumulator_dtype)
    specs = {"momentum": momentum} if wd_lh is None else {"momentum": momentum, "wd_lh": wd_lh}
    constraints = {} if wd_lh is None else {"wd_lh": _constraints.NON_NEGATIVE}
    hyperparams = Hyperparams(call, decays=("momentum",), constraints=constraints, **specs)
    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(public, params, _SIGN_RULE)
        mu = moments_like(params, accumulator_dtype)
        return ScaleBySignumState(hyperparams.init_count(params), mu, hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.check_structure(call, state.mu, updates)
        if wd_lh is not None:
            _tree.require_params(call, params)
            _tree.check_structure(call, state.mu, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("momentum", state.mu, updates)

        def one(g, m, *w):
            wide = _tree.wide_dtype(m)
            u = jnp.sign(m.astype(wide))
            if w:
                u = u + h["wd_lh"].astype(wide) * w[0].astype(wide)
            return u.astype(g.dtype)

        updates = jax.tree.map(one, updates, mu, *((params,) if wd_lh is not None else ()))
        return updates, ScaleBySignumState(h.count, mu, h.state)

    return GradientTransformation(init, update)


def scale_by_sign() -> GradientTransformation:
    """Replaces each update by its sign. Keeps no state.

    Update rule: ``u = sign(g)`` (0 where ``g`` is 0).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_sign()
      >>> tx.update(jnp.array([-3.0, 0.0, 0.5]), tx.init(None))[0]
      Array([-1.,  0.,  1.], dtype=float32)

    Raises:
      TypeError: at ``init``, for complex params (sign(z) of a complex z is z / |z|).
    """
    public = _validate.current_call("optx.scale_by_sign")

    def init(params):
        _validate.refuse_complex(
            public,
            params,
            "the step is sign(g) per element (+1 or -1), and sign(z) of a complex z is z / |z|, "
            "not a choice between two directions",
        )
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.sign, updates), state

    return GradientTransformation(init, update)

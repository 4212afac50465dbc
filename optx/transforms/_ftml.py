"""FTML: Follow the Moving Leader (Zheng and Kwok, 2017), as in MXNet."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByFtmlState(NamedTuple):
    """State of `scale_by_ftml`: MXNet's ``d``, ``v`` and ``z`` (all start at 0)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    d: Any
    v: Any
    z: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_ftml")
def scale_by_ftml(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: ScalarOrSchedule = 0.6,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """The FTML step: returns the parameter *update* (sign and learning rate included).

    FTML sets the weights to the minimizer of a moving-leader objective, ``w = -z / d``,
    so the learning rate sits inside its state and cannot be applied afterwards. Update
    rule (t the 1-based update count, lr = learning_rate at this step)::

        v = b2 * v + (1 - b2) * g**2
        d_t = (1 - b1**t) / lr * (sqrt(v / (1 - b2**t)) + eps)
        z = b1 * z + (1 - b1) * g - (d_t - b1 * d_{t-1}) * w
        u = -z / d_t - w                 (so that w + u = -z / d_t)

    Same as MXNet's FTML (coupled weight decay: chain `add_decayed_weights` first). Do not
    chain `scale_by_learning_rate` after it: `optx.ftml` is this transform alone.

    Args:
      learning_rate: > 0 (a float, array or schedule), hyperparameter ``learning_rate``.
      b1: in [0, 1).
      b2: in [0, 1).
      eps: >= 0.

    Raises:
      ValueError: a learning rate <= 0, a beta outside [0, 1), a negative eps; at update,
        missing ``params``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_ftml(learning_rate=0.1)
      >>> w = jnp.array([1.0])
      >>> tx.update(jnp.array([2.0]), tx.init(w), w)[0]
      Array([-0.1], dtype=float32)

    References:
      Zheng and Kwok, 2017, Follow the Moving Leader in Deep Learning,
      http://proceedings.mlr.press/v70/zheng17a.html
    """
    call = "optx.scale_by_ftml"
    hyperparams = Hyperparams(
        call,
        constraints={"learning_rate": _constraints.POSITIVE},
        learning_rate=learning_rate,
        b1=b1,
        b2=b2,
        eps=eps,
        decays=("b1", "b2"),
    )

    def init(params):
        return ScaleByFtmlState(
            hyperparams.init_count(params),
            _tree.moments_like(params, real=True),
            _tree.moments_like(params, real=True),
            _tree.moments_like(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, state.v, updates)
        _tree.check_structure(call, state.v, params, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)
        nu = h.moment("b2", state.v, updates, order=2)
        d_scale = h.bias_correction("b1") / h["learning_rate"]
        c2 = 1 / h.bias_correction("b2")
        one_minus_b1 = h.complement("b1")

        def one(g, d, v, z, w):
            wide = _tree.wide_dtype(g)
            gw, ww = g.astype(wide), w.astype(wide)
            rw = _tree.real_dtype(wide)
            b1_ = h["b1"].astype(wide)
            d_new = (d_scale * (jnp.sqrt(c2 * v.astype(rw)) + h["eps"])).astype(d.dtype)
            sigma = (d_new.astype(rw) - h["b1"].astype(rw) * d.astype(rw)).astype(wide)
            z = (b1_ * z.astype(wide) + one_minus_b1.astype(wide) * gw - sigma * ww).astype(z.dtype)
            u = -z.astype(wide) / d_new.astype(wide) - ww
            return u.astype(g.dtype), d_new, z

        updates, d, z = _tree.map_unzip(one, 3, updates, state.d, nu, state.z, params)
        return updates, ScaleByFtmlState(h.count, d, nu, z, h.state)

    return GradientTransformation(init, update)

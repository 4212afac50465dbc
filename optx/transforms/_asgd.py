"""Averaged SGD (torch.optim.ASGD): decaying steps, and a running average of the iterates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByAsgdState(NamedTuple):
    """State of `scale_by_asgd`, as torch.optim.ASGD's.

    Attributes:
      count: updates applied (torch's ``step``).
      eta: the step size of the next update (torch's ``eta``).
      mu: the averaging weight of the next update (torch's ``mu``).
      ax: the averaged params (torch's ``ax``; `asgd_average` reads it).
      hyperparams: ``learning_rate``, ``lambd``, ``alpha``, ``t0``.
    """

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    eta: jax.Array
    mu: jax.Array
    ax: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.scale_by_asgd")
def scale_by_asgd(
    learning_rate: ScalarOrSchedule = 0.01,
    lambd: ScalarOrSchedule = 1e-4,
    alpha: ScalarOrSchedule = 0.75,
    t0: ScalarOrSchedule = 1e6,
) -> GradientTransformation:
    """The ASGD step and average of torch.optim.ASGD; returns the update to add to the params.

    Update rule (``eta``, ``mu`` from the state, ``t`` the 1-based count of this update)::

        w' = w * (1 - lambd * eta) - eta * g
        u = w' - w                                      (the returned update)
        ax = w'  if mu == 1  else  ax + mu * (w' - ax)
        eta = learning_rate / (1 + lambd * learning_rate * t)**alpha
        mu = 1 / max(1, t - t0)

    with ``eta = learning_rate`` and ``mu = 1`` before the first update. Unlike the
    ``scale_by_*`` transforms that return a descent direction for `scale_by_learning_rate`,
    this one holds the learning rate and returns the signed update, because ``ax``
    averages the params *after* it; chain nothing that rescales it. Put weight decay
    (torch's ``weight_decay``, added to the gradient) before it with
    `add_decayed_weights`, as `optx.asgd` does.

    As in torch, ``eta`` is computed at the end of an update from the learning rate of
    that update, so a new learning rate (a schedule's next value, `optx.set_hyperparams`)
    reaches the step one update later; ``lambd`` acts at once. Complex params: supported
    (every operation is linear in ``w`` and ``g``). State: ``ax``, one array per param
    (float32 at least), and the scalars ``eta`` and ``mu``.

    Args:
      learning_rate: torch's ``lr``, >= 0.
      lambd: decay term, >= 0.
      alpha: power of the ``eta`` decay, >= 0.
      t0: the update count after which averaging starts, >= 0.

    Raises:
      ValueError: a negative hyperparameter; at update, no params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_asgd(learning_rate=0.1, lambd=0.0)
      >>> w = jnp.array([1.0])
      >>> u, state = tx.update(jnp.array([2.0]), tx.init(w), w)
      >>> u, optx.asgd_average(state)
      (Array([-0.2], dtype=float32), Array([0.8], dtype=float32))

    References:
      Polyak and Juditsky, 1992, Acceleration of stochastic approximation by averaging,
      https://doi.org/10.1137/0330046 ; torch.optim.ASGD,
      https://pytorch.org/docs/stable/generated/torch.optim.ASGD.html
    """
    call = _validate.current_call("optx.scale_by_asgd")  # optx.asgd when built by it
    non_negative = _constraints.NON_NEGATIVE
    hyperparams = Hyperparams(
        call,
        constraints={"lambd": non_negative, "alpha": non_negative, "t0": non_negative},
        learning_rate=learning_rate,
        lambd=lambd,
        alpha=alpha,
        t0=t0,
    )

    def init(params):
        hp = hyperparams.init(params)
        lr = hp.values["learning_rate"]
        return ScaleByAsgdState(
            hyperparams.init_count(params),
            jnp.array(lr, copy=True),
            jnp.ones_like(lr),
            _tree.moments_like(params),
            hp,
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates, what="params")
        h = hyperparams.resolve(state.hyperparams, state.count)
        eta, mu = state.eta, state.mu
        decay = h["lambd"] * eta

        def one(g, p, ax):
            wide = ax.dtype
            pw = p.astype(wide)
            new = pw * (1 - decay).astype(wide) - eta.astype(wide) * g.astype(wide)
            averaged = jnp.where(mu == 1, new, ax + mu.astype(wide) * (new - ax))
            return (new - pw).astype(g.dtype), averaged

        new_updates, ax = _tree.map_unzip(one, 2, updates, params, state.ax)
        lr, t = h["learning_rate"], h.count.astype(jnp.result_type(eta))
        new_eta = lr / (1 + h["lambd"] * lr * t) ** h["alpha"]
        new_mu = 1 / jnp.maximum(jnp.ones_like(t), t - h["t0"])
        return new_updates, ScaleByAsgdState(h.count, new_eta, new_mu, ax, h.state)

    return GradientTransformation(init, update)


def asgd_average(state: Any, like: Any = None) -> Any:
    """The averaged params ``ax`` of the `scale_by_asgd` (or `optx.asgd`) state in ``state``.

    Evaluate the model with them (torch users read ``optimizer.state[p]["ax"]``). Until
    averaging starts (``count <= t0 + 1``) they equal the params; before the first update
    they are zeros, as torch's. ``state`` may be a whole optimizer state (a chain) holding
    exactly one ASGD state; with ``like`` (the live params) each leaf is cast to its dtype.

    Raises:
      ValueError: the state holds no ASGD state, or several.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.asgd(0.1, lambd=0.0, t0=0.0)
      >>> w = jnp.array([1.0])
      >>> state = tx.init(w)
      >>> for g in (1.0, 1.0, 1.0):
      ...     u, state = tx.update(jnp.array([g]), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> w, optx.asgd_average(state)  # the mean of the last iterates
      (Array([0.6999999], dtype=float32), Array([0.74999994], dtype=float32))
    """
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, ScaleByAsgdState))
        if isinstance(node, ScaleByAsgdState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"optx.asgd_average: the state holds {len(found)} scale_by_asgd states, not one; "
            "pass the state of optx.asgd (or the part of a chain that holds it)"
        )
    ax = found[0].ax
    if like is None:
        return ax
    return jax.tree.map(lambda a, p: a.astype(jnp.result_type(p)), ax, like)

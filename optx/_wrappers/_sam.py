"""Sharpness-Aware Minimization: adversarial ascent steps, then the outer step from there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import EmptyState, GradientTransformation, _accepting_extra_args


class SAMState(NamedTuple):
    """State of `sam`.

    Attributes:
      steps_since_sync: adversarial steps taken since the last outer update (int32).
      opt_state: the outer optimizer's state.
      adv_state: the adversarial optimizer's state.
      cache: the params of the last outer update (None with ``opaque_mode``).
    """

    steps_since_sync: jax.Array
    opt_state: Any
    adv_state: Any
    cache: Any


@_validate.public_call("optx.normalize_by_global_norm")
def normalize_by_global_norm() -> GradientTransformation:
    """Divides the updates by their global L2 norm: ``u = g / ||g||`` (zero stays zero).

    Optax's ``optax.contrib.normalize`` (the ascent direction of SAM), except that an
    all-zero gradient gives zeros instead of NaN. The reciprocal norm is one scalar,
    multiplied in.

    Returns:
      A stateless `GradientTransformation`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.normalize_by_global_norm()
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(None))[0]
      Array([0.6, 0.8], dtype=float32)
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        norm = _tree.global_norm(updates)
        inverse = jnp.where(norm > 0, 1 / jnp.where(norm > 0, norm, 1), 0)
        return _tree.scale_tree(inverse, updates), state

    return GradientTransformation(init, update)


@_validate.public_call("optx.sam")
def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    """SAM (Foret et al., 2020): step from an adversarially perturbed point.

    One SAM step of the paper is ``e = rho * g(w) / ||g(w)||``, then ``w = w - lr *
    g(w + e)``: two gradient evaluations. ``sam`` runs ``sync_period - 1`` adversarial
    (ascent) steps of ``adv_optimizer`` and then one outer step of ``optimizer`` taken at
    the point where the adversarial steps started, with the gradient of the last
    perturbed point. Argument names, defaults and semantics are Optax's
    ``optax.contrib.sam``; the paper's SAM is ``sam(sgd(lr),
    chain(normalize_by_global_norm(), sgd(rho)), sync_period=2)``.

    Transparent mode (default): each call to ``update`` is one of those steps, so the
    caller evaluates the gradient at every point, adversarial ones included (that is the
    extra gradient evaluation: ``sync_period`` calls per outer step). Calls ``1 ..
    sync_period - 1`` of a period return ``-adv_optimizer(g)`` (the adversary's update
    negated: an ascent for a descent optimizer) and the params move to the perturbed
    point; call ``sync_period`` returns ``cache - params + optimizer(g)``, so the params
    land on ``cache + optimizer(g)``, ``cache`` being the params at the period's start.
    The outer optimizer sees ``cache`` as its params. Side effects of the loss (BatchNorm
    statistics, ...) happen on adversarial steps too.

    Opaque mode (``opaque_mode=True``): one call is one outer step. ``update(grads,
    state, params, grad_fn=grad_fn)`` needs ``grad_fn(params, i) -> grads`` (e.g.
    ``jax.grad(lambda p, i: loss(p, batch))``), which is called ``sync_period - 1`` times
    (at the adversarial points, ``i = 0, 1, ...``); the returned update moves ``params``
    by ``optimizer`` applied to the last adversarial gradient. With ``batch_axis_name``
    those gradients are averaged with `jax.lax.pmean` over that axis.

    With ``reset_state`` the adversary's state is re-initialized after each outer step.
    Other extra keyword arguments are passed to both optimizers.

    Args:
      optimizer: the outer optimizer.
      adv_optimizer: the adversarial optimizer (a descent optimizer: its update is
        negated), e.g. ``chain(normalize_by_global_norm(), sgd(rho))``.
      sync_period: calls per outer step (int >= 1); 2 is the paper's SAM.
      reset_state: re-initialize ``adv_optimizer``'s state after each outer step.
      opaque_mode: run the adversarial steps inside ``update`` with ``grad_fn``.
      batch_axis_name: axis name for `jax.lax.pmean` of ``grad_fn``'s gradients (opaque
        mode only), or None.

    Returns:
      A `GradientTransformation` with a `SAMState`.

    Raises:
      ValueError: ``sync_period < 1``; ``update`` without params (transparent mode) or
        without ``grad_fn`` (opaque mode).
      TypeError: an optimizer that is not a `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> f = lambda w: jnp.sum(w**2)
      >>> adv = optx.chain(optx.normalize_by_global_norm(), optx.sgd(0.1))
      >>> tx = optx.sam(optx.sgd(0.1), adv, opaque_mode=True)
      >>> w = jnp.array([1.0, 0.0])
      >>> u, _ = tx.update(jax.grad(f)(w), tx.init(w), w, grad_fn=lambda p, i: jax.grad(f)(p))
      >>> u  # -0.1 * grad at w + 0.1 * g / |g| = [1.1, 0]
      Array([-0.22,  0.  ], dtype=float32)

    References:
      Foret et al., 2020, Sharpness-Aware Minimization for Efficiently Improving
      Generalization, https://arxiv.org/abs/2010.01412
    """
    call = "optx.sam"
    _validate.check_transformation(call, "optimizer", optimizer)
    _validate.check_transformation(call, "adv_optimizer", adv_optimizer)
    _validate.check_int(call, "sync_period", sync_period, low=1)
    outer_update = _accepting_extra_args(optimizer.update)
    adv_update = _accepting_extra_args(adv_optimizer.update)
    negate = lambda tree: jax.tree.map(jnp.negative, tree)  # noqa: E731

    def init(params):
        cache = None if opaque_mode else jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return SAMState(
            _tree.zero_count(params), optimizer.init(params), adv_optimizer.init(params), cache
        )

    def pick(flag, if_true, if_false):
        return jax.tree.map(lambda a, b: jnp.where(flag, a, b), if_true, if_false)

    def transparent(updates, state, params, **extra_args):
        _tree.require_params(call, params)
        _tree.check_structure(call, state.cache, updates)
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv_update(updates, state.adv_state, params, **extra_args)
        opt_updates, opt_state = outer_update(updates, state.opt_state, state.cache, **extra_args)

        def outer(c, p, u):
            wide = _tree.wide_dtype(u)
            return (c.astype(wide) - p.astype(wide) + u.astype(wide)).astype(u.dtype)

        opt_updates = jax.tree.map(outer, state.cache, params, opt_updates)
        new = pick(last, opt_updates, negate(adv_updates))
        if reset_state:
            adv_state = pick(last, adv_optimizer.init(params), adv_state)
        else:
            adv_state = pick(last, state.adv_state, adv_state)
        state = SAMState(
            (state.steps_since_sync + 1) % sync_period,
            pick(last, opt_state, state.opt_state),
            adv_state,
            pick(first, params, state.cache),
        )
        return new, state

    def opaque(updates, state, params, grad_fn: Callable[..., Any] | None = None, **extra_args):
        if grad_fn is None:
            raise ValueError(
                f"{call}: with opaque_mode=True, update needs grad_fn=f with f(params, i) -> "
                "grads, e.g. grad_fn=jax.grad(lambda p, i: loss(p, batch))"
            )
        _tree.require_params(call, params)
        adv_params, grads, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_update(grads, adv_state, adv_params, **extra_args)
            adv_params = jax.tree.map(
                lambda p, u: (p - u.astype(p.dtype)).astype(p.dtype), adv_params, adv_updates
            )
            grads = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                grads = jax.lax.pmean(grads, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        new, opt_state = outer_update(grads, state.opt_state, params, **extra_args)
        return new, SAMState(jnp.zeros_like(state.steps_since_sync), opt_state, adv_state, None)

    def update(updates, state, params=None, **extra_args):
        if opaque_mode:
            return opaque(updates, state, params, **extra_args)
        extra_args.pop("grad_fn", None)
        return transparent(updates, state, params, **extra_args)

    return GradientTransformation(init, update)

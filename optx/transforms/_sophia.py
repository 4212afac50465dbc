"""Sophia: clipped preconditioning by an EMA of a diagonal Hessian estimate (Sophia-H)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _constraints, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule, _accepting_extra_args
from optx._hyperparams import Hyperparams, HyperparamsState


class HutchinsonState(NamedTuple):
    """State of `hutchinson_estimator_diag_hessian`: the PRNG key of the next draw."""

    key: jax.Array


class ScaleBySophiaState(NamedTuple):
    """State of `scale_by_sophia`.

    Attributes:
      count: updates applied.
      mu: EMA of the gradients (``mu_dtype``).
      nu: EMA of the diagonal Hessian estimates (float32 at least).
      hessian_fn_state: the state of ``hessian_diagonal_fn``.
      hyperparams: holds ``b1``, ``b2``, ``eps``, ``gamma`` (and ``clip_threshold``).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    hessian_fn_state: Any
    hyperparams: HyperparamsState


@_validate.public_call("optx.hutchinson_estimator_diag_hessian")
def hutchinson_estimator_diag_hessian(
    random_seed: jax.Array | None = None,
) -> GradientTransformation:
    """Hutchinson's estimate of the Hessian diagonal: ``u * (H u)`` for Rademacher ``u``.

    Update rule (``f`` the objective, ``H`` its Hessian at the params)::

        u = Rademacher(+-1) draw like the params;  output = u * (H u)    (E[output] = diag H)

    Calling convention (as Optax): ``update(updates, state, params, obj_fn=f)`` where
    ``f(params) -> scalar`` is the objective; ``updates`` are ignored and the estimate is
    returned in their place. Each call splits the key in the state and draws one
    Rademacher (+-1) vector per leaf (the key split into one key per leaf, float32 signs
    cast to each param's dtype: the draws of Optax's estimator), then takes the
    Hessian-vector product ``H u`` by forward-over-reverse differentiation of ``f``: one
    extra gradient evaluation and its JVP. ``E[u * (H u)] = diag(H)``.

    Args:
      random_seed: a PRNG key (``jax.random.PRNGKey(s)`` or ``jax.random.key(s)``) for the
        draws; default ``jax.random.PRNGKey(0)``.

    Returns:
      A `GradientTransformation`; its state is one key (`HutchinsonState`).

    Raises:
      ValueError: ``update`` called without params or without ``obj_fn``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> est = optx.hutchinson_estimator_diag_hessian()
      >>> f = lambda w: jnp.sum(jnp.array([1.0, 3.0]) * w**2)
      >>> est.update(None, est.init(jnp.ones(2)), jnp.ones(2), obj_fn=f)[0]
      Array([2., 6.], dtype=float32)

    References:
      Hutchinson, 1989, A stochastic estimator of the trace of the influence matrix for
      Laplacian smoothing splines, https://doi.org/10.1080/03610918908812806
    """
    call = "optx.hutchinson_estimator_diag_hessian"

    def init(params):
        key = jax.random.PRNGKey(0) if random_seed is None else random_seed
        return HutchinsonState(_tree.place(key, _tree.replicated_sharding(params)))

    def update(updates, state, params=None, obj_fn=None, **extra_args):
        del updates, extra_args
        _tree.require_params(call, params)
        if obj_fn is None:
            raise ValueError(
                f"{call}: update needs the objective as obj_fn=f with f(params) -> scalar, "
                "e.g. tx.update(grads, state, params, obj_fn=lambda p: loss(p, batch))"
            )
        key, sub = jax.random.split(state.key)
        leaves, treedef = jax.tree.flatten(params)
        keys = jax.random.split(sub, len(leaves))
        signs = _rademacher_like(keys, leaves)
        u = jax.tree.unflatten(treedef, signs)
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (u,))[1]
        return jax.tree.map(lambda a, b: a * b, hvp, u), HutchinsonState(key)

    return GradientTransformation(init, update)


def _rademacher_like(keys: jax.Array, leaves: list[Any]) -> list[jax.Array]:
    """``rademacher(keys[i], shape of leaves[i])`` as float32 signs in each leaf's dtype.

    The draws of same-shaped leaves are one vmapped draw over their keys (the same bits as
    one call per key), so the generator is compiled once per shape, not once per leaf.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(leaves):
        groups.setdefault(tuple(jnp.shape(p)), []).append(i)
    signs: list[Any] = [None] * len(leaves)
    for shape, members in groups.items():
        draw = lambda k, shape=shape: jax.random.rademacher(k, shape, jnp.float32)  # noqa: E731
        if len(members) == 1:
            drawn = [draw(keys[members[0]])]
        else:
            drawn = list(jax.vmap(draw)(keys[np.asarray(members)]))
        for i, d in zip(members, drawn):
            signs[i] = d.astype(jnp.result_type(leaves[i]))
    return signs


@_validate.public_call("optx.scale_by_sophia")
def scale_by_sophia(
    b1: ScalarOrSchedule = 0.965,
    b2: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    gamma: ScalarOrSchedule = 0.01,
    clip_threshold: ScalarOrSchedule | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
    *,
    convention: str = "optax",
) -> GradientTransformation:
    """Scales updates by Sophia's clipped ratio of momentum to a diagonal Hessian EMA.

    Update rule (t the 1-based update count, k = ``update_interval``, ``h_hat`` the
    output of ``hessian_diagonal_fn``, by default Hutchinson's ``u * (H u)``)::

        m = b1 * m + (1 - b1) * g
        every k-th update (t = 1, k + 1, 2k + 1, ...):  h = b2 * h + (1 - b2) * h_hat
        u = clip(m_hat / max(gamma * h, eps), -clip_threshold, clip_threshold)

    ``convention="optax"`` (the default, Optax's ``optax.contrib.sophia`` and the authors'
    code): ``m_hat = m / (1 - b1**t)`` and the ratio reads ``h`` as it was *before* this
    update's refresh (the first update divides by ``eps`` and is clipped to
    ``+-clip_threshold``). ``convention="paper"`` (Algorithm 3 of the paper): ``m_hat =
    m`` with no bias correction and the refreshed ``h`` is used by the same update.
    ``clip_threshold=None`` turns clipping off. The paper's ``rho`` is ``gamma``.

    Calling convention (as Optax): ``update(grads, state, params, obj_fn=f)``; every extra
    keyword argument is passed to ``hessian_diagonal_fn.update`` (Hutchinson's needs
    ``obj_fn``, ``f(params) -> scalar``, the loss of the current batch). The Hessian
    estimate is computed (under `jax.lax.cond`) only on refresh updates; its own state
    (the PRNG key) sits in ``hessian_fn_state``. With several devices the estimate must be
    averaged across them by ``hessian_diagonal_fn`` (the default does not).

    State: ``mu`` and ``nu`` of the params' sizes, plus the estimator's state.

    Args:
      b1: decay of the gradient EMA, in [0, 1).
      b2: decay of the Hessian EMA, in [0, 1); it decays once per refresh, so its
        per-update decay is about ``1 - (1 - b2) / update_interval``.
      eps: floor of the denominator, >= 0.
      gamma: scale of the Hessian in the denominator (the paper's rho), > 0.
      clip_threshold: bound of each coordinate of the update, > 0, or None for none.
      update_interval: k, updates between Hessian refreshes (int >= 1).
      hessian_diagonal_fn: a `GradientTransformation` returning a diagonal Hessian
        estimate in place of the updates; default `hutchinson_estimator_diag_hessian`.
      mu_dtype: dtype of ``mu``; default float32 for narrower params.
      verbose: print the win rate (fraction of unclipped coordinates) with
        `jax.debug.print` every ``print_win_rate_every_n_steps`` updates.
      print_win_rate_every_n_steps: int >= 0; 0 prints nothing.
      convention: ``"optax"`` or ``"paper"``, see above.

    Raises:
      ValueError: a decay outside [0, 1), a negative eps, a gamma or clip_threshold that
        is not positive, a bad ``update_interval``, an unknown ``convention``; ``update``
        without params.
      TypeError: complex params at ``init`` (the ratio and clip need real values).

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> f = lambda w: jnp.sum(w**2)
      >>> tx = optx.scale_by_sophia(convention="paper", gamma=1.0)
      >>> w = jnp.array([0.5, -0.25])
      >>> tx.update(jax.grad(f)(w), tx.init(w), w, obj_fn=f)[0]  # (1 - b1) g / (0.01 * 2)
      Array([ 1.  , -0.875], dtype=float32)

    References:
      Liu et al., 2023, Sophia: A Scalable Stochastic Second-order Optimizer for Language
      Model Pre-training, https://arxiv.org/abs/2305.14342
    """
    call = "optx.scale_by_sophia"
    _validate.check_int(call, "update_interval", update_interval, low=1)
    _validate.check_int(call, "print_win_rate_every_n_steps", print_win_rate_every_n_steps)
    _validate.check_choice(call, "convention", convention, ("optax", "paper"))
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype)
    if hessian_diagonal_fn is None:
        hessian_diagonal_fn = hutchinson_estimator_diag_hessian()
    _validate.check_transformation(call, "hessian_diagonal_fn", hessian_diagonal_fn)
    specs: dict[str, Any] = {"b1": b1, "b2": b2, "eps": eps, "gamma": gamma}
    constraints = {"gamma": _constraints.POSITIVE}
    if clip_threshold is not None:
        specs["clip_threshold"] = clip_threshold
        constraints["clip_threshold"] = _constraints.POSITIVE
    hyperparams = Hyperparams(call, decays=("b1", "b2"), constraints=constraints, **specs)
    hess = hessian_diagonal_fn
    hess_update = _accepting_extra_args(hess.update)
    paper = convention == "paper"
    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(
            public, params, "max(gamma h, eps) and the clip need an order of real values"
        )
        return ScaleBySophiaState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            _tree.moments_like(params),
            hess.init(params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        _tree.require_params(call, params)
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("b1", state.mu, updates, order=1)

        def refresh(operand):
            hess_state, nu = operand
            estimate, hess_state = hess_update(updates, hess_state, params, **extra_args)
            return hess_state, h.moment("b2", nu, estimate, order=1)

        refreshed = jax.lax.cond(
            state.count % update_interval == 0,
            refresh,
            lambda operand: operand,
            (state.hessian_fn_state, state.nu),
        )
        hess_state, nu = refreshed
        scale = jnp.ones([], h["b1"].dtype) if paper else 1 / h.bias_correction("b1")
        denominators = nu if paper else state.nu

        def one(g, m, v):
            wide = _tree.wide_dtype(g)
            ratio = scale.astype(wide) * m.astype(wide)
            ratio = ratio / jnp.maximum(
                h["gamma"].astype(wide) * v.astype(wide), h["eps"].astype(wide)
            )
            if clip_threshold is not None:
                c = h["clip_threshold"].astype(wide)
                ratio = jnp.clip(ratio, -c, c)
            return ratio.astype(g.dtype)

        new = jax.tree.map(one, updates, mu, denominators)
        if verbose and clip_threshold is not None and print_win_rate_every_n_steps > 0:
            c = h["clip_threshold"]
            kept = sum(jnp.sum(jnp.abs(u) < c.astype(u.dtype)) for u in jax.tree.leaves(new))
            size = sum(jnp.size(u) for u in jax.tree.leaves(new))
            jax.lax.cond(
                h.count % print_win_rate_every_n_steps == 0,
                lambda: jax.debug.print("optx.sophia win rate: {}", kept / size),
                lambda: None,
            )
        return new, ScaleBySophiaState(h.count, mu, nu, hess_state, h.state)

    return GradientTransformation(init, update)

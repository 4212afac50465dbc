"""Shampoo: a blocked Kronecker-factored preconditioner with grafted step sizes."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._constraints import CLOSED_UNIT_INTERVAL, NON_NEGATIVE, POSITIVE
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms import _preconditioner_blocks as pb

_GRAFTS = ("adam", "rmsprop", "sgd", "none")
_ROOTS = {"eigh": pb.inverse_root_eigh, "newton": pb.inverse_root_newton}


class ShampooLeafState(NamedTuple):
    """The state of one leaf of `scale_by_shampoo`.

    Attributes:
      factors: for a preconditioned leaf of rank k, k stacks of statistics, axis i of shape
        ``(num_blocks, b_i, b_i)`` (``L = sum G G^T``, ``R = sum G^T G`` of each block for a
        matrix); replicated on the params' mesh. ``()`` for a diagonal leaf.
      roots: the inverse roots of ``factors`` as of the last refresh (same shapes).
      diagonal: for a diagonal leaf, the elementwise statistic ``sum g**2`` (shaped and
        placed like the param); ``()`` for a preconditioned leaf.
      graft: the grafted optimizer's second moment (``graft`` "adam" or "rmsprop"), shaped
        and placed like the param; ``()`` otherwise.
    """

    factors: tuple
    roots: tuple
    diagonal: Any
    graft: Any


class ScaleByShampooState(NamedTuple):
    """State of `scale_by_shampoo`: the count, a `ShampooLeafState` per leaf, hyperparams."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    leaves: Any
    hyperparams: HyperparamsState


_WHY_REAL = (
    "its Kronecker factors are real symmetric (G G^T) with real eigenvalues in a sorted "
    "order; complex gradients would need Hermitian factors (G G^H), not implemented"
)


def _is_leaf_state(x: Any) -> bool:
    return isinstance(x, ShampooLeafState)


@_validate.public_call("optx.scale_by_shampoo")
def scale_by_shampoo(
    b2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-6,
    graft_b2: ScalarOrSchedule = 0.999,
    graft_eps: ScalarOrSchedule = 1e-8,
    *,
    block_size: int = 128,
    precondition_frequency: int = 10,
    start_preconditioning_step: int = 10,
    root_method: str = "eigh",
    exponent_override: int | None = None,
    graft: str = "adam",
    max_preconditioner_dim: int = 4096,
) -> GradientTransformation:
    """Scales updates by Shampoo's blocked Kronecker-factored preconditioner (Gupta et al.).

    Update rule for a matrix leaf (t is the 1-based update count; each block ``G`` of at
    most ``block_size`` rows and columns is preconditioned on its own)::

        L = b2 * L + c * G G^T        R = b2 * R + c * G^T G      (c = 1 if b2 == 1, else 1 - b2)
        every precondition_frequency updates from t = start_preconditioning_step:
            PL = (L + eps * lmax(L) I)^(-1/4)      PR = (R + eps * lmax(R) I)^(-1/4)
        P = PL G PR
        A = the grafted optimizer's update of G (its block of it)
        u = P * ||A|| / ||P||                        (graft "none": u = P)
        before start_preconditioning_step: u = A     (graft "none": u = g)

    A leaf of rank k gets one factor per axis and roots of exponent ``-1/(2k)``
    (``exponent_override=p`` uses ``-1/p``). ``b2 = 1`` sums statistics as in Gupta et al.;
    ``b2 < 1`` is Distributed Shampoo's moving average. The damping ``eps`` is *relative*
    to the largest eigenvalue of each factor (Anil et al.'s ridge epsilon), after clamping
    eigenvalues at 0; a block whose factor is all zero keeps the identity. The roots are
    computed in one `jax.lax.cond`, so their cost is paid only when they are refreshed,
    batched (vmapped) over the same-shaped factors of all blocks and leaves, in float32
    (float64 for float64 params) even for bf16 params, by ``eigh`` or by the coupled
    Newton iteration (``root_method="newton"``, ``lmax`` by power iteration).

    Blocks are padded: an axis of length n is cut into ``ceil(n / b)`` blocks of length
    ``b = min(block_size, n)`` and the last one is zero-padded. Padding changes nothing
    (zero rows of G add nothing to L or R, and the root keeps them zero) but costs the
    compute of whole blocks. Leaves of rank 0 or 1 and leaves with an axis longer than
    ``max_preconditioner_dim`` get the diagonal analogue instead: ``d = b2 * d + c * g**2``
    and ``P = g * (d + eps * max(d))^(-1/2)`` every step, grafted over the whole leaf.

    Grafting (Agarwal et al., 2020) takes each block's step length from the grafted
    optimizer: "adam" is ``g / (sqrt(v / (1 - graft_b2**t)) + graft_eps)`` with
    ``v = graft_b2 * v + (1 - graft_b2) * g**2`` (Adam's second moment only, as Distributed
    Shampoo's Adam graft), "rmsprop" the same without the bias correction, "sgd" ``g``.
    Momentum and weight decay are left to the chain (see `optx.shampoo`).

    State sizes, per preconditioned leaf of shape ``(n_1, ..., n_k)`` with
    ``B = prod ceil(n_i / b_i)`` blocks: factors and roots ``B * sum_i b_i**2`` floats each
    (for a matrix whose axes ``block_size`` divides, twice the param's size each),
    replicated on the params' mesh (each device needs whole factors for the roots); per
    diagonal leaf one param-sized statistic; with graft "adam" or "rmsprop" one param-sized
    second moment per leaf. All in float32 (float64 for float64 params).

    Args:
      b2: statistics decay in [0, 1]; 1 sums them (Gupta et al.).
      eps: relative damping of each factor, > 0.
      graft_b2: decay of the graft's second moment, in [0, 1).
      graft_eps: the graft's epsilon, >= 0.
      block_size: largest block length along each axis, >= 1.
      precondition_frequency: updates between refreshes of the roots, >= 1.
      start_preconditioning_step: the first update preconditioned by Shampoo (and the
        first refresh), >= 1; updates before it are the graft's.
      root_method: "eigh" or "newton".
      exponent_override: ``p`` of the roots ``X^(-1/p)`` instead of ``2 * rank``; None.
      graft: "adam", "rmsprop", "sgd" or "none".
      max_preconditioner_dim: leaves with a longer axis get the diagonal fallback.

    Raises:
      ValueError: a decay outside its interval, eps <= 0, a negative graft_eps, an int
        option below 1, or an unknown root_method or graft.
      TypeError: complex params (at ``init``), or an int option that is not an int.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_shampoo(eps=1e-12, graft="none", start_preconditioning_step=1)
      >>> g = jnp.array([[2.0, 0.0], [0.0, 8.0]])
      >>> u, _ = tx.update(g, tx.init(jnp.zeros((2, 2))))
      >>> jnp.round(u, 4)  # (G G^T)^(-1/4) G (G^T G)^(-1/4)
      Array([[1., 0.],
             [0., 1.]], dtype=float32)

    References:
      Gupta, Koren and Singer, 2018, Shampoo: Preconditioned Stochastic Tensor
      Optimization, https://arxiv.org/abs/1802.09568;
      Anil et al., 2020, Scalable Second Order Optimization for Deep Learning,
      https://arxiv.org/abs/2002.09018;
      Shi et al., 2023, A Distributed Data-Parallel PyTorch Implementation of the
      Distributed Shampoo Optimizer, https://arxiv.org/abs/2309.06497
    """
    call = "optx.scale_by_shampoo"
    for name, value in (
        ("block_size", block_size),
        ("precondition_frequency", precondition_frequency),
        ("start_preconditioning_step", start_preconditioning_step),
        ("max_preconditioner_dim", max_preconditioner_dim),
    ):
        _validate.check_int(call, name, value, low=1)
    if exponent_override is not None:
        _validate.check_int(call, "exponent_override", exponent_override, low=1)
    _validate.check_choice(call, "root_method", root_method, tuple(_ROOTS))
    _validate.check_choice(call, "graft", graft, _GRAFTS)
    hyperparams = Hyperparams(
        call,
        b2=b2,
        eps=eps,
        graft_b2=graft_b2,
        graft_eps=graft_eps,
        decays=("b2", "graft_b2"),
        constraints={"b2": CLOSED_UNIT_INTERVAL, "eps": POSITIVE, "graft_eps": NON_NEGATIVE},
    )
    graft_moment = graft in ("adam", "rmsprop")
    root_fn = _ROOTS[root_method]

    def preconditioned(shape: tuple[int, ...]) -> bool:
        return len(shape) >= 2 and max(shape) <= max_preconditioner_dim

    def leaf_init(p: Any) -> ShampooLeafState:
        wide = pb.wide_of(p)
        graft_state = jnp.zeros_like(p, dtype=wide) if graft_moment else ()
        shape = jnp.shape(p)
        if not preconditioned(shape):
            return ShampooLeafState((), (), jnp.zeros_like(p, dtype=wide), graft_state)
        block, counts = pb.block_layout(shape, block_size)

        def stacks():  # distinct buffers for the factors and the roots (both donatable)
            return tuple(pb.replicated_zeros(p, (math.prod(counts), b, b), wide) for b in block)

        return ShampooLeafState(stacks(), stacks(), (), graft_state)

    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(public, params, _WHY_REAL)
        return ScaleByShampooState(
            hyperparams.init_count(params),
            jax.tree.map(leaf_init, params),
            hyperparams.init(params),
        )

    def check(updates, leaves):
        expected = jax.tree.map(lambda _: 0, leaves, is_leaf=_is_leaf_state)
        _tree.check_structure(call, expected, jax.tree.map(lambda _: 0, updates))
        flat = jax.tree.leaves(leaves, is_leaf=_is_leaf_state)
        for (path, g), leaf in zip(jax.tree_util.tree_leaves_with_path(updates), flat):
            shape = jnp.shape(g)
            if preconditioned(shape):
                block, counts = pb.block_layout(shape, block_size)
                want = tuple((math.prod(counts), b, b) for b in block)
                ok = tuple(jnp.shape(f) for f in leaf.factors) == want
            else:
                ok = not leaf.factors and jnp.shape(leaf.diagonal) == shape
            if not ok:
                raise ValueError(
                    f"{call}: updates at {jax.tree_util.keystr(path)} have shape {shape}, "
                    "which is not the shape the state was built for; call init again on "
                    "the current params"
                )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        check(updates, state.leaves)
        h = hyperparams.resolve(state.hyperparams, state.count)
        t = h.count
        c = jnp.where(h["b2"] < 1, h.complement("b2"), 1.0)
        leaves_in = jax.tree.leaves(state.leaves, is_leaf=_is_leaf_state)
        grads, treedef = jax.tree.flatten(updates)

        # Statistics and graft moments of every leaf.
        stats, grafted, blocks = [], [], []
        for g, leaf in zip(grads, leaves_in):
            wide = pb.wide_of(g)
            gw = g.astype(wide)
            b2_, c_ = h["b2"].astype(wide), c.astype(wide)
            if leaf.factors:
                block, counts = pb.block_layout(gw.shape, block_size)
                x = pb.to_blocks(pb.gathered(gw), block, counts)
                factors = tuple(
                    pb.replicated(b2_ * f + c_ * pb.axis_statistic(x, i))
                    for i, f in enumerate(leaf.factors)
                )
                diagonal: Any = ()
            else:
                x, factors = gw, ()
                diagonal = b2_ * leaf.diagonal + c_ * gw * gw
            if graft_moment:
                one_minus = h.complement("graft_b2").astype(wide)
                v = leaf.graft + one_minus * (gw * gw - leaf.graft)
                denom_v = v / h.bias_correction("graft_b2").astype(wide) if graft == "adam" else v
                a = gw / (jnp.sqrt(denom_v) + h["graft_eps"].astype(wide))
                graft_state: Any = v
            else:
                a, graft_state = gw, ()
            stats.append((factors, diagonal, graft_state))
            grafted.append(a)
            blocks.append(x)

        # The roots of every factor, refreshed together inside one cond.
        start = jnp.int32(start_preconditioning_step)
        refresh = (t >= start) & ((t - start) % precondition_frequency == 0)
        all_factors = tuple(s[0] for s in stats)
        old_roots = tuple(leaf.roots for leaf in leaves_in)

        def compute(factors_tuple, _):
            # Every factor of every leaf; same-shaped ones (and same exponent) share one
            # vmapped root.
            operands, exponents = [], []
            for factors in factors_tuple:
                p = exponent_override or 2 * len(factors)
                operands += [(f,) for f in factors]
                exponents += [p] * len(factors)

            def roots_of(p, stack):
                return jax.vmap(functools.partial(root_fn, p=p, eps=h["eps"]))(stack)

            flat = iter(
                pb.batched_by_shape(roots_of, operands, exponents, serial=root_method == "eigh")
            )
            return tuple(
                tuple(pb.replicated(next(flat)) for _ in factors) for factors in factors_tuple
            )

        roots_all = jax.lax.cond(refresh, compute, lambda _, r: r, all_factors, old_roots)
        roots_all = jax.tree.map(pb.replicated, roots_all)  # as the roots came in

        new_updates, new_leaves = [], []
        for g, x, a, (factors, diagonal, graft_state), roots in zip(
            grads, blocks, grafted, stats, roots_all
        ):
            wide = pb.wide_of(g)
            if factors:
                block, counts = pb.block_layout(g.shape, block_size)
                y = x
                for i, r in enumerate(roots):
                    y = pb.along_axis(y, r, i, transpose=False)
                if graft != "none":
                    ab = pb.to_blocks(pb.gathered(a), block, counts)
                    y = y * _graft_scale(ab, y, tuple(range(1, y.ndim)))
                u = pb.placed_like(pb.from_blocks(y, g.shape, block, counts), g)
            else:
                top = jnp.max(diagonal) if diagonal.ndim else diagonal
                damped = diagonal + h["eps"].astype(wide) * top
                u = x * jnp.where(top > 0, jax.lax.rsqrt(jnp.where(top > 0, damped, 1.0)), 1.0)
                if graft != "none":
                    u = u * _graft_scale(a, u, None)
            u = jnp.where(t < start, a, u)
            new_updates.append(u.astype(g.dtype))
            new_leaves.append(ShampooLeafState(factors, roots, diagonal, graft_state))
        return jax.tree.unflatten(treedef, new_updates), ScaleByShampooState(
            t, jax.tree.unflatten(treedef, new_leaves), h.state
        )

    return _flat.per_leaf(GradientTransformation(init, update))


def _graft_scale(a: jax.Array, p: jax.Array, axes: tuple[int, ...] | None) -> jax.Array:
    """``||a|| / ||p||`` over ``axes`` (kept for broadcasting), 0 where ``p`` is zero."""
    na = jnp.sqrt(jnp.sum(a * a, axis=axes, keepdims=True))
    np_ = jnp.sqrt(jnp.sum(p * p, axis=axes, keepdims=True))
    return jnp.where(np_ > 0, na / jnp.where(np_ > 0, np_, 1.0), 0.0)

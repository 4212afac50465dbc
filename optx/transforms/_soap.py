"""SOAP: Adam run in the eigenbasis of Shampoo's Kronecker factors."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _flat, _tree, _validate
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState
from optx.transforms import _preconditioner_blocks as pb


class SoapLeafState(NamedTuple):
    """The rotation state of one leaf of `scale_by_soap`.

    Attributes:
      factors: one ``(n, n)`` factor per rotated axis of the (merged) leaf, the moving
        average of ``G G^T`` along that axis; replicated on the params' mesh.
      bases: the eigenbasis ``Q`` of each factor as of the last refresh (identity before
        the first), replicated likewise.
    """

    factors: tuple
    bases: tuple


class ScaleBySoapState(NamedTuple):
    """State of `scale_by_soap`.

    Attributes:
      count: updates done.
      mu: the first moment, in the original basis (shaped and placed like the params).
      nu: the second moment, in the rotated basis (shaped and placed like the params).
      leaves: a `SoapLeafState` per leaf.
      hyperparams: ``b1``, ``b2``, ``shampoo_beta``, ``eps``.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    mu: Any
    nu: Any
    leaves: Any
    hyperparams: HyperparamsState


_WHY_REAL = (
    "its Kronecker factors are real symmetric (G G^T) with real eigenvalues in a sorted "
    "order; complex gradients would need Hermitian factors (G G^H), not implemented"
)


def _is_leaf_state(x: Any) -> bool:
    return isinstance(x, SoapLeafState)


def _rotate(x: jax.Array, bases: tuple, axes: tuple[int, ...], *, back: bool) -> jax.Array:
    """``Q^T`` applied along each rotated axis (``Q`` with ``back``)."""
    y = x[None]
    for q, axis in zip(bases, axes):
        y = pb.along_axis(y, q[None], axis, transpose=not back)
    return y[0]


def _eigenbasis(f: jax.Array) -> jax.Array:
    """Eigenvectors of ``f`` ordered by decreasing eigenvalue."""
    return jnp.linalg.eigh(f)[1][:, ::-1]


def _power_step(f: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One QR power-iteration step from ``q``, columns sorted by estimated eigenvalue."""
    fq = f @ q
    order = jnp.argsort(-jnp.sum(q * fq, axis=0))
    return jnp.linalg.qr(fq[:, order])[0], order


@_validate.public_call("optx.scale_by_soap")
def scale_by_soap(
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.95,
    shampoo_beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    *,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
) -> GradientTransformation:
    """Scales updates by SOAP: Adam in the eigenbasis of Shampoo's factors (Vyas et al.).

    Update rule for a matrix leaf (Algorithm 3 of the paper; t is the 1-based count)::

        G' = QL^T G QR                         M = b1 * M + (1 - b1) * G
        M' = QL^T M QR                         V = b2 * V + (1 - b2) * G'**2
        u = QL [sqrt(1 - b2**t) / (1 - b1**t) * M' / (sqrt(V) + eps)] QR^T
        L = shampoo_beta * L + (1 - shampoo_beta) * G G^T      (R likewise with G^T G)
        t = 1:                       QL = eigenvectors of L  (by decreasing eigenvalue)
        t % precondition_frequency == 0:
            QL = QR(L QL[:, o])[0]    with o sorting diag(QL^T L QL) in decreasing order,
                                      and V's rows permuted by o (R, QR and V's columns
                                      likewise)

    ``M`` lives in the original basis and ``V`` in the rotated one (it is not rotated
    when the basis changes, only permuted with it, as in the authors' implementation).
    The first update is Adam's in the identity basis (the authors' code skips the first
    update and only builds the basis); the basis is refreshed after the moments, inside
    one `jax.lax.cond` per update, so eigh and QR cost only when they run. A leaf of rank
    k rotates each axis of length <= ``max_precond_dim``; longer axes stay unrotated.
    ``merge_dims`` first merges adjacent axes left to right while their product stays
    <= ``max_precond_dim`` (``(2, 3, 4)`` with 8 becomes ``(6, 4)``). Rank-0 leaves, and
    rank-1 ones unless ``precondition_1d``, are plain Adam (with this eps convention). The
    eps convention is Adam's "hat" form, ``sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) +
    eps)``, as in the authors' code. Weight decay is left to the chain (`optx.soap`).

    State sizes: ``mu`` and ``nu`` param-sized; per leaf and rotated axis of length n,
    a factor and a basis of ``n**2`` floats each, replicated on the params' mesh. All in
    float32 (float64 for float64 params).

    Args:
      b1: first-moment decay in [0, 1).
      b2: second-moment decay in [0, 1).
      shampoo_beta: decay of the factors in [0, 1).
      eps: >= 0, added to ``sqrt(V)``.
      precondition_frequency: updates between refreshes of the bases, >= 1.
      max_precond_dim: longest axis that is rotated, >= 1.
      merge_dims: merge small adjacent axes first (see above).
      precondition_1d: rotate rank-1 leaves too (an ``(n, n)`` factor each).

    Raises:
      ValueError: a decay outside [0, 1), a negative eps, or an int option below 1.
      TypeError: complex params (at ``init``), or an int option that is not an int.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_soap(eps=0.0)
      >>> u, _ = tx.update(jnp.array([[3.0, -1.0]]), tx.init(jnp.zeros((1, 2))))
      >>> jnp.round(u, 4)  # the first update is Adam's: a step of 1 per entry
      Array([[ 1., -1.]], dtype=float32)

    References:
      Vyas et al., 2024, SOAP: Improving and Stabilizing Shampoo using Adam,
      https://arxiv.org/abs/2409.11321
    """
    call = "optx.scale_by_soap"
    _validate.check_int(call, "precondition_frequency", precondition_frequency, low=1)
    _validate.check_int(call, "max_precond_dim", max_precond_dim, low=1)
    hyperparams = Hyperparams(
        call, b1=b1, b2=b2, shampoo_beta=shampoo_beta, eps=eps, decays=("b1", "b2", "shampoo_beta")
    )

    def layout(shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The merged shape and its rotated axes."""
        if len(shape) == 0 or (len(shape) == 1 and not precondition_1d):
            return shape, ()
        merged = pb.merged_shape(shape, max_precond_dim) if merge_dims else shape
        return merged, tuple(i for i, n in enumerate(merged) if n <= max_precond_dim)

    def leaf_init(p: Any) -> SoapLeafState:
        wide = pb.wide_of(p)
        merged, axes = layout(jnp.shape(p))
        factors = tuple(pb.replicated_zeros(p, (1, merged[a], merged[a]), wide)[0] for a in axes)
        bases = tuple(pb.replicated_eyes(p, 1, merged[a], wide)[0] for a in axes)
        return SoapLeafState(factors, bases)

    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(public, params, _WHY_REAL)
        return ScaleBySoapState(
            hyperparams.init_count(params),
            _tree.moments_like(params),
            _tree.moments_like(params),
            jax.tree.map(leaf_init, params),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _tree.check_structure(call, state.mu, updates)
        h = hyperparams.resolve(state.hyperparams, state.count)
        t = h.count
        scale = jnp.sqrt(h.bias_correction("b2")) / h.bias_correction("b1")
        grads, treedef = jax.tree.flatten(updates)
        mus, nus = _tree.flatten_up_to(treedef, state.mu), _tree.flatten_up_to(treedef, state.nu)
        leaves = jax.tree.leaves(state.leaves, is_leaf=_is_leaf_state)

        new_updates, new_mu, new_nu, new_factors, bases_all = [], [], [], [], []
        for g, m, v, leaf in zip(grads, mus, nus, leaves):
            wide = pb.wide_of(g)
            merged, axes = layout(g.shape)
            gw = pb.gathered(g.astype(wide)).reshape(merged)
            m = m + h.complement("b1").astype(wide) * (g.astype(wide) - m)
            g_rot = _rotate(gw, leaf.bases, axes, back=False)
            m_rot = _rotate(pb.gathered(m).reshape(merged), leaf.bases, axes, back=False)
            # V in the param's shape, so that it keeps the param's sharding under Auto axes.
            g_sq = (g_rot * g_rot).reshape(g.shape)
            v = v + h.complement("b2").astype(wide) * (pb.placed_like(g_sq, g) - v)
            v_merged = pb.gathered(v).reshape(merged)
            n_rot = scale.astype(wide) * m_rot / (jnp.sqrt(v_merged) + h["eps"].astype(wide))
            u = _rotate(n_rot, leaf.bases, axes, back=True).reshape(g.shape)
            sb = h.complement("shampoo_beta").astype(wide)
            factors = tuple(
                pb.replicated(f + sb * (pb.axis_statistic(gw[None], a)[0] - f))
                for f, a in zip(leaf.factors, axes)
            )
            new_updates.append(pb.placed_like(u, g).astype(g.dtype))
            new_mu.append(m)
            new_nu.append(v)
            new_factors.append(factors)
            bases_all.append(leaf.bases)

        def keep(factors_all, bases_all, nus):
            return bases_all, nus

        def first(factors_all, bases_all, nus):
            bases = tuple(tuple(pb.replicated(_eigenbasis(f)) for f in fs) for fs in factors_all)
            return bases, nus

        def power(factors_all, bases_all, nus):
            out_bases, out_nus = [], []
            for fs, qs, v, g in zip(factors_all, bases_all, nus, grads):
                merged, axes = layout(g.shape)
                new_qs = []
                vm = pb.gathered(v).reshape(merged)
                for f, q, a in zip(fs, qs, axes):
                    q, order = _power_step(f, q)
                    new_qs.append(pb.replicated(q))
                    vm = jnp.take(vm, order, axis=a)
                out_bases.append(tuple(new_qs))
                out_nus.append(pb.placed_like(vm.reshape(g.shape), g))
            return tuple(out_bases), tuple(out_nus)

        branch = jnp.where(t == 1, 1, jnp.where(t % precondition_frequency == 0, 2, 0))
        bases_out, nus_out = jax.lax.switch(
            branch, (keep, first, power), tuple(new_factors), tuple(bases_all), tuple(new_nu)
        )
        bases_out = jax.tree.map(pb.replicated, bases_out)  # as the bases came in
        new_leaves = [SoapLeafState(f, q) for f, q in zip(new_factors, bases_out)]
        new_nu = list(nus_out)
        new_mu = [pb.placed_like(mm, g) for mm, g in zip(new_mu, grads)]
        return jax.tree.unflatten(treedef, new_updates), ScaleBySoapState(
            t,
            jax.tree.unflatten(treedef, new_mu),
            jax.tree.unflatten(treedef, new_nu),
            jax.tree.unflatten(treedef, new_leaves),
            h.state,
        )

    return _flat.per_leaf(GradientTransformation(init, update))

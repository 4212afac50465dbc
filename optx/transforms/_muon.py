"""Muon: momentum orthogonalized by a Newton-Schulz iteration, and its shape scaling."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _flat, _tree, _validate
from optx._constraints import POSITIVE
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState, one_minus_power
from optx.transforms._preconditioner_blocks import batched_by_shape, gathered, placed_like

NS_COEFFS_PRESETS: dict[str, Any] = {
    "standard": (3.4445, -4.7750, 2.0315),
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}
_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a param form the matrix Muon orthogonalizes (as Optax's).

    The matrix is ``(prod(reduction axes), prod(output axes))`` for ``y = x @ W``: the
    reduction (fan-in) axes are its rows. Every other axis is a batch axis: each slice is
    orthogonalized on its own. Optax's ``optax.contrib.MuonDimensionNumbers`` is accepted
    wherever this is.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class ScaleByMuonState(NamedTuple):
    """State of `scale_by_muon`: the momentum ``mu`` (one array per matrix param)."""

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    mu: Any
    hyperparams: HyperparamsState


class ScaleByShapeState(NamedTuple):
    """State of `scale_by_shape`: only its hyperparameters (``consistent_rms``, if given)."""

    count: jax.Array  # type: ignore[assignment]  # the field shadows tuple.count
    hyperparams: HyperparamsState


def is_dimension_numbers(x: Any) -> bool:
    """True for an optx or Optax ``MuonDimensionNumbers``."""
    return hasattr(x, "reduction_axis") and hasattr(x, "output_axis") and isinstance(x, tuple)


def _axes(call: str, x: jax.Array, dims: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if x.ndim < 2:
        raise ValueError(
            f"{call}: Muon orthogonalizes matrices, but a leaf has shape {x.shape}; give it "
            "a None in weight_dimension_numbers (optx.muon then uses Adam for it)"
        )

    def norm(a: Any) -> tuple[int, ...]:
        return tuple(int(i) % x.ndim for i in ((a,) if isinstance(a, int) else a))

    red, out = norm(dims.reduction_axis), norm(dims.output_axis)
    if set(red) & set(out) or not red or not out:
        raise ValueError(
            f"{call}: the reduction axes {red} and output axes {out} of a leaf of shape "
            f"{x.shape} must be non-empty and disjoint; fix its MuonDimensionNumbers"
        )
    return red, out


def fans(call: str, x: jax.Array, dims: Any) -> tuple[int, int]:
    """(fan_in, fan_out): the products of the reduction and of the output axes."""
    red, out = _axes(call, x, dims)
    return math.prod(x.shape[a] for a in red), math.prod(x.shape[a] for a in out)


def leaf_dimension_numbers(call: str, dims: Any, updates: Any, *, keep_none: bool = False) -> list:
    """One ``MuonDimensionNumbers`` per leaf of ``updates`` (the default for None, unless
    ``keep_none``: then a None entry stays None)."""
    if callable(dims) and not is_dimension_numbers(dims):
        dims = dims(updates)
    n = len(jax.tree.leaves(updates))
    default = MuonDimensionNumbers()
    if dims is None:
        return [None if keep_none else default] * n
    is_leaf = lambda x: x is None or is_dimension_numbers(x)  # noqa: E731
    try:
        full = jax.tree.broadcast(dims, updates, is_leaf=is_leaf)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{call}: weight_dimension_numbers must be a tree of MuonDimensionNumbers (or "
            f"None) shaped like the params or a prefix of them: {err}"
        ) from None
    leaves = jax.tree.leaves(full, is_leaf=is_leaf)
    return [default if d is None and not keep_none else d for d in leaves]


def _ns_step(x: jax.Array, a: jax.Array, coeffs: Any) -> jax.Array:
    # One quintic step  f(X) = c0 X + (c1 A + c2 A A) X  with A = X X^H.
    b = coeffs[1] * a + coeffs[2] * (a @ a)
    return coeffs[0] * x + b @ x


def _gram(x: jax.Array) -> jax.Array:
    return x @ jnp.conj(x).T


def _orthogonalize(x: jax.Array, coeffs: np.ndarray, preconditioning: str, eps: Any) -> jax.Array:
    """Newton-Schulz on one matrix with rows <= cols; the steps run in one `lax.scan`."""
    real = _tree.real_dtype(x.dtype)
    eps = eps.astype(real)
    rows = jnp.asarray(coeffs, x.dtype)  # (iterations, 3), rounded as each constant was
    start = 0
    if preconditioning == "frobenius":
        x = x / (jnp.sqrt(jnp.sum(_tree.abs_sq(x))) + eps).astype(x.dtype)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps).astype(x.dtype)
    else:  # aol / schatten rescale inside the first step
        a = _gram(x)
        if preconditioning == "aol":
            s = jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.abs(a), axis=-1), eps))
            x = x * s[:, None].astype(x.dtype)
            a = a * (s[:, None] * s[None, :]).astype(a.dtype)
        else:
            s = jax.lax.rsqrt(jnp.maximum(jnp.sqrt(jnp.sum(_tree.abs_sq(a))), eps))
            x, a = x * s.astype(x.dtype), a * (s * s).astype(a.dtype)
        x = _ns_step(x, a, rows[0])
        start = 1
    if start == rows.shape[0]:
        return x
    step = lambda x, row: (_ns_step(x, _gram(x), row), None)  # noqa: E731
    return jax.lax.scan(step, x, rows[start:])[0]


def _as_matrices(call: str, x: jax.Array, dims: Any) -> tuple[jax.Array, Callable]:
    """``x`` as a stack ``(batch, rows, cols)`` with rows <= cols, and the inverse map.

    The matrix axes are given by ``dims``; every other axis is a batch axis. A matrix with
    more rows than columns is transposed: ``f(X^T) = f(X)^T``, and the iteration runs on
    the smaller Gram matrix.
    """
    red, out = _axes(call, x, dims)
    batch = tuple(a for a in range(x.ndim) if a not in red and a not in out)
    perm = batch + red + out
    shape = tuple(x.shape[a] for a in perm)
    rows = math.prod(x.shape[a] for a in red)
    flat = jnp.transpose(x, perm).reshape((math.prod(shape[: len(batch)]), rows, -1))
    transposed = flat.shape[1] > flat.shape[2]
    if transposed:
        flat = jnp.swapaxes(flat, 1, 2)
    inverse_perm = tuple(int(i) for i in np.argsort(perm))

    def back(y: jax.Array) -> jax.Array:
        if transposed:
            y = jnp.swapaxes(y, 1, 2)
        return jnp.transpose(y.reshape(shape), inverse_perm)

    return flat, back


def newton_schulz(
    call: str,
    xs: Sequence[jax.Array],
    dims: Sequence[Any],
    coeffs: np.ndarray,
    preconditioning: str,
    eps: Any,
) -> list[jax.Array]:
    """Orthogonalizes each ``x`` of ``xs`` (any rank, its matrix given by its ``dims``).

    Every leaf becomes a stack of matrices (its batch axes, see `_as_matrices`); stacks of
    one matrix shape and dtype are concatenated and run through one vmapped iteration, so
    a tree with many same-shaped layers has one iteration per shape, not per leaf (each
    matrix is still orthogonalized on its own). Under Explicit mesh axes a sharded ``x`` is
    gathered first (its products contract the sharded axes) and the result is placed back
    as ``x`` was.
    """
    views = [_as_matrices(call, gathered(x), d) for x, d in zip(xs, dims)]
    one = lambda m: _orthogonalize(m, coeffs, preconditioning, eps)  # noqa: E731
    done = batched_by_shape(lambda _, stack: jax.vmap(one)(stack), [(v,) for v, _ in views])
    return [placed_like(back(y), x) for (_, back), y, x in zip(views, done, xs)]


def ns_coefficients(call: str, ns_coeffs: Any, ns_steps: int) -> np.ndarray:
    """The coefficients as an ``(iterations, 3)`` float64 array, checked."""
    if isinstance(ns_coeffs, str):
        _validate.check_choice(call, "ns_coeffs", ns_coeffs, tuple(NS_COEFFS_PRESETS))
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    try:
        arr = np.asarray(ns_coeffs, np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3 or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{call}: ns_coeffs must be three finite numbers (a, b, c), a tuple of such "
            f"triples (one per iteration) or a preset {sorted(NS_COEFFS_PRESETS)}, got "
            f"{ns_coeffs!r}"
        )
    return np.tile(arr, (ns_steps, 1)) if arr.ndim == 1 else arr


@_validate.public_call("optx.scale_by_muon")
def scale_by_muon(
    ns_coeffs: Any = NS_COEFFS_PRESETS["standard"],
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
    bias_correction: bool = True,
) -> GradientTransformation:
    """Orthogonalizes the momentum of each matrix by a Newton-Schulz iteration (Muon).

    Update rule (t the 1-based count; ``NS`` the iteration below)::

        m = beta * m + (1 - beta) * g
        m_hat = m / (1 - beta**t)                                       (nesterov=False)
        m_hat = beta * m / (1 - beta**(t+1)) + (1 - beta) * g / (1 - beta**t)   (nesterov)
        u = NS(m_hat)                   (adaptive: u = Re<m_hat, NS(m_hat)> * NS(m_hat))

    ``NS`` first scales the matrix ``X`` by ``1 / (||X||_F + eps)`` (``preconditioning``:
    ``"frobenius"``; ``"spectral"`` uses the spectral norm; ``"aol"`` and ``"schatten"``
    rescale inside the first step, as Optax), then iterates the quintic
    ``X <- a X + (b A + c A A) X`` with ``A = X X^H`` ``ns_steps`` times, on the transpose
    when the matrix has more rows than columns. The default ``(a, b, c) = (3.4445,
    -4.7750, 2.0315)`` (Keller Jordan's) maximize the slope at zero: the singular values of
    the result lie in about [0.68, 1.13] instead of converging to 1, so ``NS(X)`` is close
    to the polar factor ``U V^H`` of ``X = U S V^H``.

    Same arguments and meaning as ``optax.contrib.scale_by_muon``; ``ns_coeffs`` also takes
    Optax's presets ``"standard"`` and ``"dion"`` (``optax.contrib.muon`` takes them only in
    the alias). With ``bias_correction=False`` the momentum is not bias-corrected:
    ``m_hat = beta * m + (1 - beta) * g`` (nesterov) or ``m``, which is torch.optim.Muon's
    and Keller Jordan's rule up to a constant factor that the normalization removes (torch
    writes ``B = beta * B + g``; it also divides by ``max(||X||_F, eps)`` where Optax and
    optx divide by ``||X||_F + eps``: the two agree for ``eps=0`` and differ by a relative
    ``eps / ||X||_F`` otherwise).

    Complex params: supported. ``NS`` uses conjugate transposes, so it maps
    ``U S V^H`` to ``U f(S) V^H`` for complex matrices too (Optax's AOL and Schatten first
    steps transpose without conjugating; optx conjugates), and ``adaptive`` uses the real
    part of the inner product. State: ``mu``, one array per param (``mu_dtype``, default
    float32 at least), plus the count and hyperparameters.

    Args:
      ns_coeffs: ``(a, b, c)``, a tuple of such triples (one per iteration; then
        ``ns_steps`` is ignored), or a preset name.
      ns_steps: iterations (int >= 1).
      beta: momentum decay in [0, 1).
      eps: >= 0, added to the norm the matrix is divided by (and the floor of the AOL and
        Schatten rescalings).
      mu_dtype: dtype of the momentum.
      nesterov: Nesterov momentum (Optax's default True).
      adaptive: scale by the dual norm ``Re<m_hat, NS(m_hat)>`` (Bernstein and Newhouse).
      preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``.
      weight_dimension_numbers: None (every leaf is a matrix, rows the reduction axis), a
        `MuonDimensionNumbers` for every leaf, a tree of them (or None: the default) shaped
        like the params or a prefix, or a function ``params -> such a tree``.
      bias_correction: divide the momentum by ``1 - beta**t`` (Optax); False for torch's
        and Keller Jordan's rule.

    Raises:
      ValueError: bad ``ns_coeffs``, ``ns_steps``, ``beta``, ``eps`` or
        ``preconditioning``; at update, a leaf of rank < 2 or bad dimension numbers.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_muon(beta=0.0, nesterov=False)
      >>> g = jnp.array([[3.0, 0.0], [0.0, 0.1]])
      >>> u, _ = tx.update(g, tx.init(g))
      >>> bool(jnp.all(jnp.abs(jnp.diag(u) - 1.0) < 0.35))  # both singular values near 1
      True

    References:
      Jordan et al., 2024, Muon: An optimizer for hidden layers in neural networks,
      https://kellerjordan.github.io/posts/muon/ ;
      Bernstein and Newhouse, 2024, Old Optimizer, New Norm: An Anthology,
      https://arxiv.org/abs/2409.20325
    """
    call = _validate.current_call("optx.scale_by_muon")  # optx.muon when built by it
    _validate.check_int(call, "ns_steps", ns_steps, low=1)
    coeffs = ns_coefficients(call, ns_coeffs, ns_steps)
    _validate.check_float_dtype(call, "mu_dtype", mu_dtype, complex_ok=True)
    _validate.check_choice(call, "preconditioning", preconditioning, _PRECONDITIONINGS)
    hyperparams = Hyperparams(call, beta=beta, eps=eps, decays=("beta",))
    dims_spec = weight_dimension_numbers

    def init(params):
        return ScaleByMuonState(
            hyperparams.init_count(params),
            _tree.moments_like(params, mu_dtype),
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)
        mu = h.moment("beta", state.mu, updates)
        b, one_minus_b = h["beta"], h.complement("beta")
        if bias_correction:
            c_t = h.bias_correction("beta")
            c_next = one_minus_power(one_minus_b, _tree.safe_increment(h.count))
            m_coef = b / c_next if nesterov else 1 / c_t
            g_coef = one_minus_b / c_t
        else:
            m_coef = b if nesterov else jnp.ones_like(b)
            g_coef = one_minus_b

        def momentum(g, m):
            wide = _tree.wide_dtype(g)
            m_hat = m_coef.astype(wide) * m.astype(wide)
            if nesterov:
                m_hat = m_hat + g_coef.astype(wide) * g.astype(wide)
            return m_hat

        dims = leaf_dimension_numbers(call, dims_spec, updates)
        leaves, treedef = jax.tree.flatten(updates)
        m_hats = [momentum(g, m) for g, m in zip(leaves, _tree.flatten_up_to(treedef, mu))]
        orthogonal = newton_schulz(call, m_hats, dims, coeffs, preconditioning, h["eps"])
        out = []
        for g, m_hat, u in zip(leaves, m_hats, orthogonal):
            if adaptive:
                u = jnp.real(jnp.sum(jnp.conj(m_hat) * u)).astype(u.dtype) * u
            out.append(u.astype(g.dtype))
        return jax.tree.unflatten(treedef, out), ScaleByMuonState(h.count, mu, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


@_validate.public_call("optx.scale_by_shape")
def scale_by_shape(
    weight_dimension_numbers: Any | Callable[[Any], Any] = None,
    consistent_rms: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    """Scales each matrix update by a factor of its shape (Muon's learning-rate adjustment).

    Update rule, with ``fan_in``/``fan_out`` the products of the reduction/output axes::

        u = sqrt(max(1, fan_out / fan_in)) * g              (consistent_rms=None)
        u = consistent_rms * sqrt(max(fan_in, fan_out)) * g  (consistent_rms given)

    As ``optax.contrib.scale_by_shape``. The first is Keller Jordan's width scaling and
    torch.optim.Muon's ``adjust_lr_fn="original"`` (torch's ``sqrt(max(1, rows / cols))``
    for its ``(out, in)`` weights); ``consistent_rms=0.2`` is torch's
    ``"match_rms_adamw"`` (Liu et al., 2025). Leaves as in `scale_by_muon`.

    Args:
      weight_dimension_numbers: as in `scale_by_muon`.
      consistent_rms: None, or the target RMS (> 0; float, array or schedule).

    Raises:
      ValueError: a non-positive ``consistent_rms``; at update, a leaf of rank < 2.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_shape()
      >>> tx.update(jnp.ones((1, 4)), tx.init(jnp.ones((1, 4))))[0]
      Array([[2., 2., 2., 2.]], dtype=float32)

    References:
      Liu et al., 2025, Muon is Scalable for LLM Training, https://arxiv.org/abs/2502.16982
    """
    call = _validate.current_call("optx.scale_by_shape")
    specs: dict[str, Any] = {} if consistent_rms is None else {"consistent_rms": consistent_rms}
    hyperparams = Hyperparams(call, constraints=dict.fromkeys(specs, POSITIVE), **specs)

    def init(params):
        return ScaleByShapeState(hyperparams.init_count(params), hyperparams.init(params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        h = hyperparams.resolve(state.hyperparams, state.count)

        def one(g, dims):
            fan_in, fan_out = fans(call, g, dims)
            wide = _tree.wide_dtype(g)
            if consistent_rms is None:
                scale = jnp.asarray(math.sqrt(max(1.0, fan_out / fan_in)), _tree.real_dtype(wide))
            else:
                scale = h["consistent_rms"] * math.sqrt(max(fan_in, fan_out))
            return (scale.astype(wide) * g.astype(wide)).astype(g.dtype)

        dims = leaf_dimension_numbers(call, weight_dimension_numbers, updates)
        leaves, treedef = jax.tree.flatten(updates)
        out = jax.tree.unflatten(treedef, [one(g, d) for g, d in zip(leaves, dims)])
        return out, ScaleByShapeState(h.count, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))

"""Adafactor's building blocks: a factored second moment and the relative (parameter) scale."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx import _flat, _tree, _validate
from optx._constraints import NON_NEGATIVE, POSITIVE
from optx._core import EmptyState, GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ScaleByFactoredRmsState(NamedTuple):
    """State of `scale_by_factored_rms`.

    Attributes:
      count: updates done.
      v_row: per leaf, the row statistics (the leaf's shape without its largest axis) for
        factored leaves; a scalar placeholder (float32 at least) for the others.
      v_col: the column statistics (without the second-largest axis), or a scalar.
      v: the full second moment for leaves that are not factored, or a scalar.
      hyperparams: ``decay_rate`` and ``epsilon``.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    v_row: Any
    v_col: Any
    v: Any
    hyperparams: HyperparamsState


def factored_axes(shape: tuple[int, ...], factored: bool, min_dim: int) -> tuple[int, int] | None:
    """(second-largest axis, largest axis) of a leaf to factor over, or None if not factored.

    A leaf is factored when it has rank >= 2 and its second-largest axis has at least
    ``min_dim`` entries (ties go to the later axis, as in Optax).
    """
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim:
        return None
    return int(order[-2]), int(order[-1])


@_validate.public_call("optx.scale_by_factored_rms")
def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: ScalarOrSchedule = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: ScalarOrSchedule = 1e-30,
) -> GradientTransformation:
    """Scales updates by a factored estimate of the gradient's RMS (Adafactor's core).

    Update rule (k = count - step_offset, the 0-based step)::

        beta = 1 - (k + 1)**(-decay_rate)                  (0 at the first step)
        q = g**2 + epsilon
        factored leaves, r = largest axis, c = second-largest axis:
          R = beta * R + (1 - beta) * mean(q, axis=r)     (rows)
          C = beta * C + (1 - beta) * mean(q, axis=c)     (columns)
          u = g * rsqrt(R / mean(R, axis=c)) * rsqrt(C)  (broadcast back)
        other leaves:
          v = beta * v + (1 - beta) * q
          u = g * rsqrt(v)

    Only the factor vectors are stored for factored leaves, so memory is O(n + m) for an
    n x m matrix. Leaves of rank < 2, or whose second-largest axis is shorter than
    ``min_dim_size_to_factor``, keep a full second moment; the slots they do not use hold
    a scalar, float32 at least (Optax holds a shape-(1,) array). Same as Optax's
    ``scale_by_factored_rms``.

    Args:
      factored: factor leaves of rank >= 2 at all.
      decay_rate: > 0, the exponent of the decay schedule above (the paper's 0.8).
      step_offset: an int >= 0, subtracted from the count (restart the schedule when
        fine-tuning).
      min_dim_size_to_factor: an int >= 1, see above.
      epsilon: >= 0, added to the squared gradients (the paper's epsilon1).

    Raises:
      ValueError: a decay_rate <= 0, a negative epsilon or offset.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.scale_by_factored_rms(min_dim_size_to_factor=2)
      >>> g = jnp.array([[1.0, -2.0], [4.0, 8.0]])
      >>> tx.update(g, tx.init(g))[0]
      Array([[ 1., -1.],
             [ 1.,  1.]], dtype=float32)

    References:
      Shazeer and Stern, 2018, Adafactor: Adaptive Learning Rates with Sublinear Memory
      Cost, https://arxiv.org/abs/1804.04235
    """
    return _factored_rms(
        "optx.scale_by_factored_rms",
        factored,
        decay_rate,
        step_offset,
        min_dim_size_to_factor,
        epsilon,
    )


def scale_by_factored_rms_clipped(
    factored: bool,
    decay_rate: ScalarOrSchedule,
    step_offset: int,
    min_dim_size_to_factor: int,
    epsilon: ScalarOrSchedule,
    clipping_threshold: ScalarOrSchedule,
    min_param_scale: float | None = None,
) -> GradientTransformation:
    """`scale_by_factored_rms` then `clip_by_block_rms`, in one pass per leaf (adafactor's).

    Private to the adafactor alias (hyperparameters ``decay_rate``, ``epsilon``,
    ``clipping_threshold``). The two transforms chained make XLA store every leaf's update
    in a param-sized temporary, because the update feeds both the RMS reduction and the
    rescaling; here the RMS is computed from the gradient and the statistics directly.

    With ``min_param_scale`` (the paper's epsilon2) it also multiplies each leaf by
    ``max(min_param_scale, rms(w))``, as `scale_by_param_block_rms` would, and then needs
    the params. Both factors are then one scalar per leaf, ``threshold * max(min_param_scale,
    rms(w)) / max(rms(u), threshold)``, which XLA computes in one kernel: chained, each
    factor's square root was a kernel of its own in every leaf (one kernel per leaf fewer;
    about 10% less compile time and run time at 2048 leaves).
    """
    call = _validate.current_call("optx.adafactor")
    return _factored_rms(
        call,
        factored,
        decay_rate,
        step_offset,
        min_dim_size_to_factor,
        epsilon,
        clipping_threshold,
        min_param_scale,
    )


def _factored_rms(
    call: str,
    factored: bool,
    decay_rate: ScalarOrSchedule,
    step_offset: int,
    min_dim_size_to_factor: int,
    epsilon: ScalarOrSchedule,
    clipping_threshold: ScalarOrSchedule | None = None,
    min_param_scale: float | None = None,
) -> GradientTransformation:
    _validate.check_int(call, "step_offset", step_offset, 0)
    _validate.check_int(call, "min_dim_size_to_factor", min_dim_size_to_factor, 1)
    specs: dict[str, Any] = {"decay_rate": decay_rate, "epsilon": epsilon}
    if clipping_threshold is not None:
        specs["clipping_threshold"] = clipping_threshold
    constraints = {"decay_rate": POSITIVE, "epsilon": NON_NEGATIVE, "clipping_threshold": POSITIVE}
    hyperparams = Hyperparams(call, constraints={k: constraints[k] for k in specs}, **specs)

    def axes(x):
        return factored_axes(jnp.shape(x), factored, min_dim_size_to_factor)

    def init(params):
        def stats(p):
            dtype = _tree.real_dtype(_tree.wide_dtype(jnp.result_type(p)))  # of |g|**2
            which = axes(p)
            if which is None:
                # Two placeholders, not one array twice: a donated state may not hold the
                # same buffer in two leaves.
                placeholder = lambda: _tree.zeros_reduced(p, (), dtype)  # noqa: E731
                return placeholder(), placeholder(), _tree.zeros_like(p, dtype)
            col, row = which
            without = lambda a: tuple(i for i in range(jnp.ndim(p)) if i != a)  # noqa: E731
            return (
                _tree.zeros_reduced(p, without(row), dtype),
                _tree.zeros_reduced(p, without(col), dtype),
                _tree.zeros_reduced(p, (), dtype),
            )

        v_row, v_col, v = _tree.map_unzip(stats, 3, params)
        return ScaleByFactoredRmsState(
            hyperparams.init_count(params), v_row, v_col, v, hyperparams.init(params)
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if _tree.structure(state.v) != _tree.structure(updates):
            _tree.check_structure(call, state.v, updates)  # raises, naming the paths
        _check_factored_shapes(call, init, state, updates)
        if min_param_scale is not None:
            _tree.require_params(call, params)
        leaf_params = updates if min_param_scale is None else params  # read only for the scale
        h = hyperparams.resolve(state.hyperparams, state.count)
        k = (state.count - step_offset).astype(h["decay_rate"].dtype)
        beta = 1 - (k + 1) ** (-h["decay_rate"])

        def rescale(u, mean_square, p):
            """``u * min(1, threshold / rms(u))``, with ``mean_square = mean(u**2)``.

            With ``min_param_scale``, also ``* max(min_param_scale, rms(p))``: one quotient,
            so that XLA computes both factors in one scalar kernel.
            """
            if clipping_threshold is None:
                return u
            threshold = h["clipping_threshold"]
            rms = jnp.sqrt(mean_square.astype(threshold.dtype))
            numerator = threshold
            if min_param_scale is not None:
                numerator = threshold * jnp.maximum(min_param_scale, _leaf_rms(p))
            factor = numerator / jnp.maximum(rms, threshold)
            return u * factor.astype(u.dtype)

        # Each mean of squares below is written so that it shares no subexpression with the
        # update or with the other means: XLA then reduces it straight from the gradient
        # instead of storing a param-sized temporary that two reductions (or a reduction and
        # the update) would read.
        def one(g, v_row, v_col, v, p):
            # Complex params: the statistics are of |g|**2 (real, as the state), and the
            # means of squares take conj(g) in the second factor (a no-op for real g).
            wide = _tree.wide_dtype(g)
            rw = _tree.real_dtype(wide)
            gw = g.astype(wide)
            b = beta.astype(rw)
            eps = h["epsilon"].astype(rw)
            which = axes(g)
            if which is None:
                v = (b * v.astype(rw) + (1 - b) * (_tree.abs_sq(gw) + eps)).astype(v.dtype)
                vw = v.astype(wide)
                u = gw * jax.lax.rsqrt(vw)
                needs_ms = clipping_threshold is not None
                mean_square = jnp.mean(((gw / vw) * jnp.conj(gw)).real) if needs_ms else None
                return (
                    rescale(u, mean_square, p).astype(g.dtype),
                    v_row,
                    v_col,
                    v,
                )
            col, row = which
            mean_row = jnp.mean(_tree.abs_sq(gw), axis=row) + eps
            mean_col = jnp.mean(jnp.abs(gw) * jnp.abs(gw), axis=col) + eps
            v_row = (b * v_row + (1 - b) * mean_row).astype(v_row.dtype)
            v_col = (b * v_col + (1 - b) * mean_col).astype(v_col.dtype)
            col_in_row = col - 1 if col > row else col
            row_mean = jnp.mean(v_row, axis=col_in_row, keepdims=True)
            row_factor = jnp.expand_dims(jax.lax.rsqrt(v_row / row_mean), row).astype(wide)
            col_factor = jnp.expand_dims(jax.lax.rsqrt(v_col), col).astype(wide)
            u = gw * row_factor * col_factor
            if clipping_threshold is not None:
                squares = (gw * (row_factor * row_factor)) * (
                    jnp.conj(gw) * (col_factor * col_factor)
                )
                u = rescale(u, jnp.mean(squares.real), p)
            return u.astype(g.dtype), v_row, v_col, v

        updates, v_row, v_col, v = _tree.map_unzip(
            one, 4, updates, state.v_row, state.v_col, state.v, leaf_params
        )
        return updates, ScaleByFactoredRmsState(h.count, v_row, v_col, v, h.state)

    return _flat.per_leaf(GradientTransformation(init, update))


def _leaf_rms(x: jax.Array) -> jax.Array:
    x = x.astype(_tree.wide_dtype(x))
    return jnp.sqrt(jnp.mean(_tree.abs_sq(x)))


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    """Adafactor's relative step: multiplies each leaf by ``max(min_scale, rms(w))``.

    Private to the adafactor alias; ``min_scale`` is the paper's epsilon2.
    """
    call = _validate.current_call("optx.adafactor")

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _tree.require_params(call, params)

        def one(u, p):
            factor = jnp.maximum(min_scale, _leaf_rms(p))
            wide = _tree.wide_dtype(u)
            return (u.astype(wide) * factor.astype(wide)).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return _flat.per_leaf(GradientTransformation(init, update))


def _check_factored_shapes(call: str, init: Any, state: Any, updates: Any) -> None:
    """Raises ValueError when a gradient's shape is not the one the state was built for.

    The factored statistics of a leaf are reduced along its axes, so a gradient of another
    shape would broadcast against them (or fail far inside); this compares, at trace time,
    the statistics ``init`` would build for ``updates`` with the state's.
    """
    expected = jax.eval_shape(init, updates)
    for stat in ("v_row", "v_col", "v"):
        got_leaves = jax.tree_util.tree_leaves_with_path(getattr(state, stat))
        for (path, have), want, u in zip(
            got_leaves, jax.tree.leaves(getattr(expected, stat)), jax.tree.leaves(updates)
        ):
            if jnp.shape(have) != want.shape:
                raise ValueError(
                    f"{call}: the gradient at {jax.tree_util.keystr(path) or 'the root'} has "
                    f"shape {jnp.shape(u)}, but the state was built for another shape (its "
                    f"{stat} has shape {jnp.shape(have)}, expected {want.shape}); call init "
                    "again on the current params"
                )

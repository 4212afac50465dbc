"""Zoom line search for the strong Wolfe conditions (Nocedal and Wright, Algorithms 3.5/3.6)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _constraints, _tree, _validate
from optx._constraints import Constraint
from optx._core import GradientTransformation, ScalarOrSchedule
from optx._hyperparams import Hyperparams, HyperparamsState


class ZoomLinesearchInfo(NamedTuple):
    """What the latest line search did.

    Attributes:
      num_linesearch_steps: function evaluations it made.
      decrease_error: how far the chosen step misses sufficient decrease (0: met).
      curvature_error: how far it misses the curvature condition (0: met).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """State of `scale_by_zoom_linesearch`.

    Attributes:
      count: line searches done.
      learning_rate: the step size found by the latest one (1 before the first).
      value: the objective at the accepted step (inf before the first).
      grad: its gradient there (reusable as the next gradient for a deterministic loss).
      info: a `ZoomLinesearchInfo`.
      hyperparams: the tolerances (``tol``, ``slope_rtol``, ...).
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    info: ZoomLinesearchInfo
    hyperparams: HyperparamsState


class _Search(NamedTuple):
    """The while_loop carry: the last trial, the bracket [low, high] and the safe step."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in Optax
    stepsize: jax.Array
    value: jax.Array
    grad: Any
    slope: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Any


def _dot(a: Any, b: Any) -> jax.Array:
    """Real part of sum(conj(a) * b) over the leaves, in float32 at least.

    An elementwise product and a sum, not `jnp.vdot`: a dot over a sharded axis with
    Explicit mesh axes needs an output sharding; a reduction does not.
    """
    terms = []
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        wide = _tree.wide_dtype(x)
        product = jnp.conj(x.astype(wide)) * y.astype(wide)
        terms.append(jnp.sum(jnp.real(product)).astype(_tree.real_dtype(wide)))
    # The last entry of a cumulative sum, not a chain of adds: XLA copies a chain of
    # scalar adds into every consumer's fusion, so inside scale_by_lbfgs's loops each
    # leaf's axpy held all the leaves' sums (a program quadratic in the leaf count;
    # benchmarks/README.md, "Scalar add chains are copied into every consumer").
    return jnp.cumsum(jnp.stack(terms))[-1]


def _cubic_minimizer(a, fa, fpa, b, fb, c, fc):
    """Critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a."""
    db, dc = b - a, c - a
    r1, r2 = fb - fa - fpa * db, fc - fa - fpa * dc
    denom = (db * dc) ** 2 * (db - dc)
    # [A, B] = [[dc^2, -db^2], [-dc^3, db^3]] [r1, r2] / denom, as one matrix product (the
    # rounding of Optax's and SciPy's form).
    matrix = jnp.stack([jnp.stack([dc**2, -(db**2)]), jnp.stack([-(dc**3), db**3])])
    rhs = jnp.stack([r1, r2])
    big_a, big_b = jnp.dot(matrix, rhs, precision=jax.lax.Precision.HIGHEST) / denom
    return a + (-big_b + jnp.sqrt(big_b * big_b - 3.0 * big_a * fpa)) / (3.0 * big_a)


def _quadratic_minimizer(a, fa, fpa, b, fb):
    """Critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)


def _kwargs_for(fn: Callable[..., Any], extra_args: dict[str, Any]) -> dict[str, Any]:
    """The extra arguments ``fn`` takes by name (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(extra_args)
    names = {p.name for p in parameters}
    return {k: v for k, v in extra_args.items() if k in names}


@_validate.public_call("optx.scale_by_zoom_linesearch")
def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: ScalarOrSchedule | None = None,
    tol: ScalarOrSchedule = 0.0,
    increase_factor: ScalarOrSchedule = 2.0,
    slope_rtol: ScalarOrSchedule = 1e-4,
    curv_rtol: ScalarOrSchedule | None = 0.9,
    approx_dec_rtol: ScalarOrSchedule | None = 1e-6,
    stepsize_precision: ScalarOrSchedule = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    """Scales the updates by a step size meeting the strong Wolfe conditions (zoom search).

    Conditions on the step size ``eta`` along the update ``u`` from params ``w`` (``f`` is
    ``value_fn``, ``s(eta) = <grad f(w + eta u), u>`` the slope along ``u``)::

        f(w + eta u) <= f(w) + slope_rtol * eta * s(0) + tol        (sufficient decrease)
        |s(eta)| <= curv_rtol * |s(0)| + tol                         (curvature)

    Near a minimum the decrease test may instead be Hager and Zhang's approximate one,
    ``s(eta) <= (2 slope_rtol - 1) s(0)`` while ``f(w + eta u) <= f(w) + approx_dec_rtol
    |f(w)|`` (``approx_dec_rtol=None`` keeps only the first). Algorithm 3.5 tries ``eta =
    guess, 2 guess, 4 guess, ...`` (``increase_factor``, capped by ``max_learning_rate``)
    until a step is acceptable or brackets one; Algorithm 3.6 then shrinks the bracket,
    each trial the minimizer of a cubic (through the bracket's ends and the previous
    end), else of a quadratic, else the midpoint, when it lies well inside. The guess is
    1 (``initial_guess_strategy="one"``, for quasi-Newton directions) or the previous step
    size (``"keep"``). After ``max_linesearch_steps`` evaluations, or once the bracket is
    narrower than ``stepsize_precision``, the best step with sufficient decrease is taken
    (else the last trial). The decisions are Optax's ``optax.scale_by_zoom_linesearch``;
    one evaluation per `jax.lax.while_loop` iteration, so a jitted update compiles once.

    Calling convention (as Optax): ``update(updates, state, params, value=f(params),
    grad=grad_f(params), value_fn=f, **fn_kwargs)``; the extra keyword arguments that
    ``value_fn`` takes by name (all of them if it takes ``**kwargs``) are passed to it,
    others are ignored (Optax raises on them). ``value`` and ``grad`` may be omitted: they
    are then computed from ``value_fn`` at ``params`` (one more evaluation). The state
    keeps the value and gradient at the accepted step for reuse.

    Args:
      max_linesearch_steps: evaluations per search (int >= 1).
      max_learning_rate: largest step size, > 0, or None.
      tol: slack in both conditions, >= 0.
      increase_factor: growth of the trial step while searching for a bracket, > 1.
      slope_rtol: c1 of the sufficient decrease condition, in (0, 1).
      curv_rtol: c2 of the curvature condition, > 0; None (or ``inf``) drops it.
      approx_dec_rtol: see above, >= 0, or None.
      stepsize_precision: bracket width below which the search stops, >= 0.
      initial_guess_strategy: ``"keep"`` or ``"one"``.
      verbose: print the search's outcome with `jax.debug.print` when it fails.

    Raises:
      ValueError: a bad argument; ``update`` without params or ``value_fn``.
      TypeError: complex params at ``init`` (the slope along ``u`` needs real params).

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> tx = optx.chain(optx.sgd(1.0), optx.scale_by_zoom_linesearch(10))
      >>> w = jnp.zeros(2)
      >>> u, _ = tx.update(jax.grad(f)(w), tx.init(w), w, value_fn=f)
      >>> optx.apply_updates(w, u)
      Array([1., 1.], dtype=float32)

    References:
      Nocedal and Wright, 2006, Numerical Optimization (2nd ed.), Algorithms 3.5 and 3.6,
      https://doi.org/10.1007/978-0-387-40065-5; Hager and Zhang, 2006, Algorithm 851:
      CG_DESCENT, https://doi.org/10.1145/1132973.1132979
    """
    call = "optx.scale_by_zoom_linesearch"
    _validate.check_int(call, "max_linesearch_steps", max_linesearch_steps, low=1)
    _validate.check_choice(call, "initial_guess_strategy", initial_guess_strategy, ("keep", "one"))
    if isinstance(curv_rtol, float) and curv_rtol == float("inf"):
        curv_rtol = None
    specs: dict[str, Any] = {
        "tol": tol,
        "increase_factor": increase_factor,
        "slope_rtol": slope_rtol,
        "stepsize_precision": stepsize_precision,
    }
    constraints = {
        "tol": _constraints.NON_NEGATIVE,
        "increase_factor": Constraint(1.0, low_open=True),
        "slope_rtol": Constraint(0.0, 1.0, low_open=True, high_open=True),
        "stepsize_precision": _constraints.NON_NEGATIVE,
    }
    for name, value, constraint in (
        ("max_learning_rate", max_learning_rate, _constraints.POSITIVE),
        ("curv_rtol", curv_rtol, _constraints.POSITIVE),
        ("approx_dec_rtol", approx_dec_rtol, _constraints.NON_NEGATIVE),
    ):
        if value is not None:
            specs[name], constraints[name] = value, constraint
    hyperparams = Hyperparams(call, constraints=constraints, **specs)
    public = _validate.current_call(call)

    def init(params):
        _validate.refuse_complex(
            public,
            params,
            "the line search orders values and reads the sign of slopes from jax.grad of a real "
            "objective, which complex params do not give in the conjugated convention",
        )
        dtype = _tree.scalar_dtype(params)
        place = lambda x: _tree.place(x, _tree.replicated_sharding(params))  # noqa: E731
        inf = lambda: place(jnp.asarray(jnp.inf, dtype))  # noqa: E731 - a buffer per leaf
        info = ZoomLinesearchInfo(place(jnp.zeros([], jnp.int32)), inf(), inf())
        return ScaleByZoomLinesearchState(
            hyperparams.init_count(params),
            place(jnp.ones([], dtype)),
            inf(),
            _tree.zeros_like(params),
            info,
            hyperparams.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        _tree.require_params(call, params)
        value_fn = extra_args.pop("value_fn", None)
        value, grad = extra_args.pop("value", None), extra_args.pop("grad", None)
        if value_fn is None:
            raise ValueError(
                f"{call}: update needs the objective as value_fn=f (f(params, **kwargs) -> "
                "scalar), and value=f(params), grad=jax.grad(f)(params) if you have them"
            )
        h = hyperparams.resolve(state.hyperparams, state.count)
        fn_kwargs = _kwargs_for(value_fn, extra_args)
        value_and_grad = jax.value_and_grad(lambda p: value_fn(p, **fn_kwargs))
        if value is None or grad is None:
            # Jitted: an eager jax.grad of Explicit-sharded params outside jax.set_mesh
            # fails in JAX (its unit cotangent lands on one device); a traced one does not.
            value, grad = jax.jit(value_and_grad)(params)
        dtype = state.learning_rate.dtype
        value = jnp.asarray(value).astype(dtype)
        grad = jax.tree.map(lambda g, p: jnp.asarray(g).astype(p.dtype), grad, params)
        scalar = lambda name: h[name].astype(dtype)  # noqa: E731
        slope_init = _dot(updates, grad).astype(dtype)
        guess = state.learning_rate if initial_guess_strategy == "keep" else jnp.ones([], dtype)

        def errors(stepsize, value_step, slope_step):
            decrease = value_step - value - scalar("slope_rtol") * stepsize * slope_init
            if approx_dec_rtol is not None:
                approx = slope_step - (2 * scalar("slope_rtol") - 1.0) * slope_init
                above = value_step - value - scalar("approx_dec_rtol") * jnp.abs(value)
                decrease = jnp.minimum(jnp.maximum(approx, above), decrease)
            if curv_rtol is None:
                curvature = jnp.zeros([], dtype)
            else:
                curvature = jnp.abs(slope_step) - scalar("curv_rtol") * jnp.abs(slope_init)
            clean = lambda e: jnp.where(jnp.isnan(e), jnp.inf, jnp.maximum(e, 0.0))  # noqa: E731
            return clean(decrease), clean(curvature)

        def trial_stepsize(s):
            # Algorithm 3.5: grow the step until it is acceptable or brackets one.
            grown = jnp.where(s.count == 0, guess, scalar("increase_factor") * s.stepsize)
            capped = grown
            if max_learning_rate is not None:
                capped = jnp.minimum(grown, scalar("max_learning_rate"))
            # Algorithm 3.6: inside the bracket, cubic, else quadratic, else midpoint.
            delta = jnp.abs(s.high - s.low)
            left, right = jnp.minimum(s.high, s.low), jnp.maximum(s.high, s.low)
            cubic = _cubic_minimizer(
                s.low,
                s.value_low,
                s.slope_low,
                s.high,
                s.value_high,
                s.cubic_ref,
                s.value_cubic_ref,
            )
            quad = _quadratic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high)
            inside = lambda x, margin: (x > left + margin * delta) & (x < right - margin * delta)  # noqa: E731
            zoomed = jnp.where(
                inside(cubic, 0.2),
                cubic,
                jnp.where(inside(quad, 0.1), quad, (s.low + s.high) / 2.0),
            )
            return jnp.where(s.interval_found, zoomed, capped), grown

        def body(s):
            stepsize, grown = trial_stepsize(s)
            step = jax.tree.map(
                lambda p, u: (p + stepsize.astype(p.dtype) * u.astype(p.dtype)).astype(p.dtype),
                params,
                updates,
            )
            value_step, grad_step = value_and_grad(step)
            value_step = value_step.astype(dtype)
            slope_step = _dot(grad_step, updates).astype(dtype)
            dec, curv = errors(stepsize, value_step, slope_step)
            met = jnp.maximum(dec, curv) <= scalar("tol")
            sufficient = dec <= scalar("tol")
            last_evaluation = s.count + 1 >= max_linesearch_steps
            trial = (stepsize, value_step, slope_step)
            where = lambda c, a, b: jax.tree.map(lambda x, y: jnp.where(c, x, y), a, b)  # noqa: E731

            # Bracket search (interval not found yet).
            high_is_new = (dec > 0.0) | ((value_step >= s.value) & (s.count > 0))
            low_is_new = (slope_step >= 0.0) & ~high_is_new
            previous = (s.stepsize, s.value, s.slope)
            s_low, s_high = where(low_is_new, (trial, previous), (previous, trial))
            found = high_is_new | low_is_new | met
            reached = jnp.asarray(False)
            if max_learning_rate is not None:
                reached = grown >= scalar("max_learning_rate")
            s_done = met | (reached & ~found)
            s_safe = sufficient

            # Zoom (interval found).
            bracket_low, bracket_high = (
                (s.low, s.value_low, s.slope_low),
                (
                    s.high,
                    s.value_high,
                    s.slope_high,
                ),
            )
            high_to_trial = (dec > 0.0) | (value_step >= s.value_low)
            high_to_low = (slope_step * (s.high - s.low) >= 0.0) & ~high_to_trial
            z_high = where(high_to_trial, trial, bracket_high)
            z_high = where(high_to_low, bracket_low, z_high)
            z_low = where(high_to_trial, bracket_low, trial)
            z_ref = where(high_to_trial | high_to_low, bracket_high[:2], bracket_low[:2])
            z_safe = sufficient & (value_step < s.safe_value)
            narrow = jnp.abs(s.high - s.low) <= scalar("stepsize_precision")

            zoom = s.interval_found
            take_safe = jnp.where(zoom, z_safe, s_safe)
            safe = where(
                take_safe,
                (stepsize, value_step, grad_step),
                (s.safe_stepsize, s.safe_value, s.safe_grad),
            )
            low = where(zoom, z_low, s_low)
            high = where(zoom, z_high, s_high)
            ref = where(zoom, z_ref, s_low[:2])
            done = jnp.where(zoom, met, s_done)
            give_up = jnp.where(zoom, last_evaluation | (narrow & (safe[0] > 0.0)), last_evaluation)
            new = _Search(
                _tree.safe_increment(s.count),
                stepsize,
                value_step,
                grad_step,
                slope_step,
                dec,
                curv,
                s.interval_found | found,
                done,
                give_up & ~done,
                *low,
                *high,
                *ref,
                *safe,
            )
            # On failure: the best step with sufficient decrease, if any (or if the trial
            # left the domain, the safe one even at 0), else the last trial.
            fallback = new.failed & ((new.safe_stepsize > 0.0) | jnp.isinf(dec))
            chosen = where(
                fallback,
                (new.safe_stepsize, new.safe_value, new.safe_grad),
                (new.stepsize, new.value, new.grad),
            )
            if verbose:
                jax.lax.cond(
                    new.failed,
                    lambda: jax.debug.print(
                        "optx.scale_by_zoom_linesearch: no step met both conditions in "
                        "{n} evaluations (decrease error {d}, curvature error {c}); taking "
                        "step size {t}",
                        n=new.count,
                        d=dec,
                        c=curv,
                        t=chosen[0],
                    ),
                    lambda: None,
                )
            return new._replace(stepsize=chosen[0], value=chosen[1], grad=chosen[2])

        zero = jnp.zeros([], dtype)
        start = _Search(
            jnp.zeros([], jnp.int32),
            zero,
            value,
            grad,
            slope_init,
            jnp.asarray(jnp.inf, dtype),
            jnp.asarray(jnp.inf, dtype),
            jnp.asarray(False),
            jnp.asarray(False),
            jnp.asarray(False),
            *(zero, value, slope_init),
            *(zero, value, slope_init),
            *(zero, value),
            *(zero, value, grad),
        )
        final = jax.lax.while_loop(lambda s: ~(s.done | s.failed), body, start)
        scaled = jax.tree.map(
            lambda u: (final.stepsize.astype(u.dtype) * u).astype(u.dtype), updates
        )
        info = ZoomLinesearchInfo(final.count, final.decrease_error, final.curvature_error)
        count = jnp.broadcast_to(h.count, jnp.shape(state.count))
        new_state = ScaleByZoomLinesearchState(
            count, final.stepsize, final.value, final.grad, info, h.state
        )
        return scaled, new_state

    return GradientTransformation(init, update)

"""L-BFGS with a zoom line search (the strong Wolfe conditions) by default."""

from __future__ import annotations

from typing import cast

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain, identity
from optx.transforms import scale, scale_by_lbfgs, scale_by_learning_rate, scale_by_zoom_linesearch

_DEFAULT = object()


@_validate.public_call("optx.lbfgs")
def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None | object = _DEFAULT,
) -> GradientTransformation:
    """L-BFGS (Nocedal and Wright, Algorithm 7.5): quasi-Newton steps with a line search.

    Update rule (``H`` the L-BFGS inverse Hessian of `scale_by_lbfgs`, ``eta`` the step
    size of the line search)::

        d = -learning_rate * H g        (learning_rate None: d = -H g)
        w = w + eta * d                 (eta from the line search; 1 without one)

    ``chain(scale_by_lbfgs(memory_size, scale_init_precond), scale_by_learning_rate(
    learning_rate) or scale(-1), linesearch)``. The default line search is
    ``scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")``;
    ``linesearch=None`` takes the fixed step. Argument names, defaults and results are
    Optax's ``optax.lbfgs``.

    Calling convention (as Optax): with a line search, ``update(grad, state, params,
    value=f(params), grad=grad, value_fn=f, **fn_kwargs)``; ``value_fn`` is evaluated (with
    its gradient) once per line-search step, at most ``max_linesearch_steps`` times per
    update, inside a `jax.lax.while_loop`. ``value``/``grad`` may be omitted (computed
    from ``value_fn``). The line search's state holds the value and gradient at the new
    params, which a deterministic loop may reuse as the next ``value``/``grad``.

    Args:
      learning_rate: None (the line search decides), or a float, array or schedule that
        scales the direction before the line search (hyperparameter ``learning_rate``).
      memory_size: pairs kept (int >= 1).
      scale_init_precond: scale the initial inverse Hessian by ``<s, y> / <y, y>``.
      linesearch: a line search transform, e.g. `scale_by_zoom_linesearch`, or None.

    Raises:
      ValueError: bad arguments; ``update`` without params or ``value_fn`` (with the
        default line search).
      TypeError: ``linesearch`` not a `GradientTransformation`; complex params with the
        default line search.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> f = lambda w: jnp.sum(jnp.array([1.0, 10.0]) * (w - 1.0) ** 2)
      >>> tx, w = optx.lbfgs(), jnp.zeros(2)
      >>> @jax.jit
      ... def step(w, state):
      ...     value, grad = jax.value_and_grad(f)(w)
      ...     u, state = tx.update(grad, state, w, value=value, grad=grad, value_fn=f)
      ...     return optx.apply_updates(w, u), state
      >>> state = tx.init(w)
      >>> for _ in range(5):
      ...     w, state = step(w, state)
      >>> bool(f(w) < 1e-8)
      True

    References:
      Nocedal and Wright, 2006, Numerical Optimization (2nd ed.), Algorithms 7.4, 7.5,
      3.5 and 3.6, https://doi.org/10.1007/978-0-387-40065-5
    """
    if linesearch is _DEFAULT:
        linesearch = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")
    elif linesearch is None:
        linesearch = identity()
    else:
        _validate.check_transformation("optx.lbfgs", "linesearch", linesearch)
    base = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),
        base,
        cast(GradientTransformation, linesearch),
    )

"""The pure train step: ``(state, batch) -> (state, metrics)``, one body for every parallel mode.

The body is written against an optional named axis: with ``axis_name`` set, the loss, the
gradients, float aux values and float model state are averaged over that axis with
``lax.pmean``, so the same body runs on one device, under ``jax.vmap(axis_name=...)``,
``jax.shard_map`` and ``jax.pmap`` (see `optx.train.data_parallel`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from optx import _tree, _validate, _xla_cpu
from optx._core import GradientTransformation, _accepting_extra_args, apply_updates
from optx._flat import FlatParams
from optx._hyperparams_access import get_hyperparams
from optx.train._donation import DonatingStep
from optx.train._state import TrainState

LossFn = Callable[..., Any]
StepFn = Callable[[TrainState, Any], tuple[TrainState, dict[str, Any]]]


def _check_step_args(
    call: str, loss_fn: Any, optimizer: Any, steps_per_call: Any, *, has_state: bool = False
) -> LossFn:
    """Checks a step builder's arguments; returns ``loss_fn`` taking ``rng`` last."""
    if not callable(loss_fn):
        raise TypeError(f"{call}: loss_fn must be callable, got {loss_fn!r}")
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            f"{call}: optimizer must be a gradient transformation (with init and update), got "
            f"{type(optimizer).__name__}; did you forget to call the factory, e.g. optx.adam(1e-3)?"
        )
    _validate.check_int(call, "steps_per_call", steps_per_call, low=1)
    return _with_rng(call, loss_fn, has_state)


_RNG_NAMES = ("rng", "key", "rngs", "prng_key", "dropout_rng")


def _with_rng(call: str, loss_fn: LossFn, has_state: bool) -> LossFn:
    """``loss_fn`` itself if it takes ``rng`` last, else a wrapper that drops the ``rng``.

    The signature decides: ``(params, batch, rng)`` is used as is, ``(params, batch)`` gets
    the wrapper (with ``has_state``: ``(params, model_state, batch[, rng])``). A function
    whose signature cannot be read is assumed to take ``rng``.
    """
    try:
        signature = inspect.signature(loss_fn)
    except (TypeError, ValueError):
        return loss_fn
    names = ("params", "model_state", "batch") if has_state else ("params", "batch")
    full, short = f"({', '.join(names)}, rng)", f"({', '.join(names)})"

    def binds(n: int) -> bool:
        try:
            signature.bind(*range(n))
        except TypeError:
            return False
        return True

    if binds(len(names) + 1):
        return loss_fn
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    last = positional[-1] if positional else ""
    if binds(len(names)) and not (has_state and last in _RNG_NAMES):

        def without_rng(*args: Any) -> Any:
            return loss_fn(*args[:-1])

        return without_rng
    hint = ""
    if not has_state and binds(4):
        hint = "; it takes 4 arguments: if they are (params, model_state, batch, rng), pass "
        hint += "has_state=True"
    elif has_state and binds(len(names)):
        hint = f"; its last argument is {last!r}: if it is (params, batch, rng), "
        hint += "pass has_state=False"
    raise TypeError(
        f"{call}: loss_fn must take {full} or {short}{' with has_state=True' * has_state}, "
        f"got a function with signature {signature}{hint}"
    )


def _mean_over(axis_name: Any, tree: Any, *, sum_ints: bool) -> Any:
    """pmean of float leaves over ``axis_name``; integer leaves are summed or kept."""

    def one(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return lax.pmean(x, axis_name)
        if sum_ints and jnp.issubdtype(x.dtype, jnp.integer):
            return lax.psum(x, axis_name)
        return x

    return jax.tree.map(one, tree)


def _as_varying(tree: Any, axis_name: Any) -> Any:
    """Marks replicated params as varying over ``axis_name`` under ``shard_map``.

    With ``check_vma=True``, the gradient with respect to a replicated (invariant) input
    is summed over the axis automatically; differentiating a varying copy instead gives
    each shard its local gradient, which the body then averages with ``pmean`` exactly as
    under ``pmap`` and ``vmap``. Outside ``shard_map`` (``vmap``) this does nothing.
    """
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    manual = set(getattr(jax.sharding.get_abstract_mesh(), "manual_axes", ()))
    if not set(names) <= manual:
        return tree

    def one(x):
        try:
            return lax.pcast(x, names, to="varying")
        except ValueError:  # already varying over these axes
            return x

    return jax.tree.map(one, tree)


def step_rng(state: TrainState, axis_name: Any = None) -> jax.Array:
    """The key handed to ``loss_fn`` at this step: ``fold_in(state.rng, state.step)``.

    Under a named axis the shard index is folded in too, so data-parallel shards draw
    different dropout masks. ``state.rng`` itself never changes.
    """
    key = jax.random.fold_in(state.rng, state.step)
    if axis_name is not None:
        key = jax.random.fold_in(key, lax.axis_index(axis_name))
    return key


def make_grad_fn(
    loss_fn: LossFn, *, has_aux: bool = False, has_state: bool = False, axis_name: Any = None
) -> Callable[..., tuple[Any, Any, Any, Any]]:
    """``(params, model_state, batch, rng) -> (loss, grads, aux, model_state)``, averaged.

    The first half of the step, split out so the ZeRO-1 driver can run it under
    ``shard_map`` and the optimizer update outside it.
    """

    def objective(params, model_state, batch, rng):
        params = params.tree() if isinstance(params, FlatParams) else params  # flat mode
        if has_state:
            loss, rest = loss_fn(params, model_state, batch, rng)
            aux, model_state = rest if has_aux else (None, rest)
        elif has_aux:
            loss, aux = loss_fn(params, batch, rng)
        else:
            loss, aux = loss_fn(params, batch, rng), None
        return loss, (aux, model_state)

    def grad_fn(params, model_state, batch, rng):
        if axis_name is not None:
            params = _as_varying(params, axis_name)
        (loss, (aux, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
            params, model_state, batch, rng
        )
        if axis_name is not None:
            loss = lax.pmean(loss, axis_name)
            grads = lax.pmean(grads, axis_name)
            aux = _mean_over(axis_name, aux, sum_ints=True)
            model_state = _mean_over(axis_name, model_state, sum_ints=False)
        return loss, grads, aux, model_state

    return grad_fn


def apply_gradients(
    optimizer: GradientTransformation,
    state: TrainState,
    loss: jax.Array,
    grads: Any,
    aux: Any,
    model_state: Any,
    *,
    has_aux: bool,
    grad_norm: bool = True,
) -> tuple[TrainState, dict[str, Any]]:
    """The second half of the step: optimizer update, new state and metrics."""
    update = _accepting_extra_args(optimizer.update)
    finite = jnp.all(jnp.isfinite(loss))
    if grad_norm:
        norm = _tree.global_norm(grads)
        finite = finite & jnp.isfinite(norm)
    updates, opt_state = update(grads, state.opt_state, state.params, value=loss)
    # The new params overwrite the donated old ones only after the metrics have read them;
    # else XLA copies the params first (`optx._xla_cpu.after`).
    updates = _xla_cpu.after(updates, (loss, norm if grad_norm else (), aux, model_state))
    new_state = state._replace(
        step=_tree.safe_increment(state.step),
        params=apply_updates(state.params, updates),
        opt_state=opt_state,
        model_state=model_state,
    )
    metrics: dict[str, Any] = {"loss": loss}
    if grad_norm:
        metrics["grad_norm"] = norm
    metrics["hyperparams"] = get_hyperparams(opt_state)
    metrics["skipped"] = jnp.logical_not(finite)
    if has_aux:
        metrics["aux"] = aux
    return new_state, metrics


def make_step_body(
    loss_fn: LossFn,
    optimizer: GradientTransformation,
    *,
    has_aux: bool = False,
    has_state: bool = False,
    axis_name: Any = None,
    steps_per_call: int = 1,
    grad_norm: bool = True,
) -> StepFn:
    """The un-jitted step (what `make_train_step` returns with ``jit=False``)."""
    grad_fn = make_grad_fn(loss_fn, has_aux=has_aux, has_state=has_state, axis_name=axis_name)

    def one_step(state, batch):
        loss, grads, aux, model_state = grad_fn(
            state.params, state.model_state, batch, step_rng(state, axis_name)
        )
        return apply_gradients(
            optimizer, state, loss, grads, aux, model_state, has_aux=has_aux, grad_norm=grad_norm
        )

    if steps_per_call == 1:
        return one_step

    def many_steps(state, batches):
        return lax.scan(one_step, state, batches)

    return many_steps


@_validate.public_call("optx.train.make_train_step")
def make_train_step(
    loss_fn: LossFn,
    optimizer: GradientTransformation,
    *,
    has_aux: bool = False,
    has_state: bool = False,
    axis_name: Any = None,
    steps_per_call: int = 1,
    grad_norm: bool = True,
    jit: bool = True,
    donate: bool = True,
) -> StepFn:
    """A pure train step ``(state, batch) -> (state, metrics)``, jitted with the state donated.

    One call computes ``loss_fn``'s value and gradient, applies ``optimizer`` and returns the
    new `TrainState` (``step + 1``, new params, opt_state and model_state; ``rng`` unchanged)
    and a dict of metrics:

    - ``"loss"``: the loss (averaged over ``axis_name`` when given);
    - ``"grad_norm"``: float32 global L2 norm of the (averaged) gradients (unless
      ``grad_norm=False``);
    - ``"hyperparams"``: ``optx.get_hyperparams(new_opt_state)``, the values just used;
    - ``"skipped"``: True when the loss or a gradient (the loss only, with
      ``grad_norm=False``) is not finite. Wrap the optimizer in
      ``optx.apply_if_finite`` to actually skip such updates; otherwise this only reports;
    - ``"aux"``: the auxiliary output, when ``has_aux``.

    ``loss_fn`` signatures (``rng`` is ``fold_in(state.rng, state.step)``, plus the shard
    index under ``axis_name``; a ``loss_fn`` without the ``rng`` argument, such as
    ``loss_fn(params, batch)``, is accepted too: the signature is read once, when the step
    is built)::

        has_aux=False, has_state=False:  loss_fn(params, batch, rng) -> loss
        has_aux=True,  has_state=False:  loss_fn(params, batch, rng) -> (loss, aux)
        has_aux=False, has_state=True:   loss_fn(params, model_state, batch, rng)
                                             -> (loss, new_model_state)
        has_aux=True,  has_state=True:   loss_fn(params, model_state, batch, rng)
                                             -> (loss, (aux, new_model_state))

    With ``axis_name``, the loss, gradients and float aux / model-state leaves are averaged
    over the named axis (``lax.pmean``) and integer aux leaves are summed, so one body serves
    one device, ``jax.vmap(..., axis_name=...)``, ``jax.shard_map`` and ``jax.pmap``; use
    ``jit=False`` to get the body to wrap yourself. Averaging over shards equals the mean over
    the global batch when the shards have equal sizes and ``loss_fn`` is a mean.

    With ``steps_per_call=K`` the batch carries a leading axis of K batches, run in one call
    with ``lax.scan``; the metrics then have a leading axis of K. This amortizes dispatch,
    which dominates for models with many small leaves.

    The optimizer's ``update`` receives the loss as the extra argument ``value``.

    Args:
      loss_fn: the objective, as above; its loss is a scalar.
      optimizer: an optx (or Optax) gradient transformation.
      has_aux: ``loss_fn`` returns auxiliary data next to the loss.
      has_state: ``loss_fn`` takes and returns the model state (batch-norm statistics).
      axis_name: a named axis (or tuple of names) to average over, or None.
      steps_per_call: int >= 1, batches run per call.
      grad_norm: compute the ``"grad_norm"`` metric. It costs one more read of every
        gradient, and where XLA would otherwise fuse the gradient into the update (a loss
        whose gradient is elementwise in the params) a gradient-sized temporary: about a
        third of the step in ``benchmarks/``' elementwise loss. ``False`` drops the metric.
      jit: return a ``jax.jit``-compiled step (default) or the plain body.
      donate: with ``jit``, donate the input state: its buffers are reused, so the state
        you pass in (including the ``params`` you gave ``TrainState.create``) cannot be
        read after the call; keep a copy if you need the initial params.

    Returns:
      ``step(state, batch) -> (state, metrics)``.

    Raises:
      TypeError: ``loss_fn`` is not callable, takes neither signature above, or
        ``optimizer`` is not a transformation.
      ValueError: ``steps_per_call`` < 1.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> loss_fn = lambda p, batch, rng: jnp.mean((batch["x"] * p["w"] - batch["y"]) ** 2)
      >>> opt = optx.sgd(0.1)
      >>> step = optx.train.make_train_step(loss_fn, opt)
      >>> state = optx.train.TrainState.create({"w": jnp.zeros([])}, opt)
      >>> batch = {"x": jnp.ones(4), "y": jnp.full(4, 2.0)}
      >>> state, metrics = step(state, batch)
      >>> float(metrics["loss"]), float(state.params["w"]), bool(metrics["skipped"])
      (4.0, 0.4, False)
    """
    _validate.check_transformation("optx.train.make_train_step", "optimizer", optimizer)
    loss_fn = _check_step_args(
        "optx.train.make_train_step", loss_fn, optimizer, steps_per_call, has_state=has_state
    )
    body = make_step_body(
        loss_fn,
        optimizer,
        has_aux=has_aux,
        has_state=has_state,
        axis_name=axis_name,
        steps_per_call=steps_per_call,
        grad_norm=grad_norm,
    )
    if not jit:
        return body
    if not donate:
        return jax.jit(body)
    return DonatingStep(jax.jit(body, donate_argnums=0), "optx.train.make_train_step")

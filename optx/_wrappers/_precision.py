"""Master weights: optimize a float32 copy of low-precision params (MXNet ``multi_precision``)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _tree, _validate
from optx._core import GradientTransformation, _accepting_extra_args
from optx._wrappers._masking import MaskedNode


class MasterWeightsState(NamedTuple):
    """State of `with_master_weights`.

    Attributes:
      master: the high-precision copy of each low-precision param (`MaskedNode` for params
        already in that precision, which need no copy).
      inner_state: the inner optimizer's state, built on the master weights.
    """

    master: Any
    inner_state: Any


def _needs_copy(p: Any, dtype: Any) -> bool:
    p_dtype = jnp.result_type(p)
    return jnp.issubdtype(p_dtype, jnp.floating) and p_dtype.itemsize < jnp.dtype(dtype).itemsize


@_validate.public_call("optx.with_master_weights")
def with_master_weights(
    inner: GradientTransformation, dtype: Any = jnp.float32
) -> GradientTransformation:
    """Runs ``inner`` on a float32 master copy of low-precision (bf16, f16) params.

    Update rule, for a low-precision param ``w`` with master copy ``m``::

        du, inner_state = inner.update(float32(g), inner_state, m)
        m = m + du
        u = cast(m, w.dtype) - w          (so w + u is m rounded to w's precision)

    Small updates that would vanish when added to bf16 weights accumulate in ``m``, so the
    trajectory is the float32 one and the returned params are it rounded to bf16 (MXNet's
    ``multi_precision=True``). Params already in ``dtype`` get no copy and are passed
    through as they are. The inner state is built on the master weights (float32
    moments). Read the master weights with `master_params`.

    Args:
      inner: the optimizer.
      dtype: the master precision (default float32).

    Raises:
      ValueError: ``update`` called without params.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.with_master_weights(optx.sgd(1e-3))
      >>> w = jnp.ones(1, jnp.bfloat16)
      >>> state = tx.init(w)
      >>> for _ in range(10):
      ...     u, state = tx.update(jnp.ones(1, jnp.bfloat16), state, w)
      ...     w = optx.apply_updates(w, u)
      >>> w, optx.master_params(state)
      (Array([0.988281], dtype=bfloat16), Array([0.99], dtype=float32))

    References:
      Micikevicius et al., 2018, Mixed Precision Training, https://arxiv.org/abs/1710.03740
    """
    _validate.check_transformation("optx.with_master_weights", "inner", inner)
    _validate.check_float_dtype("optx.with_master_weights", "dtype", dtype)
    call = "optx.with_master_weights"
    dtype = jnp.dtype(dtype)
    inner_update = _accepting_extra_args(inner.update)

    def init(params):
        leaves, treedef = jax.tree.flatten(params)
        master = [
            jnp.array(p, dtype=dtype, copy=True) if _needs_copy(p, dtype) else MaskedNode()
            for p in leaves
        ]
        working = [m if not isinstance(m, MaskedNode) else p for m, p in zip(master, leaves)]
        return MasterWeightsState(
            jax.tree.unflatten(treedef, master), inner.init(jax.tree.unflatten(treedef, working))
        )

    def update(updates, state, params=None, **extra_args):
        _tree.require_params(call, params)
        _tree.check_structure(call, params, updates)
        leaves, treedef = jax.tree.flatten(params)
        g_leaves = _tree.flatten_up_to(treedef, updates)
        master = _tree.flatten_up_to(treedef, state.master)
        copied = [not isinstance(m, MaskedNode) for m in master]
        working = [m if c else p for m, p, c in zip(master, leaves, copied)]
        grads = [g.astype(m.dtype) if c else g for g, m, c in zip(g_leaves, master, copied)]
        inner_updates, inner_state = inner_update(
            jax.tree.unflatten(treedef, grads),
            state.inner_state,
            jax.tree.unflatten(treedef, working),
            **extra_args,
        )
        du = _tree.flatten_up_to(treedef, inner_updates)
        new_master, out = [], []
        for d, m, p, g, c in zip(du, master, leaves, g_leaves, copied):
            if not c:
                new_master.append(MaskedNode())
                out.append(d)
                continue
            m = m + d.astype(m.dtype)
            new_master.append(m)
            out.append((m.astype(p.dtype).astype(m.dtype) - p.astype(m.dtype)).astype(g.dtype))
        return jax.tree.unflatten(treedef, out), MasterWeightsState(
            jax.tree.unflatten(treedef, new_master), inner_state
        )

    return GradientTransformation(init, update)


def master_params(state: Any, like: Any = None) -> Any:
    """The master weights of a `with_master_weights` state, as a full params tree.

    Leaves that had no master copy (already in full precision) are taken from ``like``
    (the live params); without ``like`` they are None.

    Raises:
      ValueError: the state holds no master-weights state, or several.
    """
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, MasterWeightsState))
        if isinstance(node, MasterWeightsState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"optx.master_params: the state holds {len(found)} with_master_weights states; "
            "pass the one you mean"
        )
    master = found[0].master
    is_node = lambda x: isinstance(x, MaskedNode)
    if like is None:
        return jax.tree.map(lambda m: None if is_node(m) else m, master, is_leaf=is_node)
    return jax.tree.map(lambda m, p: p if is_node(m) else m, master, like, is_leaf=is_node)

"""Muon: orthogonalized momentum for the matrices, AdamW for every other leaf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx._optimizers._adam import adamw
from optx._wrappers import partition
from optx.transforms import add_decayed_weights, scale_by_learning_rate
from optx.transforms._muon import (
    NS_COEFFS_PRESETS,
    leaf_dimension_numbers,
    scale_by_muon,
    scale_by_shape,
)

_ADJUST_LR = {"original": None, "match_rms_adamw": 0.2}


@_validate.public_call("optx.muon")
def muon(
    learning_rate: ScalarOrSchedule = 1e-3,
    ns_coeffs: Any = NS_COEFFS_PRESETS["standard"],
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: ScalarOrSchedule = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: ScalarOrSchedule | None = None,
    adjust_lr_fn: str | None = None,
    bias_correction: bool = True,
) -> GradientTransformation:
    """Muon (Jordan et al., 2024): Newton-Schulz-orthogonalized momentum for matrices.

    Update rule, for a matrix ``W`` (see `scale_by_muon` for ``NS`` and ``m_hat``, and
    `scale_by_shape` for ``scale``)::

        W = W - learning_rate * (scale * NS(m_hat) + weight_decay * W)

    and AdamW (``optx.adamw(adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
    mu_dtype, adam_weight_decay, nesterov=nesterov)``) for every other leaf.
    ``chain(scale_by_muon, scale_by_shape, add_decayed_weights, scale_by_learning_rate)``
    on the matrices, in an `optx.partition` with groups ``"muon"`` and ``"adam"``, as
    ``optax.contrib.muon``: same arguments, defaults and meaning (``learning_rate`` gets
    torch's default 1e-3; Optax has none). `optx.get_hyperparams` names the shared ones
    by group: ``"muon/learning_rate"``, ``"adam/learning_rate"``.

    Which leaves are matrices: with ``muon_weight_dimension_numbers=None``, the 2-D ones
    (rows = the reduction axis, as for ``y = x @ W``). Otherwise a tree (or a function
    ``params -> tree``) of `MuonDimensionNumbers` (Optax's are accepted) with None for
    the Adam leaves; a higher-rank leaf is reshaped to a batch of ``(prod(reduction
    axes), prod(output axes))`` matrices, each orthogonalized on its own.

    torch.optim.Muon (``lr, weight_decay, momentum, nesterov, ns_coefficients, eps,
    ns_steps, adjust_lr_fn``): ``muon(lr, ns_coeffs, ns_steps, beta=momentum, eps=eps,
    weight_decay=weight_decay, nesterov=nesterov, adjust_lr_fn=adjust_lr_fn or "original",
    bias_correction=False)``, with ``MuonDimensionNumbers(1, 0)`` for torch's ``(out,
    in)`` weights. ``adjust_lr_fn`` is torch's shape-dependent learning rate:
    ``"original"`` scales by ``sqrt(max(1, fan_out / fan_in))`` (torch's
    ``sqrt(max(1, rows / cols))``, Optax's default), ``"match_rms_adamw"`` by
    ``0.2 * sqrt(max(fan_in, fan_out))`` (Optax's ``consistent_rms=0.2``); None leaves it
    to ``consistent_rms``. Torch's weight decay ``W * (1 - lr * weight_decay)`` is the
    decay above; its eps is a floor on the norm (``max(||X||, eps)``) where optx adds it.
    Torch refuses non-matrix params; optx gives them AdamW, as Optax.

    State: ``mu`` for each matrix, ``mu`` and ``nu`` (AdamW) for each other leaf.

    Args:
      learning_rate: >= 0; float, array or schedule.
      ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov, adaptive, preconditioning,
        bias_correction: as in `scale_by_muon` (``eps`` is also AdamW's).
      weight_decay: decoupled decay of the matrices, multiplied by the learning rate.
      weight_decay_mask: which matrices to decay (as `add_decayed_weights`).
      adam_b1, adam_b2, adam_eps_root, adam_weight_decay: AdamW's, for the other leaves.
      adam_learning_rate: AdamW's learning rate (default: ``learning_rate``).
      muon_weight_dimension_numbers: see above.
      consistent_rms: as in `scale_by_shape`.
      adjust_lr_fn: None, ``"original"`` or ``"match_rms_adamw"`` (torch's names).

    Raises:
      ValueError: bad arguments, ``adjust_lr_fn`` together with ``consistent_rms``; at
        update, a leaf of rank < 2 given dimension numbers.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.muon(0.02, weight_decay=0.01)
      >>> params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}
      >>> state = tx.init(params)
      >>> grads = {"w": jnp.eye(4, 3), "b": jnp.ones(3)}
      >>> updates, state = tx.update(grads, state, params)
      >>> sorted(optx.get_hyperparams(state))[:3]
      ['adam/eps', 'adam/learning_rate', 'adam/weight_decay']

    References:
      Jordan et al., 2024, Muon: An optimizer for hidden layers in neural networks,
      https://kellerjordan.github.io/posts/muon/ ;
      Liu et al., 2025, Muon is Scalable for LLM Training, https://arxiv.org/abs/2502.16982
    """
    call = "optx.muon"
    if adjust_lr_fn is not None:
        _validate.check_choice(call, "adjust_lr_fn", adjust_lr_fn, tuple(_ADJUST_LR))
        if consistent_rms is not None:
            raise ValueError(
                f"{call}: give adjust_lr_fn={adjust_lr_fn!r} or consistent_rms="
                f"{consistent_rms!r}, not both (match_rms_adamw is consistent_rms=0.2)"
            )
        consistent_rms = _ADJUST_LR[adjust_lr_fn]
    dims = muon_weight_dimension_numbers

    def labels(params):
        leaves, treedef = jax.tree.flatten(params)
        if dims is None:
            flat = ["muon" if getattr(p, "ndim", 0) == 2 else "adam" for p in leaves]
        else:
            found = leaf_dimension_numbers(call, dims, params, keep_none=True)
            flat = ["adam" if d is None else "muon" for d in found]
        return jax.tree.unflatten(treedef, flat)

    matrices = chain(
        scale_by_muon(
            ns_coeffs,
            ns_steps,
            beta,
            eps,
            mu_dtype,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=dims,
            bias_correction=bias_correction,
        ),
        scale_by_shape(dims, consistent_rms),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    others = adamw(
        learning_rate if adam_learning_rate is None else adam_learning_rate,
        adam_b1,
        adam_b2,
        eps,
        adam_eps_root,
        mu_dtype,
        adam_weight_decay,
        nesterov=nesterov,
    )
    return partition({"muon": matrices, "adam": others}, labels)

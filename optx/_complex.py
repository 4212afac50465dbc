"""Complex params: the dtype of first-moment buffers (kept complex for complex leaves).

Second moments of complex gradients are moments of ``|g|**2`` and stored real
(`optx.moments_like` with ``real=True``); first moments (momentum, EMA) average
``g`` itself and stay complex. A real ``accumulator_dtype`` asked for a complex leaf is read
as the complex dtype of that precision (float32 -> complex64), so the imaginary part is kept.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

_COMPLEX_OF = {jnp.dtype(jnp.float32): jnp.complex64, jnp.dtype(jnp.float64): jnp.complex128}


def first_moment_dtype(leaf: Any, dtype: Any) -> Any:
    """``dtype`` for a first moment of ``leaf``: its complex counterpart for complex leaves."""
    if dtype is None:
        return jnp.result_type(leaf)
    dtype = jnp.dtype(dtype)
    if jnp.iscomplexobj(leaf) and not jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.dtype(_COMPLEX_OF.get(dtype, jnp.complex64))
    return dtype


def first_moments_like(params: Any, dtype: Any = None) -> Any:
    """Zeros like ``params`` in ``dtype`` (default each leaf's), complex for complex leaves."""
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=first_moment_dtype(p, dtype)), params)

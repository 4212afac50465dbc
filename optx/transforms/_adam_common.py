"""Per-leaf arithmetic shared by the Adam variants."""

from __future__ import annotations

from typing import Any

import jax


def ema_into(decay: jax.Array, complement: jax.Array, buf: jax.Array, x: jax.Array, wide: Any):
    """``decay * buf + (1 - decay) * x`` in ``wide``, stored in the buffer's dtype."""
    d, c = decay.astype(wide), complement.astype(wide)
    return (d * buf.astype(wide) + c * x).astype(buf.dtype)

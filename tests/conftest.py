"""Strict JAX for every test: set before anything starts the backend.

- 4 simulated CPU devices (multi-device tests; DESIGN.md says 2 to 4, not 8).
- CPU collectives time out after 20 s instead of deadlocking.
- Strict dtype promotion and rank promotion raise, so silent upcasts are caught.
- Warnings are errors (pyproject.toml); exceptions are listed there with their reason.
"""

import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_cpu_collective_call_terminate_timeout_seconds" not in _flags:
    _flags += " --xla_cpu_collective_call_terminate_timeout_seconds=20"
os.environ["XLA_FLAGS"] = _flags.strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

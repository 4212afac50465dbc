"""Counting XLA compilations, for tests that check a step does not recompile.

JAX records one ``/jax/core/compile/backend_compile_duration`` event (`jax.monitoring`) per
XLA compilation (a cache hit of a jitted function records none), so counting those events
counts compiles, not traces. Every compile in the process is counted, including small ones
such as ``jnp.ones`` of a new shape: build inputs before counting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from jax import monitoring

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCount:
    """The number of XLA compilations seen so far inside `counting_compiles`."""

    def __init__(self) -> None:
        self.count = 0

    def __repr__(self) -> str:
        return f"CompileCount({self.count})"


@contextlib.contextmanager
def counting_compiles() -> Iterator[CompileCount]:
    """Counts XLA compilations while the ``with`` block runs (read ``.count``)."""
    counter = CompileCount()

    def listener(event: str, duration: float, **kwargs: Any) -> None:
        del duration, kwargs
        if event == BACKEND_COMPILE_EVENT:
            counter.count += 1

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counter
    finally:
        monitoring.unregister_event_duration_listener(listener)


def count_compiles(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``fn(*args, **kwargs)`` and the number of XLA compilations it caused."""
    with counting_compiles() as counter:
        out = fn(*args, **kwargs)
    return out, counter.count

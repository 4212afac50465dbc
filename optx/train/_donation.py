"""Jitted steps that donate their input state, with a clear error when a state is reused."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_DONATED = "deleted or donated"


class DonatingStep:
    """A jitted step whose first argument is donated.

    Calls the compiled step; when JAX refuses an input because its buffers were donated to
    an earlier call, raises a ValueError that says so and how to avoid it. Attributes of the
    jitted function (``lower``, ``trace``, ...) are reachable through this object.
    """

    def __init__(self, jitted: Callable[..., Any], call: str):
        self._jitted = jitted
        self._call = call
        functools.update_wrapper(self, jitted)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._jitted(*args, **kwargs)
        except ValueError as error:
            if _DONATED not in str(error):
                raise
            raise ValueError(
                f"{self._call}: an input array was already donated to an earlier call. The "
                "step donates the state it is given (its buffers are reused for the new "
                "state), so a state, or the params you built it from with "
                "TrainState.create, can be used only once: keep using the state the step "
                "returns, build a new state from freshly created params, or make the step "
                "with donate=False."
            ) from error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jitted, name)

"""Which cases of a sweep run in the contributors' fast set (``-m "not slow"``).

A sweep over the registry (every optimizer, schedule, wrapper or step builder) runs every
case in the full run (the README's test command, CI's first stage) and only a few
representative cases in the fast run, so each sweeping test still runs there, on the rules
that matter most. `cases` marks the other cases ``slow``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

# Plain momentum, Adam's moments, decoupled decay, factored second moments and a matrix
# preconditioner: one optimizer per kind of state.
REPRESENTATIVE = ("sgd", "adam", "adamw", "adafactor", "muon")


def cases(
    values: Iterable[Any],
    keep: Iterable[Any] | int = REPRESENTATIVE,
    name: Callable[[Any], Any] = lambda v: v,
) -> list[Any]:
    """``values`` as `pytest.param`s, those not in ``keep`` marked ``slow``.

    ``keep`` is a collection of names (``name(value)``), or an int ``k``: the first ``k``
    values. When no value is kept, the first one is, so the fast run never drops a test. A
    tuple value is unpacked into the test's arguments; ids are ``str(name(value))``.
    """
    values = list(values)
    names = [name(v) for v in values]
    if isinstance(keep, int):
        kept = set(range(min(keep, len(values))))
    else:
        wanted = set(keep)
        kept = {i for i, n in enumerate(names) if n in wanted} or {0}
    params = []
    for i, (value, n) in enumerate(zip(values, names)):
        args = value if isinstance(value, tuple) else (value,)
        marks = () if i in kept else (pytest.mark.slow,)
        params.append(pytest.param(*args, marks=marks, id=str(n)))
    return params

"""The shape of a registry entry: an optimizer under test and what it needs.

Each family's entries live in their own ``tests/_cases_*.py`` module; `registry.py`
collects them. Tests iterate over the registry and never branch on a name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class Case:
    """An optimizer (or wrapped optimizer) for the contract suite.

    Attributes:
      name: id shown by pytest.
      make: builds the transformation from keyword arguments.
      kwargs: arguments for the contract checks (small, stable steps).
      quadratic: arguments under which it converges on the quadratic bowl in
        ``quadratic_steps`` steps (None: this optimizer is not a minimizer of that kind,
        with the reason in ``why_not_quadratic``).
      rosenbrock: arguments under which it reaches (1, 1) on Rosenbrock within 0.1 in
        ``rosenbrock_steps`` steps, or None with ``why_not_rosenbrock``.
      extra_args: builds the extra keyword arguments of one update from a PRNG key
        (e.g. ``{"key": key}`` for noise), or None.
      hyperparam: a numeric hyperparameter name to read and set through the state.
      skip_checks: contract checks that do not apply, each with its reason.
      replicated_state: names of state fields (NamedTuple attributes) whose arrays are
        replicated on the params' mesh although they sit under a param's key (Kronecker
        factors of shape ``(n, n)``: both axes index one param axis, so no param spec
        fits them), each name with the reason; tests/test_state_sharding.py checks
        those arrays are replicated.
      refuses_complex: the public call whose ``init`` refuses complex params (its rule
        needs a sign or an order of each value), named in the error; "" when complex
        params are supported (tests/test_complex.py checks either way).
    """

    name: str
    make: Callable[..., Any]
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    quadratic: dict[str, Any] | None = None
    quadratic_steps: int = 500
    why_not_quadratic: str = ""
    rosenbrock: dict[str, Any] | None = None
    rosenbrock_steps: int = 3000
    why_not_rosenbrock: str = ""
    extra_args: Callable[[jax.Array], dict[str, Any]] | None = None
    hyperparam: str = "learning_rate"
    skip_checks: dict[str, str] = dataclasses.field(default_factory=dict)
    replicated_state: dict[str, str] = dataclasses.field(default_factory=dict)
    refuses_complex: str = ""

    def build(self, **overrides: Any) -> Any:
        return self.make(**{**self.kwargs, **overrides})

    def __post_init__(self):
        if self.quadratic is None and not self.why_not_quadratic:
            raise ValueError(f"{self.name}: give quadratic kwargs or why_not_quadratic")
        if self.rosenbrock is None and not self.why_not_rosenbrock:
            raise ValueError(f"{self.name}: give rosenbrock kwargs or why_not_rosenbrock")

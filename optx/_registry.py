"""Creating optimizers by name, as MXNet's ``optimizer.create`` and Gluon's ``Trainer`` do.

Every alias in ``optx`` (``sgd``, ``adam``, ``lamb``, ...) is found by name when it is
looked up, so optimizers added to the package are picked up without a list to maintain;
``ranger`` (a wrapper around RAdam) is added explicitly.
MXNet's and fastai's spellings map to them (``"SignSGD"``, ``"LARC"``); names are
case-insensitive, and ``-`` is read as ``_``. Users add their own with
`register_optimizer`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

from optx._core import GradientTransformation

# Other libraries' names for optx optimizers: name -> (optx alias, fixed keyword arguments).
_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "signsgd": ("sign_sgd", {}),  # MXNet's kernel name
    "ccsgd": ("sgd", {}),  # MXNet 1.x's deprecated ccSGD, which is SGD
    "larc": ("lars", {"clip": True, "paper_ratio": True}),  # fastai's Larc(clip=True)
    "nesterov": ("nag", {"lr_inside_momentum": False}),  # PyTorch/Optax Nesterov SGD
}

# MXNet/Gluon argument names, suggested when given to create().
_MXNET_ARGUMENTS = {
    "lr": "learning_rate",
    "wd": "weight_decay",
    "beta1": "b1",
    "beta2": "b2",
    "epsilon": "eps",
    "lamda1": "lambda1",
    "gamma1": "decay",
    "gamma2": "momentum",
    "rho": "decay",
    "mom": "momentum",  # fastai
    "sqr_mom": "b2",  # fastai
    "eta": "trust_coefficient",  # MXNet LARS
    "trust_coeff": "trust_coefficient",  # fastai LARC
}

_USER: dict[str, Callable[..., GradientTransformation]] = {}


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


# Complete optimizers of the catalogue that live outside optx._optimizers.
_WRAPPED_OPTIMIZERS = ("ranger",)  # fastai's ranger: lookahead around RAdam


def _builtins() -> dict[str, Callable[..., GradientTransformation]]:
    from optx import _optimizers, _wrappers

    table = {name: getattr(_optimizers, name) for name in _optimizers.__all__}
    table.update({name: getattr(_wrappers, name) for name in _WRAPPED_OPTIMIZERS})
    return table


def _all() -> dict[str, Callable[..., GradientTransformation]]:
    builtins = _builtins()
    table = dict(builtins)
    for alias, (target, fixed) in _ALIASES.items():
        if target in builtins:
            table[alias] = functools.wraps(builtins[target])(
                functools.partial(builtins[target], **fixed)
            )
    table.update(_USER)
    return table


def register_optimizer(
    name: str | Callable[..., GradientTransformation] | None = None,
    *,
    overwrite: bool = False,
) -> Any:
    """Registers an optimizer factory so `create` finds it by name.

    Use as ``@register_optimizer`` (the function's name) or ``@register_optimizer("name")``.
    Names are case-insensitive.

    Args:
      name: the registered name; default the factory's ``__name__``.
      overwrite: keyword-only; allow replacing an existing name (built-in or not).

    Returns:
      The decorator, or the factory itself when used without parentheses.

    Raises:
      ValueError: the name is taken and ``overwrite`` is False.
      TypeError: the factory is not callable.

    Examples:
      >>> import optx
      >>> @optx.register_optimizer("my_sgd", overwrite=True)
      ... def my_sgd(learning_rate=0.1):
      ...     return optx.sgd(learning_rate)
      >>> "my_sgd" in optx.registered_optimizers()
      True
    """

    def register(factory: Callable[..., GradientTransformation]):
        if not callable(factory):
            raise TypeError(
                f"optx.register_optimizer: expected an optimizer factory, got {factory!r}"
            )
        key = _normalize(name if isinstance(name, str) else factory.__name__)
        if key in _all() and not overwrite:
            raise ValueError(
                f"optx.register_optimizer: {key!r} is already registered; pick another name "
                "or pass overwrite=True"
            )
        _USER[key] = factory
        return factory

    if callable(name) and not isinstance(name, str):
        factory, name = name, None
        return register(factory)
    return register


def registered_optimizers() -> dict[str, Callable[..., GradientTransformation]]:
    """Every name `create` accepts, sorted, mapped to its factory.

    Examples:
      >>> import optx
      >>> {"adam", "lamb", "nag", "ranger", "signsgd"} <= set(optx.registered_optimizers())
      True
    """
    table = _all()
    return {name: table[name] for name in sorted(table)}


def create(name: str, **hyperparams: Any) -> GradientTransformation:
    """Builds a registered optimizer from its name and keyword hyperparameters.

    ``optx.create("adam", learning_rate=1e-3)`` is ``optx.adam(learning_rate=1e-3)``.
    Names are case-insensitive (MXNet's ``"NAG"``, ``"Signum"``, ``"FTML"``, ``"LBSGD"``
    work) and include ``"ranger"``, MXNet's ``"signsgd"`` and ``"ccsgd"`` (SGD), fastai's
    ``"larc"`` (``lars`` with ``clip=True, paper_ratio=True``) and ``"nesterov"`` (Nesterov
    SGD with the rate outside the momentum).
    Hyperparameters use optx's names (``learning_rate``, ``weight_decay``, ``b1``...).

    Args:
      name: a name from `registered_optimizers`.
      **hyperparams: keyword arguments of that optimizer.

    Raises:
      ValueError: an unknown name (the message lists close matches).
      TypeError: an argument the optimizer does not take (the message lists those it
        does, and the optx name of an MXNet spelling such as ``wd``).

    Examples:
      >>> import optx
      >>> tx = optx.create("NAG", learning_rate=0.1, momentum=0.9)
      >>> optx.is_transformation(tx)
      True
    """
    if not isinstance(name, str):
        raise TypeError(f"optx.create: name must be a string, got {name!r}")
    table = _all()
    key = _normalize(name)
    if key not in table:
        close = difflib.get_close_matches(key, list(table), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"optx.create: unknown optimizer {name!r}{hint} "
            "(optx.registered_optimizers() lists every name)"
        )
    factory = table[key]
    _check_arguments(key, factory, hyperparams)
    return factory(**hyperparams)


def _check_arguments(key: str, factory: Callable, hyperparams: dict[str, Any]) -> None:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [
        n
        for n, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [n for n in hyperparams if n not in accepted]
    if not unknown:
        return
    hints = []
    for bad in unknown:
        guess = _MXNET_ARGUMENTS.get(bad)
        if guess in accepted:
            hints.append(f"{bad!r} is {guess!r} in optx")
        else:
            close = difflib.get_close_matches(bad, accepted, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r} for {bad!r}?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise TypeError(
        f"optx.create: optimizer {key!r} got unexpected argument(s) "
        f"{', '.join(repr(u) for u in unknown)}{hint}; it accepts {', '.join(accepted)}"
    )

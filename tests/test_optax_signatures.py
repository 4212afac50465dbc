"""Every name optx shares with Optax takes Optax's arguments with Optax's meaning.

For each shared name the Optax parameters must appear in optx with the same name, kind,
position and default (numbers compared numerically). optx may add keyword-only
parameters, or positional ones after all of Optax's, and may give a default to a
parameter Optax requires (every Optax call still means the same). Anything else must be
listed in `DOCUMENTED_DIFFERENCES` with its reason (docs/coming-from/optax.md).
"""

from __future__ import annotations

import inspect

import numpy as np
import optax
import optax.contrib
import optax.schedules
import pytest

import optx
import optx.schedules
import optx.transforms

_STATE = "state layout: optx states carry count and hyperparams (DESIGN section 2); opaque"
_NOT_IN_TRANSFORM = "not implemented in optx's transform"

DOCUMENTED_DIFFERENCES = {
    # State classes: constructed by init, not by users.
    "ApplyIfFiniteState": _STATE,
    "ConditionallyTransformState": _STATE,
    "LookaheadState": _STATE + "; slow weights live in the state, not in LookaheadParams",
    "ScaleByRmsState": _STATE,
    "ScheduleFreeState": _STATE + "; params_b1 is Optax's b1 (b1 is a hyperparameter)",
    "ScaleByRpropState": _STATE,
    "ScaleByRssState": _STATE,
    "TraceState": _STATE,
    "ZeroNansState": _STATE,
    "ScaleByAdanState": _STATE,
    "ScaleByAdemamixState": _STATE,
    # Defaults that differ on purpose.
    "adadelta": "learning_rate=None in Optax skips the sign flip (ascends); optx uses 1.0",
    "scale_by_learning_rate": "learning_rate is required: Optax's None default ascends",
    "add_noise": "key defaults to 0 (a seed), Optax requires key or seed=; seed= missing",
    "sophia": "hessian_diagonal_fn=None builds Hutchinson's estimator (Optax's default)",
    "lbfgs": "linesearch default: an optx zoom line search with Optax's default settings",
    "ScaleByZoomLinesearchState": _STATE,
    # Optax features not (yet) implemented; an Optax call using them raises TypeError.
    "adabelief": "nesterov= " + _NOT_IN_TRANSFORM,
    "scale_by_belief": "nesterov= " + _NOT_IN_TRANSFORM,
    "radam": "nesterov= " + _NOT_IN_TRANSFORM,
    "scale_by_radam": "nesterov= " + _NOT_IN_TRANSFORM,
    "amsgrad": "bias_correction_mu/_nu= " + _NOT_IN_TRANSFORM + " (max_of= selects the form)",
    "scale_by_amsgrad": "bias_correction_mu/_nu= " + _NOT_IN_TRANSFORM,
    "adaptive_grad_clip": "axis= " + _NOT_IN_TRANSFORM + " (norms are per leaf)",
    "scale_by_factored_rms": "decay_rate_fn= " + _NOT_IN_TRANSFORM,
    "scale_by_lion": "mode=/smooth_beta= " + _NOT_IN_TRANSFORM,
    "masked": "mask_compatible_extra_args= not implemented (extra args are passed whole)",
    "partition": "mask_compatible_extra_args= not implemented (extra args are passed whole)",
}

_OPTAX_MODULES = (optax, optax.schedules, optax.contrib)


def _optx_names() -> dict[str, object]:
    names = {n: getattr(optx, n) for n in optx.__all__}
    for n in optx.schedules.__all__:
        names.setdefault(n, getattr(optx.schedules, n))
    for n in dir(optx.transforms):
        if not n.startswith("_"):
            names.setdefault(n, getattr(optx.transforms, n))
    return names


def _optax(name):
    for module in _OPTAX_MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _shared() -> list[str]:
    out = []
    for name, ours in _optx_names().items():
        theirs = _optax(name)
        if theirs is None or not callable(ours) or not callable(theirs):
            continue
        try:
            inspect.signature(theirs), inspect.signature(ours)
        except (TypeError, ValueError):  # typing aliases such as Schedule
            continue
        out.append(name)
    return sorted(out)


SHARED = _shared()


def _same_default(a, b) -> bool:
    if a is b:
        return True
    numbers = (int, float, np.number)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return not isinstance(b, bool) and bool(np.isclose(a, b, rtol=1e-12, atol=0))
    if callable(a) and callable(b) and not isinstance(a, type):  # e.g. count -> count**0.25
        counts = (0, 1, 7, 1000)
        return all(np.allclose(np.asarray(a(c)), np.asarray(b(c)), rtol=1e-6) for c in counts)
    try:
        return np.dtype(a) == np.dtype(b)
    except TypeError:
        return a == b


def signature_differences(theirs, ours) -> list[str]:
    """What in ``ours`` would change the meaning of a call written for ``theirs``."""
    empty = inspect.Parameter.empty
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    t = list(inspect.signature(theirs).parameters.values())
    o = list(inspect.signature(ours).parameters.values())
    by_name = {p.name: p for p in o}
    problems = []
    for i, p in enumerate(t):
        if p.kind == p.VAR_POSITIONAL:
            if i >= len(o) or o[i].kind != p.VAR_POSITIONAL:
                problems.append(f"*{p.name}: optx takes no *args at position {i}")
            continue
        if p.kind == p.VAR_KEYWORD:
            if not any(q.kind == q.VAR_KEYWORD for q in o):
                problems.append(f"**{p.name} missing")
            continue
        q = by_name.get(p.name)
        if q is None:
            problems.append(f"{p.name}: missing")
            continue
        if (p.kind in positional) != (q.kind in positional):
            problems.append(f"{p.name}: kind {p.kind.description} -> {q.kind.description}")
        if p.kind in positional and (i >= len(o) or o[i].name != p.name):
            problems.append(f"{p.name}: position {i} -> {o.index(q)}")
        if p.default is not empty and not _same_default(p.default, q.default):
            problems.append(f"{p.name}: default {p.default!r} -> {q.default!r}")
    known = {p.name for p in t}
    n_positional = sum(p.kind in positional for p in t)
    for j, q in enumerate(o):
        if q.name not in known and q.kind in positional and j < n_positional:
            problems.append(f"{q.name}: optx-only positional parameter before Optax's")
    return problems


def test_shared_names_are_found():
    # A sanity floor: the comparison must not silently find nothing.
    assert len(SHARED) > 100
    for name in ("lars", "nadam", "signum", "lookahead", "MultiSteps", "exponential_decay"):
        assert name in SHARED


@pytest.mark.parametrize("name", SHARED)
def test_signature_matches_optax(name):
    problems = signature_differences(_optax(name), _optx_names()[name])
    if name in DOCUMENTED_DIFFERENCES:
        assert problems, f"{name} now matches Optax: drop it from DOCUMENTED_DIFFERENCES"
        return
    assert not problems, f"optx.{name} differs from optax.{name}: {problems}"


def test_documented_differences_are_shared_names_with_reasons():
    for name, reason in DOCUMENTED_DIFFERENCES.items():
        assert name in SHARED, name
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason


def test_the_checker_catches_a_moved_argument():
    def theirs(learning_rate, weight_decay=0.0, momentum=0.9):
        del learning_rate, weight_decay, momentum

    def ours(learning_rate=0.1, momentum=0.9, weight_decay=0.0):
        del learning_rate, weight_decay, momentum

    def fine(learning_rate=0.1, weight_decay=0.0, momentum=0.9, *, clip=False):
        del learning_rate, weight_decay, momentum, clip

    assert signature_differences(theirs, ours)
    assert not signature_differences(theirs, fine)

"""The worked example of CONTRIBUTING.md runs, and works with the whole hyperparameter API."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

_GUIDE = pathlib.Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"


def _example() -> dict:
    text = _GUIDE.read_text()
    section = text[text.index("## Writing a transform") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(_GUIDE), "exec"), namespace)  # noqa: S102 - our own guide
    return namespace


def test_example_is_short():
    text = _GUIDE.read_text()
    section = text[text.index("## Writing a transform") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) < 40


def _reference(grads, decay, eps):
    v, out = np.zeros_like(grads[0]), []
    for g in grads:
        v = decay * v + (1 - decay) * g * g
        out.append(g / (np.sqrt(v) + eps))
    return out


def test_example_matches_its_rule_and_passes_the_contract():
    tx = _example()["scale_by_my_rms"](decay=0.8, eps=1e-3)
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    optx.testing.check_transform(tx, params)
    grads = [np.array([1.0, -2.0, 0.5], np.float32) * (k + 1) for k in range(4)]
    state = tx.init(jnp.zeros(3))
    got = []
    for g in grads:
        u, state = tx.update(jnp.asarray(g), state)
        got.append(np.asarray(u))
    np.testing.assert_allclose(got, _reference(grads, 0.8, 1e-3), rtol=1e-5)
    assert int(state.count) == 4


def test_example_joins_get_and_set_hyperparams_without_recompiling():
    tx = _example()["scale_by_my_rms"](decay=0.9, eps=1e-8)
    state = tx.init(jnp.zeros(2))
    assert float(optx.get_hyperparams(state)["eps"]) == pytest.approx(1e-8)
    step = jax.jit(tx.update)
    g = jnp.array([1.0, 2.0])
    step(g, state)
    changed = optx.set_hyperparams(state, eps=0.5)
    u, _ = step(g, changed)
    assert step._cache_size() == 1
    np.testing.assert_allclose(u, g / (jnp.sqrt(0.1 * g * g) + 0.5), rtol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        optx.set_hyperparams(state, decay=1.5)


def test_example_follows_a_schedule_and_checks_its_arguments():
    make = _example()["scale_by_my_rms"]
    tx = make(decay=lambda count: jnp.where(count < 1, 0.0, 0.5), eps=0.0)
    state = tx.init(jnp.zeros(1))
    u1, state = tx.update(jnp.array([2.0]), state)  # decay 0: v = g**2, u = sign(g)
    u2, state = tx.update(jnp.array([4.0]), state)  # decay 0.5: v = 0.5 * 4 + 0.5 * 16
    np.testing.assert_allclose(u1, [1.0])
    np.testing.assert_allclose(u2, [4.0 / np.sqrt(10.0)], rtol=1e-6)
    with pytest.raises(ValueError, match=r"scale_by_my_rms.*decay"):
        make(decay=1.5)
    with pytest.raises(ValueError, match=r"scale_by_my_rms.*eps"):
        make(eps=-1.0)

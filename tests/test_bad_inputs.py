"""Zero silent wrong answers on bad input (issue 17).

Every case of the matrix in ``tests/_cases_bad_inputs.py`` raises a clear error naming the
public call and the argument or value; the inputs that are deliberately accepted are listed
below, each with a test of its result against Optax.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _cases_bad_inputs import CASES

import optx


def test_the_matrix_is_large_and_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 120
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("thunk", "exception", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_error(thunk, exception, pattern):
    with pytest.raises(exception) as info:
        thunk()
    assert re.search(pattern, str(info.value)), str(info.value)


# Documented acceptances: inputs that work, as in Optax.


def _run(tx, params, grads, steps=3, apply=None):
    if apply is optax.apply_updates:  # Optax's adam is not written for strict promotion
        with jax.numpy_dtype_promotion("standard"):
            return _steps(tx, params, grads, steps, apply)
    return _steps(tx, params, grads, steps, apply or optx.apply_updates)


def _steps(tx, params, grads, steps, apply):
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(grads, state, params)
        params = apply(params, updates)
    return params


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "lion"])
def test_integer_gradients_are_promoted_to_the_param_dtype(name):
    """An int32 gradient steps a float32 param as the same float gradient does in Optax."""
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    int_grads = {"w": jnp.array([1, -3, 2], jnp.int32)}
    float_grads = {"w": int_grads["w"].astype(jnp.float32)}
    got = _run(getattr(optx, name)(0.1), params, int_grads)
    want = _run(getattr(optax, name)(0.1), params, float_grads, apply=optax.apply_updates)
    assert got["w"].dtype == jnp.float32
    np.testing.assert_allclose(got["w"], want["w"], rtol=1e-5)  # float32 rounding
    assert not np.allclose(got["w"], params["w"])  # the step is not rounded away


def test_integer_gradients_are_promoted_under_jit_and_for_bf16_params():
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    tx = optx.sgd(0.5)
    updates, _ = jax.jit(tx.update)({"w": jnp.full(4, 2, jnp.int32)}, tx.init(params), params)
    assert updates["w"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(updates["w"], np.float32), -np.ones(4))


def test_python_float_leaves_work_as_in_optax():
    params, grads = {"w": 1.0, "b": -0.5}, {"w": 0.3, "b": 1.0}
    got = _run(optx.adam(0.1), params, grads)
    want = _run(optax.adam(0.1), params, grads, apply=optax.apply_updates)
    for key in params:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    assert float(got["w"]) != 1.0


def test_python_int_gradient_for_a_python_float_param():
    got = _run(optx.sgd(0.25), {"w": 1.0}, {"w": 2}, steps=2)
    np.testing.assert_allclose(got["w"], 1.0 - 2 * 0.25 * 2)


def test_integer_leaf_left_out_by_a_mask_is_accepted_and_unchanged():
    params = {"w": jnp.ones(2), "n": jnp.array(7, jnp.int32)}
    tx = optx.masked(optx.adam(0.1), {"w": True, "n": False})
    got = _run(tx, params, {"w": jnp.ones(2), "n": jnp.array(0, jnp.int32)}, steps=1)
    assert int(got["n"]) == 7 and got["n"].dtype == jnp.int32
    want = _run(optax.adam(0.1), {"w": jnp.ones(2)}, {"w": jnp.ones(2)}, 1, optax.apply_updates)
    np.testing.assert_allclose(got["w"], want["w"], rtol=1e-5)

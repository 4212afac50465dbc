"""`optx.testing.check_transform` catches each broken contract it names, with a message
naming the check (and passes the same transform without the defect)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx
from optx.testing import check_transform

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}


def _tx(update, init=lambda params: jnp.zeros([], jnp.int32)):
    return optx.GradientTransformation(init, update)


def _no_extra_args(updates, state, params=None):
    return updates, state


def _eager_differs(updates, state, params=None, **extra):
    factor = 2.0 if isinstance(jax.tree.leaves(updates)[0], jax.core.Tracer) else 1.0
    return jax.tree.map(lambda g: factor * g, updates), state + 1


def _count_becomes_float(updates, state, params=None, **extra):
    return updates, state.astype(jnp.float32) + 1.0


def _state_grows(updates, state, params=None, **extra):
    return updates, (state, state)


def _updates_in_float32(updates, state, params=None, **extra):
    return jax.tree.map(lambda g: g.astype(jnp.float32), updates), state + 1


def _nan_updates(updates, state, params=None, **extra):
    return jax.tree.map(lambda g: g * jnp.nan, updates), state + 1


def _norm_of_whole_batch(updates, state, params=None, **extra):
    # A host callback told to see the whole batch at once: under vmap it sums over both
    # examples, so the vmapped update differs from two separate ones.
    def total(x):
        batch = lambda a: a.shape[: a.ndim - x.ndim]  # noqa: E731  (() outside vmap)
        return jax.pure_callback(
            lambda a: np.broadcast_to(np.abs(a).sum(), batch(a)).astype(a.dtype),
            jax.ShapeDtypeStruct((), x.dtype),
            x,
            vmap_method="expand_dims",
        )

    return jax.tree.map(lambda g: g / total(g), updates), state + 1


def _one_zero_twice(params):
    zero = jnp.zeros([], jnp.int32)
    return (zero, zero)


def _keeps_the_params(params):
    return (jnp.zeros([], jnp.int32), params)


def _pair_count(updates, state, params=None, **extra):
    return updates, (state[0] + 1, state[1])


BROKEN_INIT = {
    "donation (one buffer twice)": (
        _one_zero_twice,
        r"check_transform\[donation\]: init's state\[1\] is the same device buffer as state\[0\]",
    ),
    "donation (the params' buffer)": (
        _keeps_the_params,
        r"check_transform\[donation\]: init's state\[1\]\['b'\] is the same device buffer "
        r"as params\['b'\]",
    ),
}

BROKEN = {
    "extra_args": (_no_extra_args, r"check_transform\[extra_args\]: update does not accept"),
    "jit_equals_eager": (_eager_differs, r"check_transform\[jit_equals_eager\]"),
    "no_retrace": (_count_becomes_float, r"check_transform\[no_retrace\]: the jitted update "),
    "state_structure": (_count_becomes_float, r"check_transform\[state_structure\]: after"),
    "cond": (_state_grows, r"check_transform\[cond\]: the updated state cannot stand"),
    "dtypes": (_updates_in_float32, r"check_transform\[dtypes\]: with bfloat16 params"),
    "finite": (_nan_updates, r"(?s)finite"),
    "vmap": (_norm_of_whole_batch, r"check_transform\[vmap\]"),
}


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_each_check_catches_its_defect(check):
    update, message = BROKEN[check]
    with pytest.raises(AssertionError, match=message):
        check_transform(_tx(update), PARAMS, checks=[check])


@pytest.mark.parametrize("defect", sorted(BROKEN_INIT))
def test_donation_catches_shared_buffers(defect):
    init, message = BROKEN_INIT[defect]
    with pytest.raises(AssertionError, match=message):
        check_transform(_tx(_pair_count, init), PARAMS, checks=["donation"])
    fixed = lambda params: jax.tree.map(jnp.copy, init(params))  # noqa: E731
    check_transform(_tx(_pair_count, fixed), PARAMS, checks=["donation"])


def test_a_sound_transform_passes_every_check_and_compiles_three_times():
    from _compiles import counting_compiles

    tx = optx.chain(optx.clip_by_global_norm(1.0), optx.adam(0.1))
    with counting_compiles() as compiles:
        check_transform(tx, PARAMS)
    # init and the gradients run eagerly (their small ops compile once per shape); the jitted
    # update, and vmap's init and update, are the three compiles of transformed functions
    assert compiles.count >= 3


def test_unknown_check_is_refused():
    with pytest.raises(ValueError, match=r"unknown checks \['jit'\]; choose from"):
        check_transform(optx.sgd(0.1), PARAMS, checks=["jit"])

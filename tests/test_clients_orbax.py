"""optx states through orbax-checkpoint's ``StandardCheckpointer``: a chain with a schedule
and a frozen group (``partition`` with ``set_to_zero``) saves, restores into a target from
``jax.eval_shape`` or a fresh ``init``, and resumes bit-identical to the uninterrupted run."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from _compiles import count_compiles

import optx

SPLIT, STEPS = 4, 8


def _tx():
    schedule = optx.schedules.warmup_cosine_decay_schedule(0.0, 3e-2, 2, 10, 1e-3)
    return optx.chain(
        optx.clip_by_global_norm(1.0),
        optx.partition(
            {"train": optx.adamw(schedule, weight_decay=0.1), "frozen": optx.set_to_zero()},
            {"body/*": "frozen", "*": "train"},
        ),
    )


def _params():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    return {
        "body": {"w": jax.random.normal(k1, (3, 4)), "b": jnp.zeros(4)},
        "head": {
            "w": jax.random.normal(k2, (4, 2)),
            "b": jax.random.normal(k3, (2,)).astype(jnp.bfloat16),
        },
    }


def _batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS, 8, 3)).astype(np.float32)
    y = rng.normal(size=(STEPS, 8, 2)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def _make_step(tx):
    def loss(p, x, y):
        h = jnp.tanh(x @ p["body"]["w"] + p["body"]["b"][None, :])
        out = h @ p["head"]["w"] + p["head"]["b"].astype(jnp.float32)[None, :]
        return jnp.mean((out - y) ** 2)

    @jax.jit
    def step(p, s, x, y):
        u, s = tx.update(jax.grad(loss)(p, x, y), s, p)
        return optx.apply_updates(p, u), s

    return step


def _train(step, params, state, start, stop):
    xs, ys = _batches()
    for i in range(start, stop):
        params, state = step(params, state, xs[i], ys[i])
    return params, state


def _assert_bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert (x.dtype, x.shape, x.weak_type) == (y.dtype, y.shape, y.weak_type)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("target", ["eval_shape", "fresh_init"])
def test_save_restore_resume_is_bit_identical(tmp_path, target):
    tx = _tx()
    step = _make_step(tx)
    params = _params()
    full = _train(step, params, tx.init(params), 0, STEPS)

    half = _train(step, params, tx.init(params), 0, SPLIT)
    checkpointer = ocp.StandardCheckpointer()
    path = tmp_path / "ckpt"
    checkpointer.save(path, {"params": half[0], "opt_state": half[1]})
    checkpointer.wait_until_finished()

    new_tx = _tx()  # a new process would build the optimizer again
    if target == "eval_shape":
        like = jax.eval_shape(lambda: {"params": _params(), "opt_state": new_tx.init(_params())})
    else:
        fresh = _params()
        like = {"params": fresh, "opt_state": new_tx.init(fresh)}
    restored = checkpointer.restore(path, like)
    checkpointer.close()
    _assert_bitwise(restored, {"params": half[0], "opt_state": half[1]})
    assert int(restored["opt_state"][1].inner_states["train"][0].count) == SPLIT

    # orbax restores committed arrays, which jit keys apart from the uncommitted ones of the
    # first run, so the first resumed step compiles once; after it the state is stable.
    resumed = _train(step, restored["params"], restored["opt_state"], SPLIT, SPLIT + 1)
    xs, ys = _batches()
    resumed, compiles = count_compiles(step, *resumed, xs[SPLIT + 1], ys[SPLIT + 1])
    assert compiles == 0
    resumed = _train(step, *resumed, SPLIT + 2, STEPS)
    _assert_bitwise(resumed, full)
    # The frozen group never moved.
    _assert_bitwise(resumed[0]["body"], params["body"])


def test_restored_state_has_the_hyperparameters_of_the_saved_one(tmp_path):
    tx = _tx()
    params = _params()
    _, state = _train(_make_step(tx), params, tx.init(params), 0, SPLIT)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    restored = checkpointer.restore(tmp_path / "state", jax.eval_shape(tx.init, params))
    checkpointer.close()
    saved, back = optx.get_hyperparams(state), optx.get_hyperparams(restored)
    assert sorted(saved) == sorted(back)
    for name in saved:
        np.testing.assert_array_equal(np.asarray(saved[name]), np.asarray(back[name]))

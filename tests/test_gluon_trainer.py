"""optx.train.Trainer: the Gluon-style facade (MXNet 1.9 Trainer semantics)."""

import jax.numpy as jnp
import numpy as np
import pytest

import optx
from optx import train

RNG = np.random.default_rng(0)
PARAMS = {"w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "b": jnp.asarray([0.5, -1.0])}
GRADS = [
    {k: jnp.asarray(RNG.normal(size=v.shape), jnp.float32) for k, v in PARAMS.items()}
    for _ in range(4)
]


def test_sgd_step_normalizes_by_batch_size():
    trainer = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1})
    trainer.step(GRADS[0], batch_size=8)
    for k in PARAMS:  # the Gluon tutorial's check: w - lr / b * grad
        np.testing.assert_allclose(
            trainer.params[k], np.asarray(PARAMS[k]) - 0.1 / 8 * np.asarray(GRADS[0][k]), rtol=1e-6
        )


def test_rescale_grad_and_batch_size_do_not_recompile():
    trainer = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1, "rescale_grad": 2.0})
    expected = {k: np.asarray(v) for k, v in PARAMS.items()}
    for grads, b in zip(GRADS, (1, 4, 16, 3)):
        trainer.step(grads, b)
        for k in expected:
            expected[k] = expected[k] - 0.1 * 2.0 / b * np.asarray(grads[k])
    for k in expected:
        np.testing.assert_allclose(trainer.params[k], expected[k], rtol=1e-5)
    assert trainer._apply._cache_size() == 1


def test_named_and_instance_optimizers_match_the_pure_core():
    trainer = train.Trainer(PARAMS, optx.adam(0.01, b1=0.8))
    named = train.Trainer(PARAMS, "adam", {"learning_rate": 0.01, "b1": 0.8})
    tx = optx.adam(0.01, b1=0.8)
    params, state = PARAMS, tx.init(PARAMS)
    for g in GRADS:
        trainer.step(g, batch_size=2)
        named.step(g, batch_size=2)
        updates, state = tx.update({k: v / 2 for k, v in g.items()}, state, params)
        params = optx.apply_updates(params, updates)
    for k in PARAMS:
        np.testing.assert_allclose(trainer.params[k], params[k], rtol=1e-5)  # jit vs eager
        np.testing.assert_array_equal(named.params[k], trainer.params[k])
    assert trainer.optimizer is not None and callable(trainer.optimizer.update)


def test_learning_rate_and_set_learning_rate():
    trainer = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    assert trainer.learning_rate == pytest.approx(0.1)
    trainer.step(GRADS[0], 1)
    trainer.set_learning_rate(0.01)
    assert trainer.learning_rate == pytest.approx(0.01)
    before = {k: np.asarray(v) for k, v in trainer.params.items()}
    trace = {k: 0.9 * np.asarray(GRADS[0][k]) + np.asarray(GRADS[1][k]) for k in PARAMS}
    trainer.step(GRADS[1], 1)
    for k in PARAMS:
        np.testing.assert_allclose(trainer.params[k], before[k] - 0.01 * trace[k], rtol=1e-5)
    assert trainer._apply._cache_size() == 1  # set_learning_rate did not recompile


def test_set_learning_rate_refuses_a_schedule():
    trainer = train.Trainer(PARAMS, optx.sgd(lambda count: 0.1 / (1.0 + count.astype(jnp.float32))))
    trainer.step(GRADS[0], 1)
    trainer.step(GRADS[1], 1)
    assert trainer.learning_rate == pytest.approx(0.05)  # value used for the latest update
    with pytest.raises(ValueError, match="set_learning_rate: the learning rate is driven by a"):
        trainer.set_learning_rate(0.5)


def test_allreduce_then_update_sums_replicas():
    split = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1})
    whole = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1})
    split.allreduce_grads(GRADS[0], GRADS[1])
    split.update(batch_size=4)
    whole.step({k: GRADS[0][k] + GRADS[1][k] for k in PARAMS}, batch_size=4)
    for k in PARAMS:
        np.testing.assert_allclose(split.params[k], whole.params[k], rtol=1e-6)
    with pytest.raises(RuntimeError, match="no fresh gradients"):
        split.update(4)
    with pytest.raises(ValueError, match="gradient tree does not match"):
        split.allreduce_grads({"w": GRADS[0]["w"]})
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        whole.step(GRADS[0], 0)


def test_save_and_load_states_continue_exactly(tmp_path):
    path = tmp_path / "trainer.states"
    a = train.Trainer(PARAMS, "adam", {"learning_rate": 0.01})
    for g in GRADS[:2]:
        a.step(g, 2)
    a.save_states(path)
    b = train.Trainer(a.params, "adam", {"learning_rate": 0.01})
    b.load_states(path)
    for g in GRADS[2:]:
        a.step(g, 2)
        b.step(g, 2)
    for k in PARAMS:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    other = train.Trainer(PARAMS, "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    with pytest.raises(
        train.CheckpointError, match="the checkpoint has a ScaleByAdamState node, the target"
    ):
        other.load_states(path)


def test_construction_errors():
    with pytest.raises(ValueError, match="must be empty when optimizer is an instance"):
        train.Trainer(PARAMS, optx.sgd(0.1), {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
        train.Trainer(PARAMS, "nope")
    with pytest.raises(TypeError, match="'beta1' is 'b1' in optx"):
        train.Trainer(PARAMS, "adam", {"beta1": 0.9})
    with pytest.raises(TypeError, match="must be a name or a GradientTransformation"):
        train.Trainer(PARAMS, 3)


def test_learning_rate_returns_the_python_float_given():
    trainer = train.Trainer({"w": jnp.ones(2)}, "sgd", {"learning_rate": 0.1})
    assert trainer.learning_rate == 0.1
    trainer.set_learning_rate(0.05)
    assert trainer.learning_rate == 0.05

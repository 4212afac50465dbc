"""param_groups: fastai's no-decay default, MXNet lr_mult/wd_mult, hyperparameters."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx


def _model(key):
    k = jax.random.split(key, 2)
    return {
        "Dense_0": {"kernel": jax.random.normal(k[0], (4, 8)), "bias": jnp.full(8, 0.5)},
        "LayerNorm_0": {"scale": jnp.ones(8), "bias": jnp.full(8, 0.5)},
        "head": {"kernel": jax.random.normal(k[1], (8, 3)), "bias": jnp.full(3, 0.5)},
    }


def _grads(params, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), params)


def test_default_rules_give_fastai_adam_without_decay_on_bias_and_norm():
    params = _model(jax.random.key(0))
    tx = optx.param_groups(optx.scale_by_adam(b2=0.99, eps=1e-5), 1e-2, weight_decay=0.1)
    decay_mask = {
        "Dense_0": {"kernel": True, "bias": False},
        "LayerNorm_0": {"scale": False, "bias": False},
        "head": {"kernel": True, "bias": False},
    }
    reference = optx.adamw(1e-2, b2=0.99, eps=1e-5, weight_decay=0.1, mask=decay_mask)
    grads = [_grads(params, i) for i in range(3)]

    @jax.jit
    def both(params, grads):  # three steps of each, in one program
        out = []
        for t in (tx, reference):
            p, state = params, t.init(params)
            for g in grads:
                updates, state = t.update(g, state, p)
                p = optx.apply_updates(p, updates)
            out.append(p)
        return out

    got, want = both(params, grads)
    chex.assert_trees_all_close(got, want, rtol=1e-6, atol=1e-7)


def test_lr_mult_and_coupled_wd_mult_match_mxnet_rule():
    params = _model(jax.random.key(1))
    lr, wd = 0.1, 0.01
    groups = {"body": {}, "head": {"lr_mult": 10.0, "wd_mult": 2.0}, "no_decay": {"wd_mult": 0.0}}
    labels = {"*bias": "no_decay", "head/*": "head", "*": "body"}
    tx = optx.param_groups(None, lr, wd, groups=groups, param_labels=labels, decoupled=False)
    grads = _grads(params, 0)
    updates, _ = tx.update(grads, tx.init(params), params)
    # MXNet SGD: w -= lr * lr_mult * (g + wd * wd_mult * w)
    expect_head = -lr * 10 * (grads["head"]["kernel"] + wd * 2 * params["head"]["kernel"])
    expect_body = -lr * (grads["Dense_0"]["kernel"] + wd * params["Dense_0"]["kernel"])
    np.testing.assert_allclose(updates["head"]["kernel"], expect_head, rtol=1e-6)
    np.testing.assert_allclose(updates["Dense_0"]["kernel"], expect_body, rtol=1e-6)
    np.testing.assert_allclose(updates["head"]["bias"], -lr * grads["head"]["bias"], rtol=1e-6)


def test_base_rate_is_one_hyperparameter_and_multipliers_are_settable():
    params = _model(jax.random.key(2))
    groups = {"decay": {}, "no_decay": {"wd_mult": 0.0}, "head": {"lr_mult": 10.0}}
    labels = {"head/kernel": "head", **optx.NO_DECAY_RULES}
    tx = optx.param_groups(optx.trace(0.9), 0.1, 0.01, groups=groups, param_labels=labels)
    state = tx.init(params)
    values = optx.get_hyperparams(state)
    assert float(values["learning_rate"]) == pytest.approx(0.1)
    assert float(values["head/lr_mult"]) == 10.0 and float(values["no_decay/wd_mult"]) == 0.0
    grads = _grads(params, 0)
    step = jax.jit(tx.update)
    base, _ = step(grads, state, params)
    # Halving the base rate halves every group's update and keeps the multipliers.
    halved, new = step(grads, optx.set_hyperparams(state, learning_rate=0.05), params)
    chex.assert_trees_all_close(halved, jax.tree.map(lambda u: u / 2, base), rtol=1e-6)
    assert float(optx.get_hyperparams(new)["head/lr_mult"]) == 10.0
    # Setting one group's multiplier changes that group only.
    one, _ = step(grads, optx.set_hyperparams(state, {"head/lr_mult": 1.0}), params)
    np.testing.assert_allclose(one["head"]["kernel"], base["head"]["kernel"] / 10, rtol=1e-6)
    chex.assert_trees_all_close(one["Dense_0"], base["Dense_0"])
    # set_hyperparams(weight_decay=...) leaves the no-decay group undecayed.
    zero_grads = jax.tree.map(jnp.zeros_like, grads)
    decayed, _ = step(zero_grads, optx.set_hyperparams(state, weight_decay=0.5), params)
    np.testing.assert_array_equal(decayed["LayerNorm_0"]["scale"], 0.0)
    assert np.all(decayed["Dense_0"]["kernel"] != 0)


def test_schedule_and_multipliers_compose():
    params = {"kernel": jnp.ones(2), "bias": jnp.ones(2)}
    schedule = lambda count: 0.1 / (1.0 + count.astype(jnp.float32))
    tx = optx.param_groups(
        None, schedule, groups={"decay": {"lr_mult": 2.0}, "no_decay": {"wd_mult": 0.0}}
    )
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    first, state = tx.update(grads, state, params)
    second, state = tx.update(grads, state, params)
    np.testing.assert_allclose(first["kernel"], -0.2, rtol=1e-6)
    np.testing.assert_allclose(second["kernel"], -0.1, rtol=1e-6)
    np.testing.assert_allclose(second["bias"], -0.05, rtol=1e-6)


def test_param_groups_errors():
    params = {"kernel": jnp.ones(2), "bias": jnp.ones(2)}
    with pytest.raises(ValueError, match="optx.param_groups: direction already has a learning"):
        optx.param_groups(optx.adam(1e-3)).init(params)
    with pytest.raises(ValueError, match=r"parameter at 'kernel' is in group 'body'"):
        optx.param_groups(None, param_labels={"kernel": "body", "bias": "no_decay"}).init(params)
    with pytest.raises(ValueError, match=r"groups\['decay'\] has \['lr'\]"):
        optx.param_groups(None, groups={"decay": {"lr": 1.0}})
    with pytest.raises(ValueError, match="optx.param_groups: learning_rate must be >= 0"):
        optx.param_groups(None, -1.0)
    with pytest.raises(ValueError, match="optx.param_groups: update.. needs the current params"):
        tx = optx.param_groups(None)
        tx.update(params, tx.init(params))

"""The flat path gives the per-leaf results: every registered optimizer and the per-leaf
building blocks, run on `optx.FlatParams` and on the ordinary tree, agree to 1e-6."""

import chex
import jax
import jax.numpy as jnp
import pytest
from registry import CASES

import optx

pytestmark = pytest.mark.slow  # registry-wide or long reference runs: the full run only

STEPS = 3


def _tree():
    k = jax.random.split(jax.random.key(0), 4)
    return {
        "conv": jax.random.normal(k[0], (3, 2, 4)),
        "dense": {"kernel": jax.random.normal(k[1], (4, 5)), "bias": jnp.full(5, 0.1)},
        "scale": 1.0 + 0.1 * jax.random.normal(k[2], (6,)),
        "norm": jax.random.normal(k[3], (2, 3)).astype(jnp.bfloat16),
    }


def _loss(tree):
    total = jnp.zeros([], jnp.float32)
    for i, x in enumerate(jax.tree.leaves(tree)):
        x = x.astype(jnp.float32)
        total = total + jnp.sum(jnp.sin(x * (i + 1)) + 0.5 * x**2)
    return total


def _runs(make_tx, params, extra_args, steps=STEPS):
    """``steps`` steps on the tree and on its `FlatParams`, in one jitted call (one compile for
    both); the FlatParams run takes its gradients through ``.tree()``."""
    fp = optx.FlatParams.from_tree(params)
    txs = (make_tx(), make_tx())

    def stepper(tx, flat):
        loss = (lambda p: _loss(p.tree())) if flat else _loss

        def step(carry, key):
            params, state = carry
            grads = jax.grad(loss)(params)
            updates, state = tx.update(grads, state, params, value=loss(params), **extra_args(key))
            return (optx.apply_updates(params, updates), state), None

        return step

    @jax.jit
    def run(starts, states):
        keys = jax.random.split(jax.random.key(3), steps)
        return [
            jax.lax.scan(stepper(tx, flat), (p, s), keys)[0][0]
            for tx, flat, p, s in zip(txs, (False, True), starts, states)
        ]

    tree_result, flat_result = run((params, fp), (txs[0].init(params), txs[1].init(fp)))
    return tree_result, flat_result


def _extra(case):
    return case.extra_args or (lambda key: {})


def _check_equal(flat_result, tree_result):
    assert isinstance(flat_result, optx.FlatParams)
    got = flat_result.tree()
    chex.assert_trees_all_equal_dtypes(got, tree_result)
    f32 = lambda t: jax.tree.map(lambda x: x.astype(jnp.float32), t)  # noqa: E731
    chex.assert_trees_all_close(f32(got), f32(tree_result), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_registered_optimizer_equals_per_leaf(case):
    tree_result, flat_result = _runs(case.build, _tree(), _extra(case))
    _check_equal(flat_result, tree_result)


# The building blocks whose rule reads the original leaves (a shape, a per-leaf norm, a
# path), plus the global-norm clip that is elementwise after one reduction: each in a short
# chain that ends in a step, compared to the same chain on the ordinary tree.
_PATH_RULES = {"*bias": "no_decay", "*norm*": "no_decay", "*": "decay"}
BLOCKS = {
    "clip_by_global_norm": lambda: optx.chain(optx.clip_by_global_norm(0.5), optx.sgd(0.1)),
    "clip_by_block_rms": lambda: optx.chain(optx.clip_by_block_rms(0.3), optx.sgd(0.1)),
    "adaptive_grad_clip": lambda: optx.chain(optx.adaptive_grad_clip(0.05), optx.sgd(0.1)),
    "centralize": lambda: optx.chain(optx.centralize(), optx.sgd(0.1)),
    "scale_by_trust_ratio": lambda: optx.chain(optx.scale_by_trust_ratio(), optx.sgd(0.1)),
    "scale_by_factored_rms": lambda: optx.chain(optx.scale_by_factored_rms(), optx.sgd(0.1)),
    "scale_by_sm3": lambda: optx.chain(optx.scale_by_sm3(), optx.sgd(0.1)),
    "add_noise": lambda: optx.chain(optx.add_noise(0.1, 0.55, key=3), optx.sgd(0.1)),
    "add_decayed_weights_mask": lambda: optx.chain(
        optx.add_decayed_weights(
            0.1, mask={"conv": True, "dense": False, "scale": True, "norm": False}
        ),
        optx.sgd(0.1),
    ),
    "masked_by_path": lambda: optx.masked(optx.lamb(0.1), {"*kernel": True, "*": False}),
    "partition": lambda: optx.partition(
        {"decay": optx.adamw(0.1, weight_decay=0.1), "no_decay": optx.lars(0.1)}, _PATH_RULES
    ),
    "freeze": lambda: optx.freeze({"*conv": True, "*": False}, optx.adam(0.1)),
    "freeze_last": lambda: optx.chain(optx.adam(0.1), optx.freeze({"*dense*": True, "*": False})),
    "param_groups": lambda: optx.param_groups(
        optx.scale_by_adam(),
        learning_rate=0.1,
        weight_decay=0.1,
        param_labels=_PATH_RULES,
        groups={"decay": {"lr_mult": 0.5}, "no_decay": {"wd_mult": 0.0}},
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_building_block_equals_per_leaf(name):
    tree_result, flat_result = _runs(BLOCKS[name], _tree(), lambda key: {})
    _check_equal(flat_result, tree_result)

"""Registry entries: Sophia, SAM and L-BFGS (optimizers that take functions as extra args).

Their functions travel as `jax.tree_util.Partial` (a pytree without leaves), so the
contract's ``jax.jit(tx.update)(..., **extra_args)`` accepts them. The contract's generic
objective below is not the quadratic or Rosenbrock loss of the convergence tests (the
``extra_args`` builder gets only a key), so the convergence of the entries that evaluate
a function of their own is checked in tests/test_modern_{sophia,sam,lbfgs}.py instead.
"""

import jax
import jax.numpy as jnp
from cases import Case

import optx


def _objective(params):
    """A smooth convex function of any params pytree (positive Hessian diagonal)."""
    # Summed from the leaves' own sums: a fresh jnp.zeros([]) would sit on one device and
    # not mix with scalars on an Explicit mesh when run eagerly.
    terms = [
        jnp.sum(0.25 * x.astype(jnp.float32) ** 4 + 0.5 * x.astype(jnp.float32) ** 2)
        for x in jax.tree.leaves(params)
    ]
    return sum(terms[1:], terms[0])


_OBJ = jax.tree_util.Partial(_objective)
# Jitted: an eager jax.grad of Explicit-sharded params outside jax.set_mesh fails in JAX.
_GRAD_FN = jax.tree_util.Partial(jax.jit(lambda params, i: jax.grad(_objective)(params)))
_NEEDS_OWN_LOSS = (
    "evaluates the objective itself (obj_fn / grad_fn / value_fn); the registry's extra_args "
    "builder cannot give it the convergence test's loss, so tests/test_modern_{} checks "
    "convergence on the quadratic and Rosenbrock with the right one"
)


def _sam(learning_rate=0.01, eps=1e-2, rho=0.05, opaque_mode=False):
    # The contract sets a hyperparameter after one call, so the next call is the outer
    # optimizer's first step, which Adam's decays do not change (bias correction) but its
    # eps does.
    adversary = optx.chain(optx.normalize_by_global_norm(), optx.sgd(rho))
    return optx.sam(optx.adam(learning_rate, eps=eps), adversary, opaque_mode=opaque_mode)


def _lbfgs(learning_rate=1.0, max_learning_rate=0.05):
    # A line search finds the same point along a direction of any length, so halving the
    # learning rate does not change its update; a binding max_learning_rate does.
    linesearch = optx.scale_by_zoom_linesearch(
        20, max_learning_rate=max_learning_rate, initial_guess_strategy="one"
    )
    return optx.lbfgs(learning_rate, linesearch=linesearch)


CASES = [
    Case(
        "sophia",
        optx.sophia,
        {"learning_rate": 0.01, "update_interval": 2},
        extra_args=lambda key: {"obj_fn": _OBJ},
        refuses_complex="optx.sophia",
        quadratic=None,
        why_not_quadratic=_NEEDS_OWN_LOSS.format("sophia.py"),
        rosenbrock=None,
        why_not_rosenbrock=_NEEDS_OWN_LOSS.format("sophia.py"),
    ),
    Case(
        "sophia_paper",
        optx.sophia,
        # gamma = 1 keeps the contract's ratios below the clip, so gamma changes the update.
        {"learning_rate": 0.01, "update_interval": 1, "convention": "paper", "gamma": 1.0},
        extra_args=lambda key: {"obj_fn": _OBJ},
        hyperparam="gamma",
        refuses_complex="optx.sophia",
        quadratic=None,
        why_not_quadratic=_NEEDS_OWN_LOSS.format("sophia.py"),
        rosenbrock=None,
        why_not_rosenbrock=_NEEDS_OWN_LOSS.format("sophia.py"),
    ),
    Case(
        "sam_adam",
        _sam,
        hyperparam="eps",
        quadratic={"learning_rate": 0.05},
        # SAM's fixed point lies about rho from the minimum along the steep direction.
        rosenbrock={"learning_rate": 0.02, "rho": 0.002},
        rosenbrock_steps=6000,
    ),
    Case(
        "sam_adam_opaque",
        _sam,
        {"opaque_mode": True},
        extra_args=lambda key: {"grad_fn": _GRAD_FN},
        hyperparam="eps",
        quadratic=None,
        why_not_quadratic=_NEEDS_OWN_LOSS.format("sam.py"),
        rosenbrock=None,
        why_not_rosenbrock=_NEEDS_OWN_LOSS.format("sam.py"),
    ),
    Case(
        "lbfgs_fixed_step",
        optx.lbfgs,
        {"learning_rate": 0.5, "linesearch": None},
        quadratic={"learning_rate": 0.5, "linesearch": None},
        rosenbrock={"learning_rate": 0.1, "linesearch": None},
    ),
    Case(
        "lbfgs",
        _lbfgs,
        extra_args=lambda key: {"value_fn": _OBJ},
        hyperparam="max_learning_rate",
        refuses_complex="optx.scale_by_zoom_linesearch",  # built outside optx.lbfgs here
        quadratic=None,
        why_not_quadratic=_NEEDS_OWN_LOSS.format("lbfgs.py"),
        rosenbrock=None,
        why_not_rosenbrock=_NEEDS_OWN_LOSS.format("lbfgs.py"),
    ),
]

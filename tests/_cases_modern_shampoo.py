"""Registry entries: Kronecker-factored preconditioners (Shampoo, SOAP)."""

from cases import Case

import optx

_FACTORS = "Kronecker factors (n, n): both axes index one param axis; replicated (documented)"

CASES = [
    Case(
        "shampoo",
        optx.shampoo,
        # Small blocks and frequent refreshes: the contract params (3, 2) are cut into two
        # padded blocks and the roots refresh inside the few contract steps.
        {
            "learning_rate": 1e-2,
            "block_size": 2,
            "precondition_frequency": 2,
            "start_preconditioning_step": 2,
        },
        quadratic={"learning_rate": 0.05, "start_preconditioning_step": 2},
        rosenbrock={"learning_rate": 2e-3, "start_preconditioning_step": 2},
        rosenbrock_steps=5000,
        replicated_state={"factors": _FACTORS, "roots": _FACTORS},
        refuses_complex="optx.shampoo",
    ),
    Case(
        "shampoo_newton",
        optx.shampoo,
        {
            "learning_rate": 1e-2,
            "block_size": 2,
            "precondition_frequency": 2,
            "start_preconditioning_step": 1,
            "root_method": "newton",
            "graft": "rmsprop",
            "b2": 0.99,
        },
        quadratic={"learning_rate": 0.05, "graft": "rmsprop"},
        rosenbrock={"learning_rate": 2e-3, "graft": "rmsprop"},
        rosenbrock_steps=5000,
        hyperparam="graft_b2",
        replicated_state={"factors": _FACTORS, "roots": _FACTORS},
        refuses_complex="optx.shampoo",
    ),
    Case(
        "soap",
        optx.soap,
        {"learning_rate": 1e-2, "precondition_frequency": 2},
        quadratic={"learning_rate": 0.05, "weight_decay": 0.0},
        rosenbrock={"learning_rate": 2e-3, "weight_decay": 0.0},
        rosenbrock_steps=5000,
        replicated_state={"factors": _FACTORS, "bases": _FACTORS},
        refuses_complex="optx.soap",
    ),
    Case(
        "soap_1d_merged",
        optx.soap,
        # Rotates the 1-D contract params too (a full (n, n) factor) and merges the (3, 2)
        # matrix into one axis of 6.
        {
            "learning_rate": 1e-2,
            "precondition_frequency": 2,
            "precondition_1d": True,
            "merge_dims": True,
        },
        quadratic={"learning_rate": 0.05, "weight_decay": 0.0, "precondition_1d": True},
        rosenbrock={"learning_rate": 2e-3, "weight_decay": 0.0, "precondition_1d": True},
        rosenbrock_steps=5000,
        skip_checks={
            "jit_equals_eager": "a vector's first factor g g^T has rank 1: the basis eigh "
            "picks in its 5-dimensional null space depends on rounding, which jit and eager "
            "do differently (updates 0.2% apart); tests/test_modern_soap.py checks the rule "
            "on full-rank factors",
        },
        replicated_state={"factors": _FACTORS, "bases": _FACTORS},
        refuses_complex="optx.soap",
    ),
]

"""tests/_compiles.py counts the executables a run obtains, compiled or read from its cache.

tests/conftest.py gives each run one persistent compilation cache, so a program that an
earlier test (or the other xdist worker) compiled is loaded from disk instead of compiled.
The "does not recompile" tests must still see it: a new executable is a new executable,
wherever it comes from.
"""

import jax
import jax.numpy as jnp
import numpy as np
from _compiles import count_compiles
from jax import monitoring

CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def _fresh_program():
    # A new Python function on every call: jit's in-memory cache cannot serve it, the
    # persistent cache can (the lowered program is the same).
    return jax.jit(lambda x: jnp.sin(x) * 3.0 - jnp.cos(x[::-1]) * 0.25)


def test_the_run_shares_a_persistent_compilation_cache():
    assert jax.config.jax_compilation_cache_dir, "tests/conftest.py sets the run's cache"
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0


def test_a_persistent_cache_hit_counts_as_a_compile():
    x = jnp.linspace(0.0, 1.0, 11)
    hits = []

    def listener(event, **kwargs):
        del kwargs
        if event == CACHE_HIT_EVENT:
            hits.append(event)

    monitoring.register_event_listener(listener)
    try:
        first, compiles_first = count_compiles(_fresh_program(), x)
        hits_before = len(hits)
        second, compiles_second = count_compiles(_fresh_program(), x)
    finally:
        monitoring.unregister_event_listener(listener)
    assert len(hits) == hits_before + 1, "the second program was not read from the cache"
    assert (compiles_first, compiles_second) == (1, 1)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))

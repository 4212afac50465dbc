"""Strict JAX for every test: set before anything starts the backend.

- 4 simulated CPU devices (multi-device tests; DESIGN.md says 2 to 4, not 8).
- CPU collectives time out after 20 s instead of deadlocking.
- Strict dtype promotion and rank promotion raise, so silent upcasts are caught.
- Warnings are errors (pyproject.toml); exceptions are listed there with their reason.
- One persistent compilation cache per pytest run, shared by its xdist workers (see
  `_share_compiles_within_the_run`).
"""

import os
import shutil
import tempfile

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_cpu_collective_call_terminate_timeout_seconds" not in _flags:
    _flags += " --xla_cpu_collective_call_terminate_timeout_seconds=20"
os.environ["XLA_FLAGS"] = _flags.strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# The directory of this run's compilation cache. The first process to import this conftest
# (the xdist controller, or the only process without xdist) creates it and exports it;
# the workers it starts inherit the variable and join the same cache.
_CACHE_DIR_VARIABLE = "OPTX_TESTS_JAX_CACHE_DIR"
_OWNED_CACHE_DIR = None


def _share_compiles_within_the_run():
    """Every XLA compile of the run goes to one on-disk cache, read by every worker.

    The suite builds many programs that are identical (the same optimizer on the same
    params from another test file, the same eager op on the same shapes in both workers),
    each from a new Python function, so the in-memory jit caches miss and XLA compiles
    again. With JAX's persistent compilation cache, a program compiled once in the run is
    loaded from disk afterwards. Tracing and lowering still run, so what a test checks is
    unchanged; `tests/_compiles.py` counts a cache hit as a compile (see its docstring,
    and `tests/test_compile_counting.py`). The directory is removed when the run ends.
    """
    global _OWNED_CACHE_DIR
    path = os.environ.get(_CACHE_DIR_VARIABLE)
    if not path:
        path = tempfile.mkdtemp(prefix="optx-tests-jax-cache-")
        os.environ[_CACHE_DIR_VARIABLE] = path
        _OWNED_CACHE_DIR = path
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


_share_compiles_within_the_run()


def _optx_location():
    import pathlib

    import optx

    return pathlib.Path(optx.__file__).resolve().parent


def pytest_report_header(config):
    return f"optx: {_optx_location()}"


def pytest_configure(config):
    # .ci/run tests the installed wheel with OPTX_TEST_INSTALLED=1: the source tree must not
    # shadow it, here or through a later sys.path change.
    if os.environ.get("OPTX_TEST_INSTALLED") == "1":
        import pathlib

        source = pathlib.Path(__file__).resolve().parents[1] / "optx"
        if _optx_location() == source:
            raise RuntimeError(
                f"OPTX_TEST_INSTALLED=1 but optx is imported from the source tree {source}; "
                "run pytest from a venv with the wheel installed, not with `python -m pytest` "
                "from the clone (which puts the clone on sys.path)"
            )


def pytest_unconfigure(config):
    if _OWNED_CACHE_DIR is not None:
        shutil.rmtree(_OWNED_CACHE_DIR, ignore_errors=True)


def pytest_sessionfinish(session):
    import sys

    if os.environ.get("OPTX_TEST_INSTALLED") == "1":
        where = {m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "optx"}
        home = str(_optx_location())
        stray = sorted(f for f in where if f and not f.startswith(home))
        if stray:
            raise RuntimeError(f"optx modules imported from outside {home}: {stray[:3]}")

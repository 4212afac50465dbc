"""Strict JAX for every test: set before anything starts the backend.

- 4 simulated CPU devices (multi-device tests; DESIGN.md says 2 to 4, not 8).
- CPU collectives time out after 20 s instead of deadlocking.
- Strict dtype promotion and rank promotion raise, so silent upcasts are caught.
- Warnings are errors (pyproject.toml); exceptions are listed there with their reason.
- XLA executables are kept between runs in JAX's persistent compilation cache, in
  ``.cache/jax`` of the checkout (git-ignored; ``JAX_COMPILATION_CACHE_DIR`` chooses another
  directory, ``OPTX_TEST_COMPILATION_CACHE=0`` turns it off). A second run of the fast
  tests compiles almost nothing. A cache hit still records JAX's compile event, so the
  tests that count compiles (`_compiles`) count the same with and without it. Workers
  share the directory; an entry read while another worker writes it is a cache miss (JAX
  warns and compiles; pyproject.toml ignores that one warning).
"""

import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_cpu_collective_call_terminate_timeout_seconds" not in _flags:
    _flags += " --xla_cpu_collective_call_terminate_timeout_seconds=20"
os.environ["XLA_FLAGS"] = _flags.strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
if os.environ.get("OPTX_TEST_COMPILATION_CACHE", "1") != "0":
    import pathlib

    _cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(
        pathlib.Path(__file__).resolve().parents[1] / ".cache" / "jax"
    )
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


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


def pytest_sessionfinish(session):
    import sys

    if os.environ.get("OPTX_TEST_INSTALLED") == "1":
        where = {m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "optx"}
        home = str(_optx_location())
        stray = sorted(f for f in where if f and not f.startswith(home))
        if stray:
            raise RuntimeError(f"optx modules imported from outside {home}: {stray[:3]}")

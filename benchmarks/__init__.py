"""Benchmarks of optx against Optax (not part of the test run; see BENCHMARKS.md)."""

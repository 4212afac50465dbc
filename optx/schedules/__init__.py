"""Schedules: pure functions of the 0-based update count, usable for any hyperparameter."""

__all__: list[str] = []

"""Wrappers around transformations: masking, partitions, accumulation, NaN skipping, ..."""

__all__: list[str] = []

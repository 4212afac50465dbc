"""Registry entries: catalogue_adaptive (filled by its issue)."""

CASES = []

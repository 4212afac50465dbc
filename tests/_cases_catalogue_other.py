"""Registry entries: catalogue_other (filled by its issue)."""

CASES = []

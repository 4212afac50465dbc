"""Registry entries: wrappers (filled by its issue)."""

CASES = []

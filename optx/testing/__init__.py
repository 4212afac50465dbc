"""Public checks that a gradient transformation obeys the optx contract (needs chex)."""

from optx.testing._contract import ALL_CHECKS as ALL_CHECKS, check_transform as check_transform

__all__ = ["ALL_CHECKS", "check_transform"]

"""Every optimizer under test, collected from the per-family case modules."""

import _cases_catalogue_adaptive
import _cases_catalogue_other
import _cases_core
import _cases_modern_ademamix
import _cases_modern_muon
import _cases_modern_sf
import _cases_modern_shampoo
import _cases_modern_sophia
import _cases_wrappers

CASES = [
    *_cases_core.CASES,
    *_cases_catalogue_adaptive.CASES,
    *_cases_catalogue_other.CASES,
    *_cases_modern_ademamix.CASES,
    *_cases_wrappers.CASES,
    *_cases_modern_muon.CASES,
    *_cases_modern_shampoo.CASES,
    *_cases_modern_sf.CASES,
    *_cases_modern_sophia.CASES,
]
NAMES = [case.name for case in CASES]
assert len(set(NAMES)) == len(NAMES), "registry names must be unique"

"""Validation of canonical price frames: row rules in polars, the GX suite, the verdict.

Importing this package does not import Great Expectations; running it does.
"""

from stacklstm_fin.validation.expectations import SUITE_NAME, Check, checks, run_suite
from stacklstm_fin.validation.rules import REASONS, reason_flags, reason_strings
from stacklstm_fin.validation.validate import (
    NO_ROWS,
    ValidationResult,
    empty_quarantine,
    schema_problems,
    validate_prices,
)

__all__ = [
    "NO_ROWS",
    "REASONS",
    "SUITE_NAME",
    "Check",
    "ValidationResult",
    "checks",
    "empty_quarantine",
    "reason_flags",
    "reason_strings",
    "run_suite",
    "schema_problems",
    "validate_prices",
]

"""The functions service's errors: defined in lambeam/errors.py, named here for its callers."""

from __future__ import annotations

from lambeam.errors import (
    CodeBundleError,
    FunctionConflictError,
    FunctionNotFoundError,
    PreconditionFailedError,
)

__all__ = [
    "CodeBundleError",
    "FunctionConflictError",
    "FunctionNotFoundError",
    "PreconditionFailedError",
]

"""The inference core's errors: defined in lambeam/errors.py, named here for its callers."""

from __future__ import annotations

from lambeam.errors import InvalidInputError

__all__ = ["InvalidInputError"]

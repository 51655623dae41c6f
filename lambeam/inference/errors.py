"""The inference core's errors.

These belong in lambeam/errors.py (this part may not edit it); each subclasses DataError so that
faces mapping DataError (or LambeamError) keep working, and carries its own HTTP status.

    DataError
    ├── InvalidInputError      a request does not fit the model's signature (400)
    └── PayloadTooLargeError   a request body over Lambda's 6 MB (413)
"""

from __future__ import annotations

from lambeam.errors import DataError

__all__ = ["InvalidInputError", "PayloadTooLargeError"]


class InvalidInputError(DataError):
    """A predict request does not fit the model's signature; the message names field and row.

    `field` (a column or a request key) and `row` (0-based) are None when they do not apply.
    """

    http_status = 400
    lambda_error = "InvalidRequestContentException"

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class PayloadTooLargeError(DataError):
    """A request body is larger than the limit (Lambda's 6 MB for a synchronous invoke)."""

    http_status = 413
    lambda_error = "RequestTooLargeException"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit

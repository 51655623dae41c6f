"""The invocation core's errors.

They belong in lambeam/errors.py (this part may not edit it); each subclasses the closest error
there, and carries Lambda's error type as `lambda_error` for the Lambda API face.

    ConfigError
    └── InvalidInvocationError    an unknown invocation type or log type (400)
    LambeamError
    └── RequestTooLargeError      a request payload over Lambda's 6 MB (413)
"""

from __future__ import annotations

from lambeam.errors import ConfigError, LambeamError

__all__ = ["InvalidInvocationError", "RequestTooLargeError"]


class InvalidInvocationError(ConfigError):
    """An invocation was asked for in a way Lambda does not offer (its type, its log type)."""

    http_status = 400
    lambda_error = "InvalidParameterValueException"


class RequestTooLargeError(LambeamError):
    """A request payload over the synchronous invoke limit (Lambda's 6 MB)."""

    http_status = 413
    lambda_error = "RequestEntityTooLargeException"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit

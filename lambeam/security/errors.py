"""The errors of authentication and access-key management.

They belong in lambeam/errors.py with the rest of the hierarchy (under LambeamError, beside
NotFoundError); they live here until that file takes them, so this slice touches no shared file.

LambeamError
├── AuthenticationError                 no, malformed, unknown, disabled or wrong credentials (401)
├── AccessKeyError (ValueError)         an access key asked for with no name or an unknown role
└── NotFoundError (LookupError)
    └── AccessKeyNotFoundError          no access key with that id
"""

from __future__ import annotations

from lambeam.errors import LambeamError, NotFoundError

__all__ = [
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "UNRECOGNIZED_CLIENT",
    "AccessKeyError",
    "AccessKeyNotFoundError",
    "AuthenticationError",
]

# Lambda's own error codes, so that boto3 raises the exception class a Lambda user expects
# (client.exceptions is keyed by these names).
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"


class AuthenticationError(LambeamError):
    """The request's credentials are missing, malformed, unknown, disabled or wrong.

    `error_code` is the Lambda-style code a face puts on the wire (x-amzn-ErrorType).
    """

    http_status = 401

    def __init__(self, message: str, error_code: str = UNRECOGNIZED_CLIENT) -> None:
        super().__init__(message)
        self.error_code = error_code


class AccessKeyNotFoundError(NotFoundError):
    """No access key has that id."""


class AccessKeyError(LambeamError, ValueError):
    """An access key cannot be made as asked (no name, or a role lambeam does not know)."""

    exit_code = 2
    http_status = 400

"""The errors of authentication, authorization and access-key management.

AuthenticationError, AccessKeyError and AccessKeyNotFoundError are defined in lambeam/errors.py
with the rest of the hierarchy; AccessDeniedError and PolicyError are this package's own. The
wire codes are Lambda's own.

LambeamError
├── AuthenticationError                 no, malformed, unknown, disabled or wrong credentials (401)
├── AccessDeniedError                   a known key whose policy does not allow the action (403)
├── AccessKeyError (ValueError)         an access key asked for with no name or an unknown role
│   └── PolicyError                     a policy document that is not valid (names the field)
└── NotFoundError (LookupError)
    └── AccessKeyNotFoundError          no access key with that id
"""

from __future__ import annotations

from lambeam.errors import (
    AccessKeyError,
    AccessKeyNotFoundError,
    AuthenticationError,
    LambeamError,
)

__all__ = [
    "ACCESS_DENIED",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "UNRECOGNIZED_CLIENT",
    "AccessDeniedError",
    "AccessKeyError",
    "AccessKeyNotFoundError",
    "AuthenticationError",
    "PolicyError",
]

# Lambda's own error codes, so that boto3 raises the exception class a Lambda user expects
# (client.exceptions is keyed by these names).
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"
ACCESS_DENIED = "AccessDeniedException"


class AccessDeniedError(LambeamError):
    """The request's key is known and enabled, but its policy does not allow this action on
    this resource (no statement allows it, or one denies it)."""

    exit_code = 1
    http_status = 403
    lambda_error = ACCESS_DENIED

    def __init__(self, message: str, *, action: str, resource: str) -> None:
        super().__init__(message)
        self.action = action
        self.resource = resource


class PolicyError(AccessKeyError):
    """A policy document lambeam cannot use; the message names the statement and the field."""

"""The errors of authentication, authorization and access-key management.

All are defined in lambeam/errors.py with the rest of the hierarchy; the wire codes are Lambda's
own.

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
    AccessDeniedError,
    AccessKeyError,
    AccessKeyNotFoundError,
    AuthenticationError,
    PolicyError,
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

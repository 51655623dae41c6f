"""The errors of authentication and access-key management.

The classes are defined in lambeam/errors.py with the rest of the hierarchy; the wire codes are
Lambda's own.

LambeamError
├── AuthenticationError                 no, malformed, unknown, disabled or wrong credentials (401)
├── AccessKeyError (ValueError)         an access key asked for with no name or an unknown role
└── NotFoundError (LookupError)
    └── AccessKeyNotFoundError          no access key with that id
"""

from __future__ import annotations

from lambeam.errors import AccessKeyError, AccessKeyNotFoundError, AuthenticationError

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

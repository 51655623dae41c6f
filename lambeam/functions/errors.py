"""The functions service's errors.

These belong in lambeam/errors.py (this part may not edit it); each subclasses the closest
error there so that faces mapping LambeamError, NotFoundError or ConfigError keep working.

    NotFoundError
    └── FunctionNotFoundError      Lambda's ResourceNotFoundException (404)
    ConfigError
    └── CodeBundleError            a bundle is unusable or its requirements do not install (400)
    LambeamError
    ├── FunctionConflictError      Lambda's ResourceConflictException (409)
    └── PreconditionFailedError    Lambda's PreconditionFailedException: a stale RevisionId (412)
"""

from __future__ import annotations

from lambeam.errors import ConfigError, LambeamError, NotFoundError

__all__ = [
    "CodeBundleError",
    "FunctionConflictError",
    "FunctionNotFoundError",
    "PreconditionFailedError",
]


class FunctionNotFoundError(NotFoundError):
    """No such function, function version or function alias."""

    lambda_error = "ResourceNotFoundException"


class CodeBundleError(ConfigError):
    """A code bundle is too large, malformed or unsafe, or its requirements failed to install."""

    lambda_error = "InvalidParameterValueException"


class FunctionConflictError(LambeamError):
    """The change conflicts with what exists: a duplicate name, or a version an alias still uses."""

    http_status = 409
    lambda_error = "ResourceConflictException"


class PreconditionFailedError(LambeamError):
    """The caller's RevisionId is not the current one: someone else changed the resource first."""

    http_status = 412
    lambda_error = "PreconditionFailedException"

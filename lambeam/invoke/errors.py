"""The invocation core's errors.

They belong in lambeam/errors.py (this part may not edit it); each subclasses the closest error
there, and carries Lambda's error type as `lambda_error` for the Lambda API face.

    ConfigError
    └── InvalidInvocationError    an unknown invocation type or log type (400)
    DataError
    └── InvalidPayloadError       a code function's payload that is not JSON (400)
    PayloadTooLargeError
    └── RequestTooLargeError      an Invoke request body over Lambda's 6 MB (413)
"""

from __future__ import annotations

from lambeam.errors import ConfigError, DataError, PayloadTooLargeError

__all__ = ["InvalidInvocationError", "InvalidPayloadError", "RequestTooLargeError"]


class InvalidInvocationError(ConfigError):
    """An invocation was asked for in a way Lambda does not offer (its type, its log type)."""

    http_status = 400
    lambda_error = "InvalidParameterValueException"


class InvalidPayloadError(DataError):
    """A code function's payload is not JSON: refused before it runs, as Lambda refuses it
    (400 InvalidRequestContentException, "Could not parse request body into json: …")."""


class RequestTooLargeError(PayloadTooLargeError):
    """An Invoke request body over the synchronous limit (Lambda's 6 MB).

    Sent as RequestEntityTooLargeException, the code Lambda itself answers an oversized Invoke
    body with ("Request must be smaller than 6291456 bytes for the InvokeFunction operation"),
    though botocore's model lists RequestTooLargeException; boto3 raises a ClientError either way.
    """

    lambda_error = "RequestEntityTooLargeException"

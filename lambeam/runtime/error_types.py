"""Lambda's wire error types, and the error payloads built from them.

The names are Lambda's own (awslambdaric's `Runtime.ImportModuleError` and friends), so that a
client written for Lambda recognises them.
"""

from __future__ import annotations

import traceback
from typing import Any

from lambeam.errors import RuntimeUnavailableError, TooManyRequestsError

__all__ = [
    "FUNCTION_ERROR_UNHANDLED",
    "RUNTIME_EXIT_ERROR",
    "RUNTIME_HANDLER_NOT_FOUND",
    "RUNTIME_IMPORT_MODULE_ERROR",
    "RUNTIME_MALFORMED_HANDLER",
    "RUNTIME_MARSHAL_ERROR",
    "RUNTIME_OUT_OF_MEMORY",
    "RUNTIME_UNMARSHAL_ERROR",
    "RUNTIME_USER_CODE_SYNTAX_ERROR",
    "SANDBOX_TIMEDOUT",
    "TOO_MANY_REQUESTS",
    "RuntimeUnavailableError",
    "TooManyRequestsError",
    "error_payload",
    "exception_payload",
]

FUNCTION_ERROR_UNHANDLED = "Unhandled"

RUNTIME_IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
RUNTIME_HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
RUNTIME_MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
RUNTIME_USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
RUNTIME_MARSHAL_ERROR = "Runtime.MarshalError"
RUNTIME_UNMARSHAL_ERROR = "Runtime.UnmarshalError"
RUNTIME_EXIT_ERROR = "Runtime.ExitError"
RUNTIME_OUT_OF_MEMORY = "Runtime.OutOfMemory"
FUNCTION_RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
SANDBOX_TIMEDOUT = "Sandbox.Timedout"
TOO_MANY_REQUESTS = "TooManyRequestsException"


def error_payload(message: str, error_type: str, stack: list[str] | None = None) -> dict[str, Any]:
    """Lambda's error document: errorMessage, errorType and (for user code) stackTrace."""
    doc: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if stack is not None:
        doc["stackTrace"] = stack
    return doc


def exception_payload(
    exc: BaseException, request_id: str = "", skip_frames: int = 0, error_type: str | None = None
) -> dict[str, Any]:
    """The error document for an exception in user code, as Lambda's Python runtime writes it.

    `skip_frames` drops the runtime's own frames from the top of the trace, so the stack starts in
    the user's code.
    """
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    doc = error_payload(str(exc), error_type or type(exc).__name__, traceback.format_list(frames))
    doc["requestId"] = request_id
    return doc

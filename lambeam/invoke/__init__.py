"""The invocation core: the one place a function is invoked, whatever face the call came from.

    invoker = Invoker(project, engine)          # engine: a started lambeam.runtime.Engine
    result = await invoker.invoke("hello", b'{"x": 1}', qualifier="prod", log_type="Tail")
    result.status, result.payload, result.function_error, result.executed_version
    result.log_result                           # base64 of the log's last 4 KB, as Lambda sends it

Both kinds run in instances forked by the runtime (lambeam.runtime); a model function's
requests are micro-batched on the way (see models.py).
"""

from lambeam.invoke.errors import InvalidInvocationError, InvalidPayloadError, RequestTooLargeError
from lambeam.invoke.invoker import (
    INVOCATION_TYPES,
    LOG_TAIL_BYTES,
    MAX_PAYLOAD_BYTES,
    RESPONSE_TOO_LARGE,
    Invocation,
    Invoker,
)
from lambeam.invoke.local import invoke_in_process, logs_folder
from lambeam.invoke.models import ModelServing

__all__ = [
    "INVOCATION_TYPES",
    "LOG_TAIL_BYTES",
    "MAX_PAYLOAD_BYTES",
    "RESPONSE_TOO_LARGE",
    "InvalidInvocationError",
    "InvalidPayloadError",
    "Invocation",
    "Invoker",
    "ModelServing",
    "RequestTooLargeError",
    "invoke_in_process",
    "logs_folder",
]

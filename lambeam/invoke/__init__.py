"""The invocation core: the one place a function is invoked, whatever face the call came from.

    invoker = Invoker(project, engine)          # engine: a started lambeam.runtime.Engine
    result = await invoker.handle(InvocationRequest("hello", b'{"x": 1}', qualifier="prod",
                                                    log_type="Tail", source="rest"))
    result.status, result.payload, result.function_error, result.executed_version
    result.log_result                           # base64 of the log's last 4 KB, as Lambda sends it

Both kinds run in instances forked by the runtime (lambeam.runtime); a model function's
requests are micro-batched on the way (see models.py). `lambeam invoke` goes through a running
server of the project when there is one (remote.py), else runs the function itself (local.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambeam._lazy import first_use

if TYPE_CHECKING:
    from lambeam.invoke.errors import (
        InvalidInvocationError,
        InvalidPayloadError,
        RequestTooLargeError,
    )
    from lambeam.invoke.invocation import Invocation
    from lambeam.invoke.invoker import (
        LOG_TAIL_BYTES,
        MAX_PAYLOAD_BYTES,
        RESPONSE_TOO_LARGE,
        Invoker,
    )
    from lambeam.invoke.local import invoke_in_process, logs_folder
    from lambeam.invoke.models import ModelServing
    from lambeam.invoke.remote import (
        SERVER_FILE,
        RemoteInvocationError,
        RunningServer,
        ServerAttempt,
        announce_server,
        find_server,
        invoke_running_server,
        withdraw_server,
    )
    from lambeam.invoke.request import INVOCATION_TYPES, SOURCES, InvocationRequest

__all__ = [
    "INVOCATION_TYPES",
    "LOG_TAIL_BYTES",
    "MAX_PAYLOAD_BYTES",
    "RESPONSE_TOO_LARGE",
    "SERVER_FILE",
    "SOURCES",
    "InvalidInvocationError",
    "InvalidPayloadError",
    "Invocation",
    "InvocationRequest",
    "Invoker",
    "ModelServing",
    "RemoteInvocationError",
    "RequestTooLargeError",
    "RunningServer",
    "ServerAttempt",
    "announce_server",
    "find_server",
    "invoke_in_process",
    "invoke_running_server",
    "logs_folder",
    "withdraw_server",
]

# Imported on first use: the invoker brings the functions service, the registry and the model
# serving stack, which invoking through a running server (remote.py) does without.
_HOMES = {
    "InvalidInvocationError": "errors",
    "InvalidPayloadError": "errors",
    "RequestTooLargeError": "errors",
    "Invocation": "invocation",
    "INVOCATION_TYPES": "request",
    "InvocationRequest": "request",
    "SOURCES": "request",
    "LOG_TAIL_BYTES": "invoker",
    "MAX_PAYLOAD_BYTES": "invoker",
    "RESPONSE_TOO_LARGE": "invoker",
    "Invoker": "invoker",
    "invoke_in_process": "local",
    "logs_folder": "local",
    "ModelServing": "models",
    **dict.fromkeys(
        [
            "SERVER_FILE",
            "RemoteInvocationError",
            "RunningServer",
            "ServerAttempt",
            "announce_server",
            "find_server",
            "invoke_running_server",
            "withdraw_server",
        ],
        "remote",
    ),
}

__getattr__ = first_use(__name__, _HOMES)

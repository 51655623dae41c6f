"""The invocation core: the one place a function is invoked, whatever face the call came from.

    invoker = Invoker(project, engine)          # engine: a started lambeam.runtime.Engine
    result = await invoker.handle(InvocationRequest("hello", b'{"x": 1}', qualifier="prod",
                                                    log_type="Tail", source="rest"))
    result.status, result.payload, result.function_error, result.executed_version
    result.log_result                           # base64 of the log's last 4 KB, as Lambda sends it

Both kinds run in instances forked by the runtime (lambeam.runtime); a model function's
requests are micro-batched on the way (models.py, batching.py), to instances that serve the files
written here (model_files.py) with lambeam.inference: this package is the gateway's side, that
one the instance's. `lambeam invoke` goes through a running
server of the project when there is one (remote.py), else runs the function itself (local.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambeam._lazy import first_use

if TYPE_CHECKING:
    from lambeam.invoke.batching import MicroBatcher
    from lambeam.invoke.errors import (
        InvalidInvocationError,
        InvalidPayloadError,
        RequestTooLargeError,
    )
    from lambeam.invoke.invocation import Invocation
    from lambeam.invoke.invoker import LOG_TAIL_BYTES, RESPONSE_TOO_LARGE, Invoker
    from lambeam.invoke.local import invoke_in_process, logs_folder
    from lambeam.invoke.model_files import write_model_files
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
    from lambeam.invoke.request import (
        INVOCATION_TYPES,
        MAX_PAYLOAD_BYTES,
        SOURCES,
        InvocationRequest,
        check_payload_size,
    )

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
    "MicroBatcher",
    "ModelServing",
    "RemoteInvocationError",
    "RequestTooLargeError",
    "RunningServer",
    "ServerAttempt",
    "announce_server",
    "check_payload_size",
    "find_server",
    "invoke_in_process",
    "invoke_running_server",
    "logs_folder",
    "withdraw_server",
    "write_model_files",
]

# Imported on first use: the invoker brings the functions service, the registry and the model
# serving stack, which invoking through a running server (remote.py) does without.
_HOMES = {
    "MicroBatcher": "batching",
    "InvalidInvocationError": "errors",
    "InvalidPayloadError": "errors",
    "RequestTooLargeError": "errors",
    "Invocation": "invocation",
    "INVOCATION_TYPES": "request",
    "InvocationRequest": "request",
    "MAX_PAYLOAD_BYTES": "request",
    "SOURCES": "request",
    "check_payload_size": "request",
    "LOG_TAIL_BYTES": "invoker",
    "RESPONSE_TOO_LARGE": "invoker",
    "Invoker": "invoker",
    "invoke_in_process": "local",
    "logs_folder": "local",
    "write_model_files": "model_files",
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

"""Invoking through a running `lambeam server` of the project, found by the file it leaves.

    announce_server(state_dir, "127.0.0.1", 8000, os.getpid(), server_id)   # once it listens
    attempt = invoke_running_server(state_dir, "hello", b"{}")   # `lambeam invoke`
    attempt.invocation, attempt.note                              # None: run it locally instead
    withdraw_server(state_dir, os.getpid())                       # the server, as it stops

A server writes `.lambeam/server.json` (its address and pid) while it runs. `lambeam invoke` then
calls the server's Lambda API (Invoke, signed with the project's own .lambeam/credentials), so it
pays neither an engine's start nor a zygote's imports. A file whose pid is gone, whose server
does not answer, or whose port answers with another server id (its health's `server_id`) is
stale: the caller sends nothing there and runs the function itself.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from lambeam.errors import LambeamError
from lambeam.invoke.invocation import Invocation
from lambeam.security import CREDENTIALS_FILE, read_credentials_file

__all__ = [
    "SERVER_FILE",
    "RemoteInvocationError",
    "RunningServer",
    "ServerAttempt",
    "announce_server",
    "find_server",
    "invoke_running_server",
    "withdraw_server",
]

SERVER_FILE = "server.json"
_REGION = "us-east-1"  # the gateway accepts a signature for any region; boto3 needs one
_TIMEOUT_S = 960.0  # Lambda's longest timeout (900 s), a cold start and the engine's start


class RemoteInvocationError(LambeamError):
    """The running server refused the invocation (its message, and the server's address)."""


@dataclass(frozen=True)
class RunningServer:
    """A `lambeam server` of the project, as its file names it."""

    url: str
    host: str
    port: int
    pid: int
    server_id: str


@dataclass(frozen=True)
class ServerAttempt:
    """What trying a running server gave: its invocation (None: run locally) and a note for
    the user, naming the server used or why none was ("" when the project has none)."""

    invocation: Invocation | None
    note: str


def announce_server(state_dir: Path, host: str, port: int, pid: int, server_id: str) -> Path:
    """Write `<state_dir>/server.json` for a server listening on `host`:`port` whose health
    names it `server_id` (replaced whole: a reader never sees half a file)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"  # listening everywhere: loopback reaches it
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    record = {
        "url": f"http://{shown}:{port}",
        "host": host,
        "port": port,
        "pid": pid,
        "server_id": server_id,
    }
    path = state_dir / SERVER_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SERVER_FILE}.{secrets.token_hex(8)}.tmp")
    temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def withdraw_server(state_dir: Path, pid: int) -> None:
    """Remove `server.json` if it still names `pid` (another server may have replaced it)."""
    found = _read(state_dir / SERVER_FILE)
    if found is not None and found.pid == pid:
        (state_dir / SERVER_FILE).unlink(missing_ok=True)


def find_server(state_dir: Path) -> RunningServer | None:
    """The server `server.json` names, unless the file is missing, unreadable or stale (its
    process is gone)."""
    found = _read(state_dir / SERVER_FILE)
    if found is None or not _alive(found.pid):
        return None
    return found


def invoke_running_server(
    state_dir: Path,
    function_name: str,
    payload: bytes,
    qualifier: str | None = None,
    log_type: str | None = None,
    invocation_type: str = "RequestResponse",
) -> ServerAttempt:
    """Invoke through the project's running server (RequestResponse, or Event: accepted,
    202), if it has one that answers; RemoteInvocationError when that server refuses it."""
    server = find_server(state_dir)
    if server is None:
        return ServerAttempt(None, "")
    where = f"lambeam server at {server.url} (pid {server.pid})"
    credentials = read_credentials_file(state_dir / CREDENTIALS_FILE)
    if credentials is None:
        return ServerAttempt(
            None, f"{where} not used: no access key in {state_dir / CREDENTIALS_FILE}"
        )
    connection = http.client.HTTPConnection(server.host, server.port, timeout=_TIMEOUT_S)
    try:
        connection.connect()
    except OSError as exc:  # nothing listens there: the file outlived its server
        connection.close()
        return ServerAttempt(None, f"{where} did not answer ({exc}); running it here instead")
    try:
        answered_as = _server_id(connection)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        connection.close()
        return ServerAttempt(None, f"{where} did not answer ({exc}); running it here instead")
    if answered_as != server.server_id:
        # The file outlived its server and another process took the port: send it nothing.
        connection.close()
        return ServerAttempt(
            None,
            f"{where} is not the server .lambeam/{SERVER_FILE} names (another process answers"
            " there; the file outlived its server); running it here instead",
        )
    try:
        invocation = _invoke(
            connection,
            server,
            credentials,
            function_name,
            payload,
            qualifier,
            log_type,
            invocation_type,
        )
    except (OSError, http.client.HTTPException) as exc:
        # The request may have reached the function: running it again here could run it twice.
        raise RemoteInvocationError(f"{where} stopped answering: {exc!r}") from None
    finally:
        connection.close()
    return ServerAttempt(invocation, f"invoked through {where}")


def _invoke(
    connection: http.client.HTTPConnection,
    server: RunningServer,
    credentials: tuple[str, str],
    function_name: str,
    payload: bytes,
    qualifier: str | None,
    log_type: str | None,
    invocation_type: str = "RequestResponse",
) -> Invocation:
    from botocore.auth import SigV4Auth  # only here: signing is all this module needs of it
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"
    if qualifier:
        path += "?" + urlencode({"Qualifier": qualifier})
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": invocation_type}
    if log_type:
        headers["X-Amz-Log-Type"] = log_type
    request = AWSRequest(method="POST", url=server.url + path, data=payload, headers=headers)
    SigV4Auth(Credentials(*credentials), "lambda", _REGION).add_auth(request)
    connection.request("POST", path, body=payload, headers=dict(request.headers.items()))
    response = connection.getresponse()
    body = response.read()
    if response.status >= 300:
        raise RemoteInvocationError(f"{_message(body)} (answered by the server at {server.url})")
    function_error = response.getheader("X-Amz-Function-Error")
    tail = response.getheader("X-Amz-Log-Result")
    return Invocation(
        status=response.status,
        payload=body,
        function_error=function_error,
        executed_version=response.getheader("X-Amz-Executed-Version"),
        log_result_tail=base64.b64decode(tail).decode(errors="replace") if tail else None,
        request_id=response.getheader("x-amzn-RequestId") or "",
        error_type=_error_type(body) if function_error else None,
    )


def _server_id(connection: http.client.HTTPConnection) -> str | None:
    """The server id the process on the other end gives in its health (None: it gives none)."""
    connection.request("GET", "/v1/health")
    response = connection.getresponse()
    body = response.read()
    try:
        document = json.loads(body)
    except ValueError:
        return None
    found = document.get("server_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


def _message(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip() or "the server refused the invocation"
    if isinstance(document, dict):
        return str(document.get("message") or document.get("Message") or document)
    return str(document)


def _error_type(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    found = document.get("errorType") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


def _read(path: Path) -> RunningServer | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return RunningServer(
            str(record["url"]),
            str(record["host"]),
            int(record["port"]),
            int(record["pid"]),
            str(record["server_id"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True

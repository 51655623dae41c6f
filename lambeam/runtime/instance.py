"""An instance's side: load the handler, then serve one invocation at a time until told to stop.

Runs in a process just forked from the zygote. fd 1 and 2 go to the engine's log pipe, so prints,
`logging` and C-level writes all land in the invocation's log. Every message to the engine is
sent only after stdout and stderr are flushed, so the engine, on reading a response, finds all of
that invocation's output already in the pipe.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from lambeam.runtime import error_types as codes
from lambeam.runtime.context import LambdaContext
from lambeam.runtime.isolation import confine
from lambeam.runtime.limits import read_memory, read_own_memory
from lambeam.runtime.protocol import encode_frame, recv_frame

__all__ = ["run_instance"]

Handler = Callable[[Any, LambdaContext], Any]


class _InitError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload["errorMessage"])
        self.payload = payload


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, as Lambda's log format shows it."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def run_instance(conn: socket.socket, log_fd: int, init: dict[str, Any] | None) -> NoReturn:
    """The instance's whole life; it ends only by os._exit (or by the engine's SIGKILL).

    With `init` None the process is a spare: it waits for an `{"op": "init", "init": …}` frame
    before it becomes an instance.
    """
    base = read_memory()
    anon_at_fork = base.rss_anon_kb if base else 0
    _redirect_output(log_fd)
    if init is None:
        frame = recv_frame(conn)
        if frame is None:
            os._exit(0)  # never needed: the engine stopped
        init = frame[0]["init"]
    started = time.perf_counter()
    if init.get("isolation"):
        # Before any of the function's code runs; failing to confine ends the instance.
        init["path"] = confine(init["isolation"], init["path"], keep_fds=(conn.fileno(),))
    request_filter = _setup_process(init)
    try:
        handler = _load_handler(init["handler"], init["code_dir"])
    except _InitError as exc:
        _send(
            conn, {"op": "hello", "pid": os.getpid(), "anon_kb": anon_at_fork, "error": exc.payload}
        )
        os._exit(1)
    except SystemExit as exc:
        _exit_for(exc)
    # The handler and what it loaded (a model) live as long as the instance: keep the
    # collector's full passes off them, as the zygote does for what it imported.
    gc.freeze()
    init_ms = (time.perf_counter() - started) * 1000
    _send(conn, {"op": "hello", "pid": os.getpid(), "anon_kb": anon_at_fork, "init_ms": init_ms})
    while True:
        frame = recv_frame(conn)
        if frame is None:
            os._exit(0)
        header, payload = frame
        reply, body = _invoke(handler, header, payload, init, request_filter)
        # The engine's reading after the call, so that it need not read /proc itself.
        m = read_own_memory()
        reply["memory"] = [m.rss_anon_kb, m.rss_file_kb, m.rss_shmem_kb, m.hwm_kb]
        _send(conn, reply, body)


def _redirect_output(log_fd: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = _text_stream(1)
    sys.stderr = _text_stream(2)


def _text_stream(fd: int) -> TextIO:
    """A line-buffered text stream on `fd`, open for the rest of the process's life."""
    return open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)


def _setup_process(init: dict[str, Any]) -> _RequestIdFilter:
    os.environ.update(init["environ"])
    for folder in reversed(init["path"]):
        sys.path.insert(0, folder)
    os.chdir(init["code_dir"])
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_LambdaFormatter())
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    return request_filter


class _LambdaFormatter(logging.Formatter):
    """`[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>`: the Python runtime's text format."""

    converter = staticmethod(time.gmtime)

    def __init__(self) -> None:
        super().__init__(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )


def _load_handler(spec: str, code_dir: str) -> Handler:
    """The handler named by `spec` ("module.function"), defined by a module of `code_dir`: never
    a callable of the standard library or of lambeam's environment (`os.system`)."""
    module_name, _, attr = spec.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError(
            codes.error_payload(
                f"Unable to import module '{module_name}': {exc}",
                codes.RUNTIME_IMPORT_MODULE_ERROR,
                [],
            )
        ) from None
    except SyntaxError as exc:
        raise _InitError(
            codes.error_payload(
                f"Syntax error in module '{module_name}': {exc}",
                codes.RUNTIME_USER_CODE_SYNTAX_ERROR,
                [],
            )
        ) from None
    except Exception as exc:  # noqa: BLE001 - the handler's init error goes to the caller
        _log_exception(exc, skip_frames=1)
        raise _InitError(codes.exception_payload(exc, skip_frames=1)) from None
    origin = getattr(module, "__file__", None)
    if not origin or not _inside(origin, code_dir):
        raise _InitError(
            codes.error_payload(
                f"Handler module '{module_name}' is not part of the function's code"
                f" ({origin or 'built in'}); a handler must be defined by the function's own files",
                codes.RUNTIME_HANDLER_NOT_FOUND,
                [],
            )
        )
    handler = getattr(module, attr, None)
    if handler is None:
        raise _InitError(
            codes.error_payload(
                f"Handler '{attr}' missing on module '{module_name}'",
                codes.RUNTIME_HANDLER_NOT_FOUND,
                [],
            )
        )
    if not callable(handler):
        raise _InitError(
            codes.error_payload(
                f"Handler '{attr}' on module '{module_name}' is not callable",
                codes.RUNTIME_HANDLER_NOT_FOUND,
                [],
            )
        )
    return handler


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def _invoke(
    handler: Handler,
    header: dict[str, Any],
    payload: bytes,
    init: dict[str, Any],
    request_filter: _RequestIdFilter,
) -> tuple[dict[str, Any], bytes]:
    request_id = header["request_id"]
    request_filter.request_id = request_id
    context = LambdaContext(
        aws_request_id=request_id,
        function_name=init["function_name"],
        function_version=init["function_version"],
        invoked_function_arn=header["arn"],
        memory_limit_in_mb=init["memory_mb"],
        log_group_name=init["log_group_name"],
        log_stream_name=init["log_stream_name"],
        deadline=time.monotonic() + header["timeout_s"],
    )
    started = time.perf_counter()
    error_type: str | None = None
    if init.get("raw"):
        return _invoke_raw(handler, payload, context, started)
    try:
        event = json.loads(payload) if payload.strip() else {}
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        doc = codes.error_payload(
            f"Unable to parse input as json: {reason}", codes.RUNTIME_UNMARSHAL_ERROR
        )
        error_type = codes.RUNTIME_UNMARSHAL_ERROR
    else:
        try:
            result = handler(event, context)
        except SystemExit as exc:
            _exit_for(exc)
        except BaseException as exc:  # noqa: BLE001 - any handler failure is the invocation's error
            _log_exception(exc, skip_frames=1)
            doc = codes.exception_payload(exc, request_id, skip_frames=1)
            error_type = doc["errorType"]
        else:
            try:
                body = json.dumps(result).encode()
            except (TypeError, ValueError, RecursionError) as exc:
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                doc = codes.error_payload(
                    f"Unable to marshal response: {reason}", codes.RUNTIME_MARSHAL_ERROR
                )
                doc["requestId"] = request_id
                error_type = codes.RUNTIME_MARSHAL_ERROR
    duration_ms = (time.perf_counter() - started) * 1000
    if error_type is not None:
        body = json.dumps(doc).encode()
    return {"op": "result", "error_type": error_type, "duration_ms": duration_ms}, body


def _invoke_raw(
    handler: Handler, payload: bytes, context: LambdaContext, started: float
) -> tuple[dict[str, Any], bytes]:
    """A raw handler: bytes in, bytes out, no JSON on either side."""
    error_type: str | None = None
    try:
        body = handler(payload, context)
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"a raw handler must return bytes, not {type(body).__name__}")
        body = bytes(body)
    except SystemExit as exc:
        _exit_for(exc)
    except BaseException as exc:  # noqa: BLE001 - any handler failure is the invocation's error
        _log_exception(exc, skip_frames=1)
        doc = codes.exception_payload(exc, context.aws_request_id, skip_frames=1)
        error_type = doc["errorType"]
        body = json.dumps(doc).encode()
    duration_ms = (time.perf_counter() - started) * 1000
    return {"op": "result", "error_type": error_type, "duration_ms": duration_ms}, body


def _log_exception(exc: BaseException, skip_frames: int) -> None:
    """`[ERROR] Type: message` and the trace, into the log, as Lambda's runtime writes them."""
    doc = codes.exception_payload(exc, skip_frames=skip_frames)
    trace = "".join(doc["stackTrace"])
    sys.stderr.write(
        f"[ERROR] {doc['errorType']}: {doc['errorMessage']}\n"
        f"Traceback (most recent call last):\n{trace}"
    )


def _exit_for(exc: SystemExit) -> NoReturn:
    """sys.exit() in user code ends the instance, as it ends Lambda's runtime."""
    code = exc.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    _flush()
    os._exit(status)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _send(conn: socket.socket, header: dict[str, Any], payload: bytes = b"") -> None:
    _flush()
    conn.sendall(encode_frame(header, payload))

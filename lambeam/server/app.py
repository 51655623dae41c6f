"""The ASGI application: both faces on one Starlette app, and `serve` to run it on uvicorn.

Its lifespan (lifespan.py) starts the runtime engine in the background, so the gateway listens
before the zygote is ready. `serve` announces the server in the project's .lambeam/ while it
runs, so that `lambeam invoke` finds it (lambeam.invoke.remote).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.errors import ConfigError
from lambeam.events.service import EventService
from lambeam.invoke import Invoker, RunningServer, announce_server, find_server, withdraw_server
from lambeam.project import Project
from lambeam.runtime import Engine, FileLogSink
from lambeam.server._fast_invoke import InvokeFastPath
from lambeam.server._gateway import Gateway
from lambeam.server.lambda_api import lambda_routes
from lambeam.server.lifespan import lifespan
from lambeam.server.rest import rest_routes
from lambeam.server.sqs_api import sqs_routes

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "serve", "serving"]

DEFAULT_HOST = "127.0.0.1"  # loopback unless told otherwise
DEFAULT_PORT = 8000


def create_app(
    project: Project,
    engine: Engine | None = None,
    *,
    auth: bool = True,
    server_id: str | None = None,
) -> InvokeFastPath:
    """The gateway for `project` as an ASGI app; `engine` defaults to one under .lambeam/,
    `server_id` (what health names the server by) to a fresh random one."""
    state = project.settings.state_dir
    engine = engine or Engine(
        state, FileLogSink(state / "logs"), private=project.settings.private_paths
    )
    invoker = Invoker(project, engine)
    invoker.events = events = EventService(project, invoker)
    gw = Gateway(project, engine, invoker, events, auth=auth)
    if server_id is not None:
        gw.server_id = server_id  # set after: the default is the dataclass's own factory
    app = Starlette(
        routes=[*rest_routes(), *lambda_routes(), *sqs_routes()],
        lifespan=lifespan(gw),
        exception_handlers={HTTPException: _http_error},
    )
    app.state.gateway = gw
    # REST invocations are answered before Starlette (and its middleware) sees them.
    return InvokeFastPath(app, gw)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the REST API's error form."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(status, "HTTPError")
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return JSONResponse({"error": {"type": kind, "message": detail}}, status_code=status)


def serve(
    project: Project,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    log_level: str = "info",
    access_log: bool = False,
    **uvicorn_options: Any,
) -> None:
    """Run the gateway on uvicorn until interrupted (no line per request unless `access_log`).

    The socket is bound before uvicorn starts, so that the server is announced in .lambeam/
    (address, pid and server id, for `lambeam invoke`) only once it accepts connections; the
    announcement is withdrawn when it stops, on SIGTERM as on Ctrl-C.
    """
    import uvicorn

    uvicorn_options.setdefault("proxy_headers", False)  # nothing here reads the client address
    server_id = secrets.token_hex(16)
    config = uvicorn.Config(
        create_app(project, server_id=server_id),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        **uvicorn_options,
    )
    state_dir = project.settings.state_dir
    running = find_server(state_dir)
    _check_port_free(host, port, running)
    sock = config.bind_socket()
    if running is None:
        announce_server(state_dir, host, int(sock.getsockname()[1]), os.getpid(), server_id)
    else:  # the project's first server keeps lambeam invoke; this one must not take it away
        print(
            f"lambeam: another server of this project runs at {running.url} (pid"
            f" {running.pid}); lambeam invoke keeps using that one",
            file=sys.stderr,
        )
    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found in
    # place: the default one would end the process before the announcement is withdrawn.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        withdraw_server(state_dir, os.getpid())
        sock.close()


def _check_port_free(host: str, port: int, running: RunningServer | None) -> None:
    """ConfigError naming who holds `port`, rather than uvicorn's 'Address already in use'."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            holder = (
                f"this project's lambeam server (pid {running.pid}) listens there"
                if running is not None and running.port == port
                else "another program listens there"
            )
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; {holder}; choose"
                " another with --port"
            ) from None


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def serving(
    project: Project, host: str = DEFAULT_HOST, port: int = 0, *, start_timeout_s: float = 180.0
) -> Iterator[str]:
    """Run the gateway on uvicorn in a background thread; yields its base URL, stops on exit.

    Port 0 takes a free port. Used by the quickstart (and anything else that needs a gateway
    for a while inside one program).
    """
    import uvicorn

    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(project), host=host, port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="lambeam-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s  # the zygote imports the scientific stack
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the gateway did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)

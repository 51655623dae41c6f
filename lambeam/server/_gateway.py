"""What both faces share at run time: the project, the engine and the invocation core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from lambeam.invoke import Invoker
from lambeam.project import Project
from lambeam.runtime import Engine

__all__ = ["Admit", "Gateway", "Handler", "endpoint", "gateway"]


@dataclass
class Gateway:
    """The server's parts; `auth=False` turns authentication off (never by default)."""

    project: Project
    engine: Engine
    invoker: Invoker
    auth: bool = True


def gateway(request: Request) -> Gateway:
    """The Gateway the app was built with."""
    found: Gateway = request.app.state.gateway
    return found


Handler = Callable[[Request, "Gateway", bytes], Awaitable[Response]]
Admit = Callable[[Request, "Gateway"], Awaitable[bytes]]


def endpoint(
    handler: Handler, admit: Admit, error: Callable[[Exception], Response]
) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: `admit` authenticates and reads the body (each face its own way),
    `handler` answers, and any exception becomes the face's error response."""

    async def answer(request: Request) -> Response:
        try:
            gw = gateway(request)
            return await handler(request, gw, await admit(request, gw))
        except Exception as exc:  # noqa: BLE001 - every error is answered in the face's form
            return error(exc)

    return answer

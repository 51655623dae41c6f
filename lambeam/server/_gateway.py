"""What both faces share at run time: the project, the engine and the invocation core."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from lambeam.invoke import Invoker
from lambeam.project import Project
from lambeam.runtime import Engine
from lambeam.security import KeyCache

__all__ = ["Admit", "Gateway", "Handler", "endpoint", "gateway"]


@dataclass
class Gateway:
    """The server's parts; `auth=False` turns authentication off (never by default).

    `keys` is what the faces authenticate against: the project's access keys, each reused for a
    second after it is read (a key disabled by the CLI is refused within that second).
    `server_id` names this server process (health says it): `lambeam invoke` checks it against
    .lambeam/server.json before it sends anything, so a file that outlived its server never
    sends a call to another process that took the port.
    """

    project: Project
    engine: Engine
    invoker: Invoker
    auth: bool = True
    server_id: str = field(default_factory=lambda: secrets.token_hex(16))
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.project.db)


def gateway(request: Request) -> Gateway:
    """The Gateway the app was built with."""
    found: Gateway = request.app.state.gateway
    return found


Handler = Callable[[Request, "Gateway", bytes], Awaitable[Response]]
Admit = Callable[[Request, "Gateway"], Awaitable[bytes]]


_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def endpoint(
    handler: Handler,
    admit: Admit,
    error: Callable[[Exception], Response],
    *,
    invokes: bool = False,
) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: `admit` authenticates and reads the body (each face its own way),
    `handler` answers, and any exception becomes the face's error response.

    A request that may change function `{name}` (any write but an invoke) drops what the
    invoker cached about it, so the change applies to the very next invocation.
    """
    changes = not invokes

    async def answer(request: Request) -> Response:
        try:
            gw = gateway(request)
            try:
                return await handler(request, gw, await admit(request, gw))
            finally:
                name = request.path_params.get("name")
                if changes and name and request.method in _CHANGES:
                    gw.invoker.forget(name)
        except Exception as exc:  # noqa: BLE001 - every error is answered in the face's form
            return error(exc)

    return answer

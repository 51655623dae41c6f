"""The REST invoke route's fast path: `POST /v1/functions/{name}/invoke` as plain ASGI.

Every other request goes through Starlette's router. An invocation is the one request a server
answers thousands of times a second, and Starlette's routing (a regular expression per route
until one matches), its Request object and its exception middleware cost more than the rest of
the gateway's work on a batched model request. This middleware answers that one path itself,
with the same authentication (`check_bearer`), authorization (`INVOKE`, through
`authorize_key`), body reading (`read_limited`, through
`read_asgi_body`), invocation core and answers (`invoke_response`, `rest_error`) as the route in
rest.py, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

from lambeam.invoke import MAX_PAYLOAD_BYTES, InvocationRequest
from lambeam.server._gateway import Gateway, authorize_key, still_enabled
from lambeam.server._requests import read_asgi_body
from lambeam.server.rest import (
    INVOKE,
    QUALIFIER,
    check_bearer,
    invoke_ok_headers,
    invoke_response,
    rest_error,
)

__all__ = ["InvokeFastPath"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_INVOKE = re.compile(r"/v1/functions/([^/]+)/invoke")


class InvokeFastPath:
    """Pure ASGI: answers REST invocations, hands every other request (and lifespan) to `app`."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    @property
    def state(self) -> Any:
        """The wrapped app's state (its `gateway`)."""
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _INVOKE.fullmatch(scope["path"])
            if match is not None:
                await self._invoke(unquote(match[1]), scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _invoke(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        gw = self.gateway
        try:
            authorization = declared = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                elif key == b"content-length":
                    declared = value.decode("latin-1")
            query = scope.get("query_string", b"")
            qualifier = None
            if query:
                qualifier = (parse_qs(query.decode("latin-1")).get(QUALIFIER) or [None])[0]
            key = None
            if gw.auth:
                key = await check_bearer(gw, authorization)
                await authorize_key(gw, key, INVOKE.action, gw.arn(name, qualifier or None))
            body = await read_asgi_body(receive, declared, MAX_PAYLOAD_BYTES)
            if key is not None:
                await still_enabled(gw, key)
            result = await gw.invoker.handle(InvocationRequest(name, body, qualifier or None))
        except Exception as exc:  # noqa: BLE001 - answered in the REST API's error form
            await rest_error(exc)(scope, receive, send)
            return
        if result.function_error is not None:
            await invoke_response(result)(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": 200, "headers": invoke_ok_headers(result)}
        await send(start)
        await send({"type": "http.response.body", "body": result.payload})

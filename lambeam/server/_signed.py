"""AWS Signature V4 admission, shared by the faces boto3 speaks to (the Lambda API, the SQS API).

A request is checked in two steps (lambeam.security.begin_sigv4): its headers first (an
unsigned request, an unknown or disabled key, a wrong scope or a stale date is refused before a
byte of the body is read), then the signature over the body, hashed as it is read.
"""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import parse_qsl

from starlette.requests import Request

from lambeam.errors import ConfigError
from lambeam.security import begin_sigv4
from lambeam.server._gateway import Admit, Admitted, Gateway, still_enabled
from lambeam.server._requests import raw_headers, read_body

__all__ = ["signed", "signed_header"]


def signed(body_limit: int, service: str = "lambda") -> Admit:
    """Check the request's SigV4 headers (credential scope `service`), then read the body (at
    most `body_limit` bytes) hashing it as it comes, then verify the signature over it."""

    async def admit(request: Request, gw: Gateway) -> Admitted:
        if not gw.auth:
            return Admitted(None, await read_body(request, body_limit))
        query = request.scope.get("query_string", b"").decode("latin-1")
        names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:  # the canonical query is sorted: their order is not signed
            raise ConfigError(f"query parameter {repeated[0]!r} is given more than once")
        arguments = (
            gw.keys,
            request.method,
            request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
            query,
            raw_headers(request),
        )
        claimed = _claimed_key(request.headers.get("authorization", ""))
        if claimed is not None and gw.keys.fresh(claimed):
            # The key is cached: nothing to read, so no thread hop (a tenth of the event
            # loop's time at a few thousand signed calls a second).
            pending = begin_sigv4(*arguments, service=service)
        else:
            pending = await asyncio.to_thread(begin_sigv4, *arguments, service=service)
        digest = hashlib.sha256()
        body = await read_body(request, body_limit, digest)
        if gw.keys.fresh(pending.key.id):  # nothing to read or write: answer here
            key = pending.finish(digest.hexdigest(), len(body))
        else:
            key = await asyncio.to_thread(pending.finish, digest.hexdigest(), len(body))
        await still_enabled(gw, key)
        request.state.signed_headers = frozenset(pending.signed)
        return Admitted(key, body)

    return admit


def _claimed_key(authorization: str) -> str | None:
    """The access key id an Authorization header names (unchecked: begin_sigv4 checks it)."""
    _, found, rest = authorization.partition("Credential=")
    return rest.split("/", 1)[0].strip() or None if found else None


def signed_header(request: Request, name: str) -> str | None:
    """Header `name` (lower case) if the signature covers it (or authentication is off): a
    header that changes what a call does must be signed, as AWS requires; boto3 signs them."""
    signed_headers: frozenset[str] | None = getattr(request.state, "signed_headers", None)
    if signed_headers is not None and name not in signed_headers:
        return None
    return request.headers.get(name)

"""Reading requests, shared by both faces: bounded bodies, JSON objects, signed headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, MutableMapping
from typing import Any, Protocol

from starlette.requests import Request

from lambeam.errors import ConfigError
from lambeam.invoke import RequestTooLargeError

__all__ = [
    "MAX_DRAIN",
    "MAX_MANAGEMENT_BODY",
    "Hasher",
    "asgi_body",
    "json_object",
    "raw_headers",
    "read_asgi_body",
    "read_body",
    "read_limited",
    "too_large",
]

# A CreateFunction carries Lambda's 50 MB zip in base64 (4/3 of it) plus its configuration.
MAX_MANAGEMENT_BODY = 70 * 1024 * 1024
# How much past its limit a body is still read (and dropped) before the 413 goes out: most
# clients send their whole body before they read, and would see a reset instead of the refusal.
MAX_DRAIN = 64 * 1024 * 1024


class Hasher(Protocol):
    """What read_limited feeds the body to, as it arrives (a hashlib object)."""

    def update(self, data: bytes, /) -> None: ...


async def read_body(request: Request, limit: int, hasher: Hasher | None = None) -> bytes:
    """A Starlette request's body; a 413 past `limit` bytes (see read_limited)."""
    return await read_limited(
        request.stream(), request.headers.get("content-length"), limit, hasher
    )


async def read_limited(
    chunks: AsyncIterator[bytes], declared: str | None, limit: int, hasher: Hasher | None = None
) -> bytes:
    """The body `chunks` make up; past `limit` bytes, a 413 once the client has sent it all.
    `hasher` is fed each chunk as it comes (SigV4 hashes the body so, chunk by chunk).

    A body over the limit is read and dropped, up to MAX_DRAIN bytes more; a declared length
    past that is refused before anything is read.
    """
    drain = limit + MAX_DRAIN
    if declared is not None and declared.isdigit() and int(declared) > drain:
        raise too_large(int(declared), limit)
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > drain:
            raise too_large(size, limit)
        if size <= limit:
            kept.append(chunk)
            if hasher is not None:
                hasher.update(chunk)
    if size > limit:
        raise too_large(size, limit)
    return kept[0] if len(kept) == 1 else b"".join(kept)


async def read_asgi_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]], declared: str | None, limit: int
) -> bytes:
    """A plain ASGI request's body, as `read_limited(asgi_body(receive), declared, limit)` reads
    it; a body that came whole in its first message (a small one, as most are) is taken as is.

    A declared length past `limit` goes to `read_limited` before anything is received, so that
    one past what it drains is refused at once (before uvicorn answers `Expect: 100-continue`).
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return await read_limited(asgi_body(receive), declared, limit)
    first = await receive()
    body = first.get("body", b"")
    if first["type"] == "http.request" and not first.get("more_body", False):
        if len(body) > limit:
            raise too_large(len(body), limit)
        return body
    return await read_limited(asgi_body(receive, first), declared, limit)


async def asgi_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    first: MutableMapping[str, Any] | None = None,
) -> AsyncIterator[bytes]:
    """The body chunks of a plain ASGI request (what Starlette's `request.stream()` yields);
    `first` is its first message if that was received already."""
    message = first
    while True:
        if message is None:
            message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away before sending its body")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
        message = None


def json_object(
    body: bytes, what: str = "request body", fields: Collection[str] | None = None
) -> dict[str, Any]:
    """`body` as a JSON object; an empty body is an empty object. With `fields`, a key outside
    them is refused (a misspelt field is an error, not silently ignored)."""
    value = _json_object(body, what)
    unknown = sorted(set(value) - set(fields)) if fields is not None else []
    if unknown:
        expected = ", ".join(sorted(fields or ()))
        raise ConfigError(f"{what} has unknown field {unknown[0]!r}; expected {expected}")
    return value


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to read") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise ConfigError(f"{what} cannot be read: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return value


def raw_headers(request: Request) -> dict[str, str]:
    """Every header as sent, a repeated one joined with "," (what SigV4 signs)."""
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


def too_large(size: int, limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"Request must be smaller than {limit} bytes; it is at least {size}", size=size, limit=limit
    )

"""Reading requests, shared by both faces: bounded bodies, JSON objects, signed headers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from lambeam.errors import ConfigError
from lambeam.invoke import RequestTooLargeError

__all__ = ["MAX_MANAGEMENT_BODY", "json_object", "raw_headers", "read_body", "too_large"]

# A CreateFunction carries Lambda's 50 MB zip in base64 (4/3 of it) plus its configuration.
MAX_MANAGEMENT_BODY = 70 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(body: bytes, what: str = "request body") -> dict[str, Any]:
    """`body` as a JSON object; an empty body is an empty object."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} is not JSON: {exc}") from None
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

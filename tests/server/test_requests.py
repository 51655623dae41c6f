"""Reading a plain ASGI request's body: whole in one message, in chunks, too large, abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from lambeam.errors import ConfigError
from lambeam.invoke import RequestTooLargeError
from lambeam.server._requests import MAX_DRAIN, json_object, read_asgi_body


def _read(messages: list[dict[str, Any]], declared: str | None = None, limit: int = 10) -> bytes:
    queue = list(messages)

    async def receive() -> MutableMapping[str, Any]:
        return queue.pop(0)

    return asyncio.run(read_asgi_body(receive, declared, limit))


def test_a_body_whole_in_its_first_message_is_taken_as_it_is() -> None:
    assert _read([{"type": "http.request", "body": b"0123456789"}]) == b"0123456789"
    assert _read([{"type": "http.request"}]) == b""


def test_a_body_in_chunks_is_joined_and_one_past_the_limit_refused() -> None:
    chunks = [
        {"type": "http.request", "body": b"0123", "more_body": True},
        {"type": "http.request", "body": b"4567", "more_body": True},
        {"type": "http.request", "body": b"89"},
    ]
    assert _read(chunks) == b"0123456789"
    with pytest.raises(RequestTooLargeError, match="smaller than 9 bytes"):
        _read(chunks, limit=9)
    with pytest.raises(RequestTooLargeError, match="smaller than 9 bytes"):
        _read([{"type": "http.request", "body": b"0123456789"}], limit=9)
    with pytest.raises(RequestTooLargeError):  # refused on its declared length, unread
        _read(chunks, declared=str(10**12), limit=9)


def test_a_client_gone_before_its_body_is_an_error() -> None:
    with pytest.raises(ConnectionError, match="went away"):
        _read([{"type": "http.disconnect"}])
    with pytest.raises(ConnectionError, match="went away"):
        _read(
            [
                {"type": "http.request", "body": b"01", "more_body": True},
                {"type": "http.disconnect"},
            ]
        )


def test_a_declared_length_past_what_is_drained_is_refused_before_anything_is_read() -> None:
    # Nothing received: uvicorn answers `Expect: 100-continue` only when the app first receives.
    with pytest.raises(RequestTooLargeError):
        _read([], declared=str(10 + MAX_DRAIN + 1), limit=10)


def test_a_management_body_nested_too_deeply_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        json_object(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}")

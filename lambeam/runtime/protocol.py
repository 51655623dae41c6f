"""Framing between the engine, the zygote and instances.

A frame is an 8-byte prefix (header length, payload length; network order), a JSON header and the
raw payload bytes. Events and responses travel as the payload, untouched: no pickle of user objects,
and a payload is never decoded by the engine.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

__all__ = [
    "MAX_HEADER",
    "MAX_PAYLOAD",
    "PREFIX_SIZE",
    "ProtocolError",
    "decode_frame",
    "encode_frame",
    "frame_of",
    "read_frame",
    "read_frame_after",
    "recv_frame",
    "rest_size",
]

_PREFIX = struct.Struct("!II")
PREFIX_SIZE = _PREFIX.size
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 28


class ProtocolError(ConnectionError):
    """A peer sent bytes that are not a frame (or a frame past the size limits)."""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame as bytes, ready to send."""
    head = json.dumps(header, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER or len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"frame too large: header {len(head)} B, payload {len(payload)} B")
    return b"".join((_PREFIX.pack(len(head), len(payload)), head, payload))


def decode_frame(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A whole frame (as one datagram of a SOCK_SEQPACKET socket) back into header and payload."""
    if len(data) < _PREFIX.size:
        raise ProtocolError("short frame")
    head_len, payload_len = _PREFIX.unpack_from(data)
    end = _PREFIX.size + head_len
    if len(data) != end + payload_len:
        raise ProtocolError("frame length does not match its prefix")
    return _header(data[_PREFIX.size : end]), data[end:]


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The next frame from a stream; IncompleteReadError when the peer has gone."""
    return await read_frame_after(reader, await reader.readexactly(PREFIX_SIZE))


async def read_frame_after(
    reader: asyncio.StreamReader, prefix: bytes
) -> tuple[dict[str, Any], bytes]:
    """The rest of a frame whose PREFIX_SIZE-byte prefix was read already.

    (Waiting for the prefix, or for the rest, can be given up, by a timeout say, without losing
    any of the frame: `readexactly` takes nothing from the stream until it has all it asked for.)
    """
    return frame_of(prefix, await reader.readexactly(rest_size(prefix)))


def rest_size(prefix: bytes) -> int:
    """How many bytes follow a frame's PREFIX_SIZE-byte prefix (header and payload)."""
    head_len, payload_len = _check(prefix)
    return head_len + payload_len


def frame_of(prefix: bytes, rest: bytes) -> tuple[dict[str, Any], bytes]:
    """Header and payload of a frame read as its prefix and the `rest_size(prefix)` bytes after."""
    head_len, _ = _check(prefix)
    return _header(rest[:head_len]), rest[head_len:]


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    """The next frame from a blocking stream socket; None on a clean end of stream."""
    prefix = _recv_exactly(sock, _PREFIX.size, allow_eof=True)
    if prefix is None:
        return None
    head_len, payload_len = _check(prefix)
    header = _header(_recv_exactly(sock, head_len) or b"")
    payload = _recv_exactly(sock, payload_len) or b"" if payload_len else b""
    return header, payload


def _check(prefix: bytes) -> tuple[int, int]:
    head_len, payload_len = _PREFIX.unpack(prefix)
    if head_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
        raise ProtocolError(f"frame too large: header {head_len} B, payload {payload_len} B")
    return head_len, payload_len


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not a JSON object")
    return header


def _recv_exactly(sock: socket.socket, size: int, allow_eof: bool = False) -> bytes | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0 and allow_eof:
                return None
            raise ProtocolError("peer closed the connection in the middle of a frame")
        got += n
    return bytes(buf)

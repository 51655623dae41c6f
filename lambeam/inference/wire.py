"""How a micro-batch travels between the gateway and a model function's instance.

    payload = encode_requests([body_a, body_b])          # gateway → instance: raw request bodies
    bodies = decode_requests(payload)                     # in the instance
    reply = encode_replies([(200, answer_a), (400, b"…")]) # instance → gateway: one per request
    replies = decode_replies(reply)

The request bodies travel as the clients sent them (the instance parses and validates them, so
the gateway never decodes a model request), and each answer comes back as the bytes that go on the
wire. Lengths are 4-byte and statuses 2-byte unsigned integers in network order; nothing is
pickled either way.
"""

from __future__ import annotations

import struct

__all__ = [
    "FAILED",
    "INVALID",
    "OK",
    "WireError",
    "decode_replies",
    "decode_requests",
    "encode_replies",
    "encode_requests",
]

# A reply's status per request: answered; refused as invalid (400); failed in the model (a
# function error, Lambda's error document as the body).
OK, INVALID, FAILED = 200, 400, 500

_COUNT = struct.Struct("!I")


class WireError(ValueError):
    """Bytes that are not a batch (a truncated or corrupt frame)."""


def encode_requests(bodies: list[bytes]) -> bytes:
    """The batch payload for `bodies`, in order."""
    lengths = struct.pack(f"!{len(bodies)}I", *(len(body) for body in bodies))
    return b"".join((_COUNT.pack(len(bodies)), lengths, *bodies))


def decode_requests(payload: bytes) -> list[bytes]:
    """The request bodies of a batch payload."""
    count = _count(payload)
    end = _COUNT.size + 4 * count
    if len(payload) < end:
        raise WireError("batch payload is shorter than its length table")
    lengths = struct.unpack_from(f"!{count}I", payload, _COUNT.size)
    return _slices(payload, end, lengths)


def encode_replies(replies: list[tuple[int, bytes]]) -> bytes:
    """One (status, body) per request of the batch, in the batch's order."""
    table = b"".join(struct.pack("!HI", status, len(body)) for status, body in replies)
    return b"".join((_COUNT.pack(len(replies)), table, *(body for _, body in replies)))


def decode_replies(payload: bytes) -> list[tuple[int, bytes]]:
    """The (status, body) pairs of a batch reply."""
    count = _count(payload)
    end = _COUNT.size + 6 * count
    if len(payload) < end:
        raise WireError("batch reply is shorter than its status table")
    table = struct.unpack_from("!" + "HI" * count, payload, _COUNT.size)
    statuses, lengths = table[0::2], table[1::2]
    return list(zip(statuses, _slices(payload, end, lengths), strict=True))


def _count(payload: bytes) -> int:
    if len(payload) < _COUNT.size:
        raise WireError("batch frame is shorter than its count")
    (count,) = _COUNT.unpack_from(payload)
    return int(count)


def _slices(payload: bytes, start: int, lengths: tuple[int, ...]) -> list[bytes]:
    if start + sum(lengths) != len(payload):
        raise WireError("batch frame's lengths do not add up to its size")
    view = memoryview(payload)
    out = []
    for length in lengths:
        out.append(bytes(view[start : start + length]))
        start += length
    return out

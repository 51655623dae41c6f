"""The serving benchmark's load generator: N keep-alive HTTP/1.1 connections, each sending the
same POST in a loop, in a process of its own so that it shares no event loop with a server.

    .venv/bin/python bench/_load.py --port 8000 --path /predict --body '{"instances": [...]}' \
        --connections 32 --duration 10 --warmup 2 [--header 'Authorization: Bearer K:S'] \
        [--ok-status 202]

Prints one JSON line: requests/s, p50/p99 latency in ms, requests counted, and answers other
than --ok-status (200 unless told; 202 for an accepted asynchronous invoke) by status. Each connection is an asyncio Protocol that parses only the status line and
Content-Length and sends the next request from inside `data_received`: on two shared cores the
generator must cost far less than the servers it measures. Only answers that arrive in the
measured window are counted, as wrk does; the window opens after the warm-up: at least --warmup
seconds, and until every connection has had an answer (at most --max-warmup seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

__all__ = ["LoadResult", "encode_post", "run_load"]

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


def encode_post(host: str, port: int, path: str, body: bytes, headers: list[str]) -> bytes:
    """The request's bytes, built once and sent as they are by every connection."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    """What one phase of load measured; latencies in seconds."""

    seconds: float
    ok_status: int = 200
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    disconnects: int = 0
    warmup_s: float = 0.0

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        count = len(ordered)

        def quantile(q: float) -> float:
            return round(ordered[min(count - 1, int(q * count))] * 1000, 3) if count else 0.0

        return {
            "rps": round(count / self.seconds, 1),
            "p50_ms": quantile(0.50),
            "p99_ms": quantile(0.99),
            "requests": count,
            "errors": {
                str(code): n for code, n in sorted(self.statuses.items()) if code != self.ok_status
            },
            "disconnects": self.disconnects,
            "warmup_s": round(self.warmup_s, 2),
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, wait for the whole answer, record, send again."""

    def __init__(self, request: bytes, phase: _Phase) -> None:
        self.request = request
        self.phase = phase
        self.buffer = b""
        self.sent_at = 0.0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.phase.stopping:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(_HEAD_END)
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            at = head.find(_CONTENT_LENGTH)
            if at < 0:
                raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + len(_CONTENT_LENGTH) : line_end if line_end > 0 else None])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            status = int(self.buffer[9:12])
            self.buffer = self.buffer[end:]
            self.phase.record(id(self), self.sent_at, time.perf_counter(), status)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.phase.stopping:
            self.phase.result.disconnects += 1
        if not self.closed.done():
            self.closed.set_result(None)


class _Phase:
    """The clock of one run: warm-up, then the measured window, then stop.

    The window opens once `warmup_s` has passed and every connection has had an answer (so a
    server that starts instances on demand is measured warm), or at the latest after
    `max_warmup_s`.
    """

    def __init__(
        self,
        connections: int,
        warmup_s: float,
        duration_s: float,
        max_warmup_s: float,
        ok_status: int = 200,
    ) -> None:
        self.started = time.perf_counter()
        self.connections = connections
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.max_warmup_s = max_warmup_s
        self.answered: set[int] = set()
        self.measure_from: float | None = None
        self.measure_until = float("inf")
        self.stopping = False
        self.result = LoadResult(seconds=duration_s, ok_status=ok_status)

    def open_window(self, now: float) -> None:
        self.measure_from = now
        self.measure_until = now + self.duration_s
        self.result.warmup_s = now - self.started

    def check_warm(self, now: float) -> None:
        if self.measure_from is None and now - self.started >= self.max_warmup_s:
            self.open_window(now)

    def record(self, connection: int, sent_at: float, done_at: float, status: int) -> None:
        if self.measure_from is None:
            self.answered.add(connection)
            if len(self.answered) >= self.connections and done_at - self.started >= self.warmup_s:
                self.open_window(done_at)
        elif done_at > self.measure_until:
            self.stopping = True
        else:
            self.result.statuses[status] += 1
            if status == self.result.ok_status:
                self.result.latencies.append(done_at - sent_at)


async def run_load(
    host: str,
    port: int,
    request: bytes,
    connections: int,
    duration_s: float,
    warmup_s: float,
    max_warmup_s: float = 60.0,
    ok_status: int = 200,
) -> LoadResult:
    """Drive `connections` connections through a warm-up and `duration_s`; count only the latter."""
    loop = asyncio.get_running_loop()
    phase = _Phase(connections, warmup_s, duration_s, max_warmup_s, ok_status)
    opened: list[_Connection] = []
    for _ in range(connections):
        _transport, protocol = await loop.create_connection(
            lambda: _Connection(request, phase), host, port
        )
        opened.append(protocol)
    # Reconnect whoever the server hung up on, until the window closes.
    while not phase.stopping and time.perf_counter() < phase.measure_until:
        await asyncio.sleep(0.05)
        phase.check_warm(time.perf_counter())
        for i, connection in enumerate(opened):
            if connection.closed.done() and not phase.stopping:
                _transport, opened[i] = await loop.create_connection(
                    lambda: _Connection(request, phase), host, port
                )
    # Requests still in flight are abandoned: a slow server would otherwise hold the next phase
    # back by seconds; the next phase's warm-up absorbs the work it still finishes.
    phase.stopping = True
    for connection in opened:
        if connection.transport is not None:
            connection.transport.close()
    return phase.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body", required=True, help="the JSON body, sent as it is")
    parser.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="least seconds before measuring")
    parser.add_argument(
        "--max-warmup", type=float, default=60.0, help="most seconds before measuring"
    )
    parser.add_argument("--ok-status", type=int, default=200, help="the answer that counts")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    request = encode_post(args.host, args.port, args.path, args.body.encode(), args.header)
    result = asyncio.run(
        run_load(
            args.host,
            args.port,
            request,
            args.connections,
            args.duration,
            args.warmup,
            args.max_warmup,
            args.ok_status,
        )
    )
    print(json.dumps(result.summary()))


if __name__ == "__main__":
    main()

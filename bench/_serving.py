"""The servers a serving benchmark measures: started as processes of their own, waited for,
loaded by bench/_load.py (a process of its own), and talked to over one keep-alive connection.

Progress goes to stderr through `say`, timed from `STARTED` (the benchmark sets it to its own
start, so that the times include its imports).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
STARTED = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr, with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - STARTED:5.1f}s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server subprocess."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running(
    name: str,
    args: list[str],
    workdir: Path,
    ready_path: str | None = None,
    *,
    label: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start `bench/_servers.py NAME ARGS` (in `env`) and wait until it answers; stop it on
    exit. `label` names its log (several servers of one kind)."""
    port = free_port()
    log = workdir / f"{label or name}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(BENCH / "_servers.py"), name, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(name, port, process, log)
    try:
        _wait_ready(server, ready_path, timeout_s=120.0)
        say(f"{name} server up on :{port} in {time.perf_counter() - started:.1f}s")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        say(f"{name} server stopped")


def health(server: Server) -> dict[str, Any]:
    """A lambeam server's /v1/health answer."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/v1/health")
        found: dict[str, Any] = json.loads(connection.getresponse().read())
        return found
    finally:
        connection.close()


def _wait_ready(server: Server, path: str | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"the {server.name} server exited:\n{server.log.read_text()[-3000:]}")
        try:
            connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
            if path is None:
                connection.connect()
                connection.close()
                return
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            # lambeam's health answers 200 while its zygote still imports: wait for "ready", or
            # what is measured first (the idle tree's memory) would miss the zygote.
            if response.status == 200 and b'"starting"' not in body:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the {server.name} server did not start:\n{server.log.read_text()[-3000:]}")


def check_answer(
    server: Server,
    path: str,
    body: str,
    headers: Sequence[str],
    ok_status: int = 200,
    expect: str | None = "predictions",
) -> None:
    """Fail unless one POST of `body` gets `ok_status`, with the key `expect` in its JSON."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=120)
    fields = dict(h.split(": ", 1) for h in headers)
    connection.request(
        "POST", path, body=body, headers={**fields, "Content-Type": "application/json"}
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    if response.status != ok_status or (expect is not None and expect not in json.loads(data)):
        raise SystemExit(f"{server.name} {path}: {response.status} {data[:500]!r}")


def load(
    server: Server,
    path: str,
    body: str,
    connections: int,
    seconds: float,
    warmup: float,
    max_warmup: float,
    headers: Sequence[str] = (),
    ok_status: int = 200,
    expect: str | None = "predictions",
) -> dict[str, Any]:
    """One load phase, driven by bench/_load.py in its own process, after one checked answer
    (`ok_status`, with the key `expect` in its JSON unless None)."""
    check_answer(server, path, body, headers, ok_status, expect)
    command = [
        sys.executable,
        str(BENCH / "_load.py"),
        "--port",
        str(server.port),
        "--path",
        path,
        "--body",
        body,
        "--connections",
        str(connections),
        "--duration",
        str(seconds),
        "--warmup",
        str(warmup),
        "--max-warmup",
        str(max_warmup),
        "--ok-status",
        str(ok_status),
    ]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=seconds + max_warmup + 120
    )
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    say(
        f"  {server.name:8s} {path:32s} c={connections:<3d} {figures['rps']:9.1f} req/s"
        f"  p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms"
        + (f"  errors {figures['errors']}" if figures["errors"] else "")
        + (f"  disconnects {figures['disconnects']}" if figures["disconnects"] else "")
        + (f"  (warm after {figures['warmup_s']:.1f}s)" if figures["warmup_s"] > 2 * warmup else "")
    )
    failed = sum(figures["errors"].values())
    if failed > 5 or any(int(code) >= 500 or int(code) == 429 for code in figures["errors"]):
        raise SystemExit(
            f"{server.name} {path}: {failed} non-200 answers {figures['errors']}"
            f"\n{server.log.read_text()[-3000:]}"
        )
    if figures["requests"] == 0:
        raise SystemExit(f"{server.name} {path}: no request was answered")
    return figures


class Client:
    """One keep-alive connection to the gateway, for management calls and timed single invokes."""

    def __init__(self, port: int, authorization: str) -> None:
        self.connection = HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": authorization, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started

    def invoke(self, function: str, body: bytes, expect: str = "predictions") -> float:
        """Seconds to the answer; fails unless it is a 200 whose JSON has the key `expect`."""
        status, data, seconds = self.call("POST", f"/v1/functions/{function}/invoke", body)
        if status != 200 or expect not in json.loads(data):
            raise SystemExit(f"invoking {function}: {status} {data[:500]!r}")
        return seconds

    def create_model_function(self, name: str, model: str) -> None:
        body = json.dumps({"name": name, "model": model}).encode()
        status, data, _ = self.call("POST", "/v1/functions", body)
        if status != 201:
            raise SystemExit(f"creating {name}: {status} {data[:500]!r}")

    def close(self) -> None:
        self.connection.close()


# --- the phases -------------------------------------------------------------------------------

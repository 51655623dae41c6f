"""The Lambda API refuses before it reads a body (issue 12, finding 7), and honours a header
that changes what a call does only when the signature covers it (finding 8)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from lambeam.functions import CodeBundle, FunctionConfig, create_function
from tests.security.boto_capture import Captured, capture
from tests.server.conftest import RunningServer, zip_of
from tests.services import free_port

MB = 1024 * 1024
BODY = 69 * MB
APP = "def handler(event, context):\n    print('logged line')\n    return {'got': event}\n"


def _send(
    port: int, method: str, path: str, headers: dict[str, str], body: object
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# ---- finding 8: unsigned behaviour headers are ignored -------------------------------------


@pytest.fixture(scope="module")
def echo(gateway_server: RunningServer) -> str:
    db, store = gateway_server.project.db, gateway_server.project.store
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(
        db, store, "signed-echo", config, code=CodeBundle.from_zip(zip_of({"app.py": APP}))
    )
    return "signed-echo"


def _captured(server: RunningServer, **invoke: object) -> Captured:
    assert server.key.secret is not None
    return capture(
        server.key.id,
        server.key.secret,
        lambda client: client.invoke(FunctionName="signed-echo", Payload=b'{"a": 1}', **invoke),
    )


def _replay(
    server: RunningServer, request: Captured, **added: str
) -> tuple[int, dict[str, str], bytes]:
    port = int(server.url.rsplit(":", 1)[1])
    return _send(port, request.method, request.path, {**request.headers, **added}, request.body)


def test_unsigned_behaviour_headers_added_to_a_signed_request_are_ignored(
    gateway_server: RunningServer, echo: str
) -> None:
    plain = _captured(gateway_server)
    assert "x-amz-invocation-type" not in plain.headers["Authorization"].lower()

    status, headers, body = _replay(gateway_server, plain)
    assert status == 200 and json.loads(body) == {"got": {"a": 1}}
    assert "x-amz-log-result" not in headers

    # Added after signing: an Event would answer 202 with no payload, Tail would add the log.
    status, headers, body = _replay(
        gateway_server,
        plain,
        **{
            "X-Amz-Invocation-Type": "Event",
            "X-Amz-Log-Type": "Tail",
            "X-Amz-Client-Context": "e30=",
        },
    )
    assert status == 200 and json.loads(body) == {"got": {"a": 1}}
    assert "x-amz-log-result" not in headers

    # The same headers signed by boto3 do count.
    tail = _captured(gateway_server, LogType="Tail")
    assert "x-amz-log-type" in tail.headers["Authorization"].lower()
    status, headers, body = _replay(gateway_server, tail)
    assert status == 200 and "x-amz-log-result" in headers
    event = _captured(gateway_server, InvocationType="Event")
    status, _, body = _replay(gateway_server, event)
    assert status == 202 and body == b""


# ---- finding 7: refused before the body is read ---------------------------------------------


@pytest.fixture(scope="module")
def server_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """`lambeam server` in a subprocess: (its pid, its port, the credentials init wrote)."""
    root = Path(tmp_path_factory.mktemp("bodies")) / "proj"
    command = [sys.executable, "-m", "lambeam", "-C", str(root)]
    made = subprocess.run(
        [*command, "init", str(root)], capture_output=True, text=True, timeout=240
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    process = subprocess.Popen(
        [*command, "server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not listen within 180 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        credentials: dict[str, str] = {}
        for line in (root / ".lambeam" / "credentials").read_text().splitlines():
            name, _, value = line.partition("=")
            if value:
                credentials[name.strip()] = value.strip()
        yield process.pid, port, credentials
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _zeros() -> Iterator[bytes]:
    chunk = bytes(MB)  # one buffer, sent 69 times: the test holds 1 MB, not 69
    for _ in range(BODY // MB):
        yield chunk


def _authorization(key_id: str, date: datetime, service: str = "lambda") -> dict[str, str]:
    stamp = date.strftime("%Y%m%dT%H%M%SZ")
    return {
        "X-Amz-Date": stamp,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{stamp[:8]}/us-east-1/{service}/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
    }


def test_unauthenticated_69_mb_bodies_are_refused_before_they_are_read(
    server_process: tuple[int, int, dict[str, str]],
) -> None:
    pid, port, credentials = server_process
    key_id = credentials["aws_access_key_id"]
    now = datetime.now(UTC)
    refusals = [
        {},  # unsigned
        {},
        _authorization("LBAKNOSUCHKEYNOSUCHK", now),  # unknown key
        _authorization(key_id, now, service="s3"),  # wrong credential scope
        _authorization(key_id, now - timedelta(hours=1)),  # stale X-Amz-Date
        _authorization(key_id, now + timedelta(hours=1)),  # from the future
    ]
    # A signed small request first, so the server's own first-use growth is in the baseline.
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=credentials["aws_secret_access_key"],
        config=Config(retries={"max_attempts": 1}),
    )
    client.list_functions()
    before = _memory_kb(pid, "VmRSS")
    answers: list[int] = []

    def post(headers: dict[str, str]) -> None:
        status, _, _ = _send(
            port,
            "POST",
            "/2015-03-31/functions",
            {"Content-Length": str(BODY), "Content-Type": "application/json", **headers},
            _zeros(),
        )
        answers.append(status)

    threads = [threading.Thread(target=post, args=(headers,)) for headers in refusals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert sorted(answers) == [401, 401, 403, 403, 403, 403]
    grown_mb = (_memory_kb(pid, "VmHWM") - before) / 1024
    print(
        f"server RSS before {before / 1024:.0f} MB, peak after six 69 MB bodies +{grown_mb:.1f} MB"
    )
    assert grown_mb < 50, f"the server grew {grown_mb:.0f} MB reading bodies it refused"
    assert os.path.exists(f"/proc/{pid}")  # still serving
    client.list_functions()

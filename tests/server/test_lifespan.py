"""The gateway listens before its runtime is ready: health says `starting`, then `ready`, and an
invocation that arrives meanwhile waits for the runtime (a bounded wait, then a 503).

The engine's zygote start is held by a gate (`before_zygote`) that each test opens itself."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lambeam.project import Project
from lambeam.runtime import Engine
from tests.server.conftest import RunningServer, start_server, zip_of

APP = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"


def _call(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers=server.bearer
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _gated(gate: threading.Event, **options: Any) -> Callable[[Project], Engine]:
    async def hold() -> None:
        if not await asyncio.to_thread(gate.wait, 300):
            raise RuntimeError("the test never opened the gate")

    def engine(project: Project) -> Engine:
        return Engine(project.settings.state_dir, before_zygote=hold, spares=False, **options)

    return engine


def _create_hello(server: RunningServer) -> None:
    code = __import__("base64").b64encode(zip_of({"app.py": APP})).decode()
    body = {"name": "hello", "code": code, "config": {"handler": "app.handler"}}
    status, created = _call(server, "POST", "/v1/functions", body)
    assert status == 201, created


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    opened = threading.Event()
    yield opened
    opened.set()  # whatever the test did, let the engine's start finish so the server stops


def test_health_says_starting_and_an_early_invocation_waits_until_ready(
    tmp_path: Path, gate: threading.Event
) -> None:
    server = start_server(tmp_path / "proj", _gated(gate))
    try:
        status, health = _call(server, "GET", "/v1/health")
        server_id = health.pop("server_id")
        assert (status, health) == (
            200,
            {"status": "starting", "zygote": None, "isolation": None},
        )
        assert isinstance(server_id, str) and len(server_id) == 32
        _create_hello(server)  # management needs no runtime
        with ThreadPoolExecutor(1) as pool:
            early: Future[tuple[int, Any]] = pool.submit(
                _call, server, "POST", "/v1/functions/hello/invoke", {"name": "early"}
            )
            # The gate is shut: the invocation cannot be answered, however long this waits.
            with pytest.raises(TimeoutError):
                early.result(timeout=1)
            assert _call(server, "GET", "/v1/health")[1]["status"] == "starting"
            gate.set()
            assert early.result(timeout=120) == (200, {"hello": "early"})
        status, health = _call(server, "GET", "/v1/health")
        assert status == 200 and health["status"] == "ready"
        assert isinstance(health["zygote"], int)
        # The server says which isolation its instances get (on this machine: Landlock).
        isolation = health["isolation"]
        assert isolation["summary"].startswith("instance isolation: ")
        assert isolation["enabled"] is (os.environ.get("LAMBEAM_ISOLATION", "") != "off")
    finally:
        server.stop()
        server.project.close()


def test_an_invocation_past_the_start_wait_is_a_clear_503(
    tmp_path: Path, gate: threading.Event
) -> None:
    server = start_server(tmp_path / "proj", _gated(gate, start_wait_s=0.5))
    try:
        _create_hello(server)
        status, body = _call(server, "POST", "/v1/functions/hello/invoke", {})
        assert status == 503
        assert body["error"]["type"] == "RuntimeUnavailableError"
        assert "still starting" in body["error"]["message"]
    finally:
        gate.set()  # the start finishes, so the server stops at once (not after its 60 s wait)
        server.stop()
        server.project.close()


def test_a_runtime_that_cannot_start_is_a_failed_health_and_503s(tmp_path: Path) -> None:
    def engine(project: Project) -> Engine:
        return Engine(project.settings.state_dir, python="/nonexistent/python", spares=False)

    server = start_server(tmp_path / "proj", engine)
    try:
        _create_hello(server)
        status, body = _call(server, "POST", "/v1/functions/hello/invoke", {})
        assert status == 503 and "did not start" in body["error"]["message"]
        deadline = time.monotonic() + 60
        status, health = _call(server, "GET", "/v1/health")
        while health["status"] == "starting" and time.monotonic() < deadline:
            status, health = _call(server, "GET", "/v1/health")
        assert status == 503 and health["status"] == "failed" and health["error"]
    finally:
        server.stop()
        server.project.close()

"""`lambeam invoke` goes through the project's running `lambeam server` when there is one, and
runs the function itself when there is none (or only a stale .lambeam/server.json)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services import free_port

LAMBEAM = [sys.executable, "-m", "lambeam"]
APP = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
FUNCTIONS = '\n[functions.hello]\ncode = "hello"\nhandler = "app.handler"\n'


def lambeam(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAMBEAM, "-C", str(root), *args], capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = Path(tmp_path_factory.mktemp("invoke")) / "proj"
    assert lambeam(project, "init", str(project)).returncode == 0
    (project / "hello").mkdir()
    (project / "hello" / "app.py").write_text(APP)
    with open(project / "lambeam.toml", "a", encoding="utf-8") as config:
        config.write(FUNCTIONS)
    deployed = lambeam(project, "deploy", "hello")
    assert deployed.returncode == 0, deployed.stderr
    return project


@pytest.fixture
def server(root: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`lambeam server --access-log`, its output going to a file the test can read."""
    with running_server(root, tmp_path) as running:
        yield running


@contextmanager
def running_server(root: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`lambeam server --access-log` on a free port until the block ends."""
    port = free_port()
    output = tmp_path / "server.log"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "server", "--port", str(port), "--access-log"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while not (root / ".lambeam" / "server.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        yield process, output
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_invoke_without_a_server_runs_the_function_here(root: Path) -> None:
    answer = lambeam(root, "invoke", "hello", "--payload", '{"name": "local"}')
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "local"}
    assert "lambeam server" not in answer.stderr


def test_invoke_uses_the_running_server(
    root: Path, server: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, output = server
    answer = lambeam(root, "invoke", "hello", "--payload", '{"name": "served"}', "--log")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "served"}
    assert "invoked through lambeam server at http://127.0.0.1:" in answer.stderr
    assert f"(pid {process.pid})" in answer.stderr
    assert "REPORT RequestId" in answer.stderr  # the log tail came back with the answer
    # The server's own log shows the call it answered.
    assert "POST /2015-03-31/functions/hello/invocations" in output.read_text()

    failed = lambeam(root, "invoke", "nothere")
    assert failed.returncode != 0 and "nothere" in failed.stderr


def test_a_stale_server_file_is_ignored(root: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    stale = {"url": "http://127.0.0.1:9", "host": "127.0.0.1", "port": 9, "pid": int(gone.stdout)}
    path = root / ".lambeam" / "server.json"
    path.write_text(json.dumps(stale))
    try:
        answer = lambeam(root, "invoke", "hello")
    finally:
        path.unlink(missing_ok=True)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "world"}
    assert "lambeam server" not in answer.stderr


def test_a_file_naming_another_server_sends_it_nothing(
    root: Path, server: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """A server.json that outlived its server, whose pid is alive again (reused) and whose port
    another lambeam server now holds: invoke checks the server id and runs the function here."""
    process, output = server
    path = root / ".lambeam" / "server.json"
    announced = json.loads(path.read_text())
    assert announced["pid"] == process.pid and len(announced["server_id"]) == 32
    forged = {**announced, "pid": os.getpid(), "server_id": "0" * 32}
    path.write_text(json.dumps(forged))
    try:
        answer = lambeam(root, "invoke", "hello", "--payload", '{"name": "here"}')
    finally:
        path.write_text(json.dumps(announced))
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "here"}
    assert "is not the server .lambeam/server.json names" in answer.stderr
    assert "running it here instead" in answer.stderr
    # The server was asked who it is, and nothing else.
    assert "POST /2015-03-31/functions/hello/invocations" not in output.read_text()


def test_sigterm_withdraws_the_server_file(root: Path, tmp_path: Path) -> None:
    port = free_port()
    with open(tmp_path / "server.log", "wb") as sink:
        process = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    path = root / ".lambeam" / "server.json"
    try:
        deadline = time.monotonic() + 180
        while not path.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert json.loads(path.read_text())["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 128 + signal.SIGTERM, (tmp_path / "server.log").read_text()
    assert not path.exists()


def test_invoke_takes_a_qualified_name_as_lambda_does(root: Path) -> None:
    """NAME:QUALIFIER works in this process as it does through a server (it was refused as
    'not a function name' without one); a second, different qualifier is an error."""
    answer = lambeam(root, "invoke", "hello:$LATEST", "--payload", '{"name": "q"}')
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "q"}
    clash = lambeam(root, "invoke", "hello:1", "-q", "2")
    assert clash.returncode != 0 and "differ" in clash.stderr and "Traceback" not in clash.stderr


def test_a_second_server_leaves_the_first_one_to_invoke(
    root: Path, server: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    """A second server of the project neither takes .lambeam/server.json from the first nor
    removes it when it stops (invoke then ran in its own process, the first server still up);
    on the first one's port it is one line naming the holder, not uvicorn's bare error."""
    first, _ = server
    path = root / ".lambeam" / "server.json"
    announced = json.loads(path.read_text())
    taken = lambeam(root, "server", "--port", str(announced["port"]))
    assert taken.returncode == 2 and "Traceback" not in taken.stderr  # a ConfigError
    assert f"this project's lambeam server (pid {first.pid}) listens there" in taken.stderr
    assert "--port" in taken.stderr
    port = free_port()
    with open(tmp_path / "second.log", "wb") as sink:
        second = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "another server of this project" not in (tmp_path / "second.log").read_text():
            assert second.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert json.loads(path.read_text()) == announced
        # Stopped once it answers: a Ctrl-C before uvicorn has its handlers can be lost (Python
        # ignores a KeyboardInterrupt raised inside a weakref callback), and the wait below hung.
        while True:
            assert second.poll() is None and time.monotonic() < deadline
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(60)
    assert json.loads(path.read_text()) == announced  # still the first server's


def _status(root: Path, request_id: str) -> str:
    shown = lambeam(root, "invocations", "show", request_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["status"])


def test_invoke_event_queues_without_a_server_and_a_server_runs_it(
    root: Path, tmp_path: Path
) -> None:
    refused = lambeam(root, "invoke", "hello", "--event", "--payload", "{not json")
    assert refused.returncode != 0 and "Could not parse request body into json" in refused.stderr
    queued = lambeam(root, "invoke", "hello", "--event", "--payload", '{"name": "later"}')
    assert queued.returncode == 0, queued.stderr
    assert "queued" in queued.stderr
    early = queued.stdout.strip()
    assert _status(root, early) == "queued"
    with running_server(root, tmp_path):
        sent = lambeam(root, "invoke", "hello", "--event", "--payload", '{"name": "now"}')
        assert sent.returncode == 0, sent.stderr
        assert "invoked through lambeam server" in sent.stderr
        late = sent.stdout.strip()
        deadline = time.monotonic() + 60
        while {_status(root, early), _status(root, late)} != {"succeeded"}:
            assert time.monotonic() < deadline, (_status(root, early), _status(root, late))
            time.sleep(0.5)

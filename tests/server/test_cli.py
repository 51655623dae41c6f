"""`lambeam deploy`, `apply`, `invoke`, `logs` and `server` on a real project, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.services import free_port

LAMBEAM = [sys.executable, "-m", "lambeam"]
APP = """\
def handler(event, context):
    print("hello log line")
    if event.get("fail"):
        raise RuntimeError("boom")
    return {"hello": event.get("name", "world"), "version": context.function_version}
"""
FUNCTIONS = """
[functions.hello]
code = "hello"
handler = "app.handler"
timeout = 10
"""


def lambeam(
    root: Path, *args: str, stdin: str | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAMBEAM, "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": str(columns)},
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = Path(tmp_path_factory.mktemp("cli")) / "proj"
    assert lambeam(project, "init", str(project)).returncode == 0
    (project / "hello").mkdir()
    (project / "hello" / "app.py").write_text(APP)
    with open(project / "lambeam.toml", "a", encoding="utf-8") as config:
        config.write(FUNCTIONS)
    return project


def test_deploy_invoke_and_logs(root: Path) -> None:
    first = lambeam(root, "deploy", "hello")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[:2] == ["created", "hello"]
    (root / "hello" / "app.py").write_text(APP.replace("world", "everyone"))
    again = lambeam(root, "apply", "--json")
    assert again.returncode == 0, again.stderr
    assert [(r["name"], r["action"]) for r in json.loads(again.stdout)] == [("hello", "updated")]

    answer = lambeam(root, "invoke", "hello", "--payload", "-", "--log", stdin="{}", columns=60)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"hello": "everyone", "version": "$LATEST"}
    assert "START RequestId" in answer.stderr and "REPORT RequestId" in answer.stderr
    report = next(line for line in answer.stderr.splitlines() if line.startswith("REPORT"))
    assert "Max Memory Used" in report  # one line, however narrow the terminal

    failed = lambeam(root, "invoke", "hello", "--payload", '{"fail": true}')
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "RuntimeError"
    assert failed.stderr.startswith("error: hello failed (RuntimeError): boom")

    logs = lambeam(root, "logs", "hello")
    assert logs.returncode == 0
    assert logs.stdout.count("START RequestId") == 2 and "hello log line" in logs.stdout
    unknown = lambeam(root, "logs", "nosuch")  # not a function, never logged: said, not silence
    assert unknown.returncode != 0 and "nosuch" in unknown.stderr and unknown.stdout == ""


def test_functions_list_show_publish_alias_and_delete(root: Path) -> None:
    assert lambeam(root, "deploy", "hello").returncode == 0
    published = lambeam(root, "functions", "publish", "hello", "-d", "first", "--json")
    assert published.returncode == 0, published.stderr
    first = json.loads(published.stdout)
    assert first["version"] != "$LATEST" and first["description"] == "first"
    (root / "hello" / "app.py").write_text(APP.replace("world", "second"))
    assert lambeam(root, "apply").returncode == 0
    second = json.loads(lambeam(root, "functions", "publish", "hello", "--json").stdout)
    assert int(second["version"]) == int(first["version"]) + 1 and second["published"]
    again = lambeam(root, "functions", "publish", "hello", "-d", "ignored")
    assert again.stdout.startswith(f"hello:{second['version']} already has $LATEST's code")
    assert "nothing new published" in again.stdout and "stays" in again.stdout

    made = lambeam(root, "functions", "alias", "set", "hello", "prod", first["version"])
    assert made.returncode == 0 and made.stdout.startswith("created hello:prod"), made.stderr
    moved = lambeam(
        root,
        "functions",
        "alias",
        "set",
        "hello",
        "prod",
        first["version"],
        "--weight",
        f"{second['version']}=0.25",
        "--json",
    )
    assert json.loads(moved.stdout)["routing"] == {
        "additional_version": second["version"],
        "weight": 0.25,
    }
    listing = lambeam(root, "functions", "ls")
    assert listing.returncode == 0 and "hello" in listing.stdout and "75%" in listing.stdout
    [listed] = json.loads(lambeam(root, "functions", "ls", "--json").stdout)
    assert listed["published_versions"] >= 2 and [a["name"] for a in listed["aliases"]] == ["prod"]
    versions = json.loads(lambeam(root, "functions", "ls", "hello", "--json").stdout)
    assert [v["version"] for v in versions][:1] == ["$LATEST"]
    assert {first["version"], second["version"]} <= {v["version"] for v in versions}
    shown = json.loads(lambeam(root, "functions", "show", "hello", "-q", "prod", "--json").stdout)
    assert shown["version"] == first["version"] and shown["aliases"][0]["name"] == "prod"
    summary = lambeam(root, "functions", "show", "hello")
    assert "app.handler" in summary.stdout and "10 s" in summary.stdout

    bad = lambeam(root, "functions", "alias", "set", "hello", "prod", "1", "--weight", "half")
    assert bad.returncode != 0 and "VERSION=WEIGHT" in bad.stderr
    nowhere = lambeam(root, "functions", "alias", "set", "hello", "prod", "99")
    assert nowhere.returncode != 0 and "hello:99" in nowhere.stderr  # the version, not the alias
    in_use = lambeam(root, "functions", "rm", "hello", "--version", first["version"])
    assert in_use.returncode != 0 and "prod" in in_use.stderr  # an alias still points at it
    assert lambeam(root, "functions", "alias", "rm", "hello", "prod").returncode == 0
    gone = lambeam(root, "functions", "alias", "rm", "hello", "prod")
    assert gone.returncode != 0 and "hello:prod" in gone.stderr
    assert lambeam(root, "functions", "rm", "hello", "--version", first["version"]).returncode == 0
    assert lambeam(root, "functions", "rm", "hello").returncode == 0
    assert json.loads(lambeam(root, "functions", "ls", "--json").stdout) == []
    missing = lambeam(root, "functions", "show", "hello")
    assert missing.returncode != 0 and "hello" in missing.stderr


def test_server_listens_on_loopback_and_answers_health(root: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health: dict[str, object] = {}
        deadline = time.monotonic() + 180
        while health.get("status") != "ready" and time.monotonic() < deadline:
            assert process.poll() is None
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v1/health", timeout=5
                ) as response:
                    health = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert health["status"] == "ready" and isinstance(health["zygote"], int)
        announced = json.loads((root / ".lambeam" / "server.json").read_text())
        assert announced["url"] == f"http://127.0.0.1:{port}"
        assert announced["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "127.0.0.1" in output
    assert not (root / ".lambeam" / "server.json").exists()  # withdrawn as it stopped


def test_logs_follow_prints_new_invocations_as_they_are_written(root: Path, tmp_path: Path) -> None:
    from lambeam.project import Project
    from lambeam.runtime import FileLogSink

    project = Project.open(root)
    folder = project.settings.state_dir / "logs"
    project.close()
    output = tmp_path / "followed.txt"
    with open(output, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "logs", "followed", "--follow"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        FileLogSink(folder).write("followed", "START RequestId: first Version: $LATEST\n")
        FileLogSink(folder).write("followed", "END RequestId: second\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "second" not in output.read_text():
            assert process.poll() is None, output.read_text()
            time.sleep(0.1)
        assert "START RequestId: first" in output.read_text()
        assert "END RequestId: second" in output.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode in (0, 130)  # it stopped at Ctrl-C, and was not killed

"""A hostile handler against a running `lambeam server` (issue 12, findings 1, 2, 4, 5, 6).

The project deploys `evil` (tries everything it is told) and `victim` (answers its pid). Each
test asks `evil` for one attack through the REST API and checks that it failed safely: the
project's credentials, database and another function's code stay out of reach, the server and
the zygote cannot be signalled, children die with their instance when the function is deleted and
when the server stops, and 300 MB of output costs neither the server's memory nor its log.
Mechanisms this host lacks are skipped with the reason (never in CI, LAMBEAM_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import configparser
import json
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.hostile import HOSTILE
from tests.services import free_port, unavailable

LAMBEAM = [sys.executable, "-m", "lambeam"]
EVIL = textwrap.dedent(HOSTILE)
VICTIM = "import os\n\ndef handler(event, context):\n    return {'victim': os.getpid()}\n"
FUNCTIONS = """
[functions.evil]
code = "evil"
handler = "app.handler"
timeout = 30

[functions.victim]
code = "victim"
handler = "app.handler"
"""


def lambeam(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAMBEAM, "-C", str(root), *args], capture_output=True, text=True, timeout=240
    )


@dataclass
class Server:
    root: Path
    url: str
    process: subprocess.Popen[bytes]
    authorization: str
    health: dict[str, Any]

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 120
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": self.authorization},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def evil(self, event: dict[str, Any]) -> Any:
        status, answer = self.call("POST", "/v1/functions/evil/invoke", event)
        assert status == 200, answer
        return answer


def start_server(root: Path, authorization: str) -> Server:
    port = free_port()
    log = root.parent / f"server-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    health: dict[str, Any] = {}
    while health.get("status") != "ready":
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as response:
                health = json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    return Server(root, url, process, authorization, health)


def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = Path(tmp_path_factory.mktemp("hostile")) / "proj"
    assert lambeam(root, "init", str(root)).returncode == 0
    for name, source in (("evil", EVIL), ("victim", VICTIM)):
        (root / name).mkdir()
        (root / name / "app.py").write_text(source)
    with open(root / "lambeam.toml", "a", encoding="utf-8") as config:
        config.write(FUNCTIONS)
    for name in ("evil", "victim"):
        deployed = lambeam(root, "deploy", name)
        assert deployed.returncode == 0, deployed.stderr
    credentials = configparser.ConfigParser()
    credentials.read(root / ".lambeam" / "credentials")
    key = credentials["lambeam"]
    return root, f"Bearer {key['aws_access_key_id']}:{key['aws_secret_access_key']}"


@pytest.fixture(scope="module")
def server(project: tuple[Path, str]) -> Iterator[Server]:
    served = start_server(*project)
    isolation = served.health["isolation"]
    if not isolation["enabled"] or isolation["filesystem"] != "landlock":
        stop(served)
        unavailable(f"no Landlock here: {isolation['summary']}")
    try:
        yield served
    finally:
        stop(served)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _all_gone(pids: list[int], within_s: float = 15.0) -> bool:
    deadline = time.monotonic() + within_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(pid) for pid in pids)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_the_server_says_which_isolation_is_in_force(server: Server) -> None:
    isolation = server.health["isolation"]
    assert isolation["summary"].startswith("instance isolation: filesystem")
    log = (server.root.parent / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()
    assert isolation["summary"] in log


def test_a_handler_cannot_read_the_projects_secrets_or_the_servers_environment(
    server: Server,
) -> None:
    state = server.root / ".lambeam"
    targets = [
        state / "credentials",
        state / "master.key",
        *(path for path in state.iterdir() if path.suffix in (".db", ".sqlite")),
        Path(f"/proc/{server.process.pid}/environ"),
        Path(f"/proc/{server.health['zygote']}/environ"),
    ]
    assert (state / "credentials").exists()
    for target in targets:
        answer = server.evil({"do": "read", "path": str(target)})
        assert answer["ok"] is False, (target, answer)
    for folder in (state, state / "logs", server.root):
        answer = server.evil({"do": "list", "path": str(folder)})
        assert answer["ok"] is False, (folder, answer)


def test_a_handler_cannot_rewrite_another_functions_code(server: Server) -> None:
    status, _ = server.call("POST", "/v1/functions/victim/invoke", {})
    assert status == 200
    cached = [
        path for path in (server.root / ".lambeam").rglob("app.py") if path.read_text() == VICTIM
    ]
    assert cached, "the victim's code is cached under .lambeam/"
    for path in cached:
        answer = server.evil({"do": "write", "path": str(path)})
        assert answer["ok"] is False, (path, answer)
        assert path.read_text() == VICTIM
    status, again = server.call("POST", "/v1/functions/victim/invoke", {})
    assert status == 200 and set(again) == {"victim"}


def test_a_handler_cannot_signal_the_server_or_the_zygote(server: Server) -> None:
    if server.health["isolation"]["signals"] != "landlock":
        unavailable(f"signals are not scoped here: {server.health['isolation']['summary']}")
    status, victim = server.call("POST", "/v1/functions/victim/invoke", {})
    assert status == 200
    for pid in (server.process.pid, server.health["zygote"], victim["victim"]):
        answer = server.evil({"do": "kill", "pid": pid, "signal": 9})
        assert answer["ok"] is False and "PermissionError" in answer["error"], (pid, answer)
    assert server.process.poll() is None
    status, again = server.call("POST", "/v1/functions/victim/invoke", {})
    assert (status, again) == (200, victim)  # the same warm instance, unharmed


def test_output_past_the_cap_costs_neither_memory_nor_the_log(server: Server) -> None:
    before = _rss_kb(server.process.pid)
    status, answer = server.call("POST", "/v1/functions/evil/invoke", {"do": "print", "mb": 300})
    assert (status, answer) == (200, {"printed_mb": 300})
    grown_mb = (_rss_kb(server.process.pid) - before) / 1024
    log = server.root / ".lambeam" / "logs" / "evil.log"
    assert log.stat().st_size < 64 * 1024 * 1024  # within one rotation
    assert "output truncated" in log.read_text(errors="replace")[-20000:]
    assert grown_mb < 60, grown_mb
    print(f"300 MB of output: server RSS +{grown_mb:.1f} MB, log {log.stat().st_size} bytes")


def test_children_die_with_their_function_when_it_is_deleted(
    server: Server, project: tuple[Path, str]
) -> None:
    if "cgroup" not in server.health["isolation"]["process_tree"]:
        unavailable("no cgroup here: a child in a new session outlives its instance")
    root = project[0]
    (root / "evil2").mkdir(exist_ok=True)
    (root / "evil2" / "app.py").write_text(EVIL)
    with open(root / "lambeam.toml", "a", encoding="utf-8") as config:
        config.write('\n[functions.evil2]\ncode = "evil2"\nhandler = "app.handler"\n')
    assert lambeam(root, "deploy", "evil2").returncode == 0
    status, answer = server.call("POST", "/v1/functions/evil2/invoke", {"do": "children"})
    assert status == 200, answer
    pids = answer["pids"]
    assert all(_alive(pid) for pid in pids)
    status, _ = server.call("DELETE", "/v1/functions/evil2")
    assert status == 204
    assert _all_gone([*pids, answer["me"]])


def test_children_die_when_the_server_stops(project: tuple[Path, str]) -> None:
    second = start_server(*project)
    try:
        if "cgroup" not in second.health["isolation"]["process_tree"]:
            unavailable("no cgroup here: a child in a new session outlives the server")
        answer = second.evil({"do": "children"})
    finally:
        stop(second)
    assert second.process.returncode in (0, 143, -signal.SIGTERM)
    assert _all_gone([*answer["pids"], answer["me"]])

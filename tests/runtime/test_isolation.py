"""A hostile handler against an isolated instance: everything it tries outside itself fails safely.

Each test gives the handler one attack (read the project's state, another function's code, the
server's environment; write its own code; signal the zygote or the engine; leave processes behind;
use memory through a child) and checks that it failed, and that nothing else was harmed. On this
machine (CI) every mechanism is present; elsewhere a test whose mechanism is missing is skipped
with the reason, except when LAMBEAM_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from lambeam.config import Settings
from lambeam.runtime import RUNTIME_OUT_OF_MEMORY, Engine, FunctionSpec, seccomp
from lambeam.runtime.cgroups import CgroupTree
from lambeam.runtime.isolation import Isolation
from tests.runtime.conftest import LoopThread, make_function, process_gone
from tests.runtime.hostile import HOSTILE
from tests.services import unavailable


def _isolated(engine: Engine) -> Isolation:
    isolation = engine.isolation
    if not isolation.enabled or not isolation.landlock_abi:
        unavailable(f"no Landlock here: {isolation.summary()}")
    return isolation


def _needs_cgroup(engine: Engine, without: str) -> None:
    """Skip (fail in CI) unless the engine's instances each have a cgroup; `without` says what
    goes wrong without one."""
    if not _isolated(engine).cgroup:
        unavailable(f"no cgroup here: {without}")


def _call(engine: Engine, loop: LoopThread, spec: Any, event: dict[str, Any]) -> Any:
    result = loop.run(engine.invoke(spec, json.dumps(event).encode()), timeout=120)
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


@pytest.fixture
def hostile(tmp_path: Path) -> Any:
    return make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=10.0)


def test_the_engine_says_which_isolation_is_in_force(engine: Engine) -> None:
    isolation = _isolated(engine)
    summary = isolation.summary()
    assert f"Landlock ABI {isolation.landlock_abi}" in summary
    report = isolation.to_dict()
    assert report["filesystem"] == "landlock" and report["summary"] == summary


def test_a_handler_cannot_read_the_project_state_or_another_functions_code(
    engine: Engine, loop: LoopThread, hostile: Any, tmp_path: Path
) -> None:
    _isolated(engine)
    secret = engine.state_dir / "credentials-like"
    secret.write_text("aws_secret_access_key = hunter2")
    other = make_function(tmp_path, "def handler(e, c):\n    return 'other'\n")
    for event in (
        {"do": "read", "path": str(secret)},
        {"do": "list", "path": str(engine.state_dir)},
        {"do": "list", "path": str(engine.state_dir / "logs")},
        {"do": "read", "path": str(other.code_dir / "app.py")},
        {"do": "read", "path": "/etc/shadow"},
    ):
        answer = _call(engine, loop, hostile, event)
        assert answer["ok"] is False and "PermissionError" in answer["error"], (event, answer)
    # Its own code and the Python environment stay readable.
    assert _call(engine, loop, hostile, {"do": "read", "path": str(hostile.code_dir / "app.py")})[
        "ok"
    ]


def test_a_handler_cannot_read_the_servers_environment_or_see_other_processes(
    engine: Engine, loop: LoopThread, hostile: Any
) -> None:
    _isolated(engine)
    for pid in (os.getpid(), engine.zygote_pid, 1):
        for what in ("environ", "cmdline", "status"):
            answer = _call(engine, loop, hostile, {"do": "read", "path": f"/proc/{pid}/{what}"})
            assert answer["ok"] is False, (pid, what, answer)
    assert _call(engine, loop, hostile, {"do": "read", "path": "/proc/self/status"})["ok"]


def test_a_handler_cannot_rewrite_its_own_code(
    engine: Engine, loop: LoopThread, hostile: Any
) -> None:
    _isolated(engine)
    target = hostile.code_dir / "app.py"
    before = target.read_text()
    answer = _call(engine, loop, hostile, {"do": "write", "path": str(target)})
    assert answer["ok"] is False and target.read_text() == before


def test_a_handler_cannot_signal_the_zygote_the_engine_or_a_sibling(
    engine: Engine, loop: LoopThread, hostile: Any, tmp_path: Path
) -> None:
    isolation = _isolated(engine)
    if isolation.landlock_abi < 6:
        unavailable(f"Landlock ABI {isolation.landlock_abi} cannot scope signals")
    sibling = make_function(tmp_path, "import os\ndef handler(e, c):\n    return os.getpid()\n")
    sibling_pid = loop.run(engine.invoke(sibling, b"{}")).instance_pid
    zygote = engine.zygote_pid
    for pid in (zygote, os.getpid(), sibling_pid, 1):
        answer = _call(engine, loop, hostile, {"do": "kill", "pid": pid, "signal": 9})
        assert answer["ok"] is False and "PermissionError" in answer["error"], (pid, answer)
    answer = _call(engine, loop, hostile, {"do": "kill-parent"})
    assert answer["ok"] is False
    assert engine.zygote_pid == zygote and process_gone(zygote, within_s=0.2) is False
    # The sibling's instance is the one that answers next: it was not harmed.
    assert loop.run(engine.invoke(sibling, b"{}")).instance_pid == sibling_pid


def test_each_instance_has_its_own_tmp(engine: Engine, loop: LoopThread, tmp_path: Path) -> None:
    _isolated(engine)
    spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=10.0)
    answer = _call(engine, loop, spec, {"do": "tmp"})
    assert answer["ok"] is True, answer
    tmpdir = answer["got"].split("'")[1]
    assert tmpdir == "/tmp" or Path(tmpdir).is_relative_to(engine.state_dir / "tmp" / spec.name)
    other = _call(engine, loop, make_function(tmp_path, HOSTILE), {"do": "tmp"})
    assert other["got"].split("'")[1] != tmpdir or tmpdir == "/tmp"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _wait_none_alive(pids: set[int], within_s: float = 10.0) -> set[int]:
    deadline = time.monotonic() + within_s
    alive = {pid for pid in pids if _alive(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pid for pid in alive if _alive(pid)}
    return alive


def _started(log: str) -> set[int]:
    line = next(line for line in log.splitlines() if line.startswith("PIDS "))
    return set(json.loads(line[5:]))


def test_processes_a_handler_starts_die_with_its_instance_after_a_timeout(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    _needs_cgroup(engine, "a child in a new session outlives its instance")
    spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=2.0)
    result = loop.run(engine.invoke(spec, b'{"do": "children", "hang": true}'), timeout=60)
    assert result.error_type == "Sandbox.Timedout"
    started = _started(result.log_tail)
    assert len(started) == 3
    assert _wait_none_alive(started) == set()


def test_processes_a_handler_starts_die_when_its_function_scales_to_zero(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    _needs_cgroup(engine, "a child in a new session outlives its instance")
    spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=10.0)
    started = set(_call(engine, loop, spec, {"do": "children"})["pids"])
    assert len(started) == 3 and all(_alive(pid) for pid in started)
    assert loop.run(engine.scale_to_zero(spec.name)) == 1
    assert _wait_none_alive(started) == set()


def test_processes_a_handler_starts_die_when_the_engine_stops(tmp_path: Path) -> None:
    loop = LoopThread()
    engine = Engine(tmp_path / "state", preload=("json",))
    try:
        loop.run(engine.start(), timeout=60)
        _needs_cgroup(engine, "a child in a new session outlives the server")
        spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=10.0)
        started = set(_call(engine, loop, spec, {"do": "children"})["pids"])
        assert len(started) == 3
    finally:
        loop.run(engine.stop())
        loop.close()
    assert _wait_none_alive(started) == set()


def test_a_child_past_the_memory_limit_ends_the_instance_and_counts_in_its_report(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    _needs_cgroup(engine, "a child's memory is not counted")
    spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=20.0)
    result = loop.run(engine.invoke(spec, b'{"do": "child-memory", "mb": 600}'), timeout=60)
    assert result.error_type == RUNTIME_OUT_OF_MEMORY, result.payload
    assert result.max_memory_mb >= 128


def test_a_shared_mapping_counts_against_the_memory_limit(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    _needs_cgroup(engine, "shared memory is not counted")
    spec = make_function(tmp_path, HOSTILE, memory_mb=128, timeout_s=20.0)
    result = loop.run(engine.invoke(spec, b'{"do": "shared-map", "mb": 1024}'), timeout=60)
    assert result.error_type == RUNTIME_OUT_OF_MEMORY, result.payload


def test_a_fork_bomb_is_bounded_and_leaves_nothing_behind(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    _needs_cgroup(engine, "processes are not capped")
    spec = make_function(tmp_path, HOSTILE, memory_mb=1024, timeout_s=30.0)
    result = loop.run(engine.invoke(spec, b'{"do": "fork-bomb"}'), timeout=120)
    if result.error_type is None:  # the process cap stopped it
        answer = json.loads(result.payload)
        assert answer["forked"] < 1024 and "stopped_by" in answer
    else:  # or its memory (page tables of a forked interpreter), first
        assert result.error_type == RUNTIME_OUT_OF_MEMORY, result.payload
    loop.run(engine.scale_to_zero(spec.name))
    assert engine.instances(spec.name) == []


def test_as_root_an_instance_keeps_no_capability(
    engine: Engine, loop: LoopThread, hostile: Any
) -> None:
    _isolated(engine)
    if os.geteuid() != 0:
        pytest.skip("the server is not root here")
    answer = _call(engine, loop, hostile, {"do": "caps"})
    fields = dict(line.split(":\t", 1) for line in answer["status"].splitlines() if ":\t" in line)
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[name].strip(), 16) == 0, (name, fields[name])
    assert fields["NoNewPrivs"].strip() == "1"


def test_without_root_cgroups_are_refused_with_a_reason_and_landlock_still_confines() -> None:
    """The path a laptop user takes: no cgroup to make, Landlock unprivileged."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user for the test")
    from lambeam.runtime import landlock

    if landlock.abi() < 1:
        unavailable("no Landlock here")
    tmp_path = Path(tempfile.mkdtemp())  # pytest's own is not reachable by another user
    secret = tmp_path / "secret"
    secret.write_text("x")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok").write_text("ok")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        report: dict[str, Any] = {}
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            tree, reason = CgroupTree.create("nonroot-test")
            report["tree"] = tree is not None
            report["reason"] = reason
            probe = Isolation.probe("", reason, roots=[])
            report["user"] = probe.summary()
            report["warnings"] = list(probe.warnings)
            report["before"] = secret.read_text()
            landlock.restrict([str(allowed)], [], [])
            report["allowed"] = (allowed / "ok").read_text()
            try:
                secret.read_text()
                report["after"] = "read"
            except PermissionError:
                report["after"] = "denied"
            try:
                os.kill(os.getppid(), 0)
                report["signal"] = "sent"
            except PermissionError:
                report["signal"] = "denied"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            report["error"] = repr(exc)
        os.write(write_end, json.dumps(report).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read())
    shutil.rmtree(tmp_path)
    assert "error" not in report, report["error"]
    assert report["tree"] is False and "cgroup" in report["reason"]
    assert "not root" in report["user"]
    assert any("no cgroup for instances" in w for w in report["warnings"])
    assert report["before"] == "x" and report["allowed"] == "ok"
    assert report["after"] == "denied"
    assert report["signal"] == "denied"  # another uid; with ABI 6 also the Landlock scope


def test_isolation_off_says_so(tmp_path: Path, loop: LoopThread) -> None:
    engine = Engine(tmp_path / "state", isolation=False, preload=("json",))
    loop.run(engine.start(), timeout=60)
    try:
        assert engine.isolation.enabled is False
        assert "none" in engine.isolation.summary()
        assert engine.isolation.warnings
    finally:
        loop.run(engine.stop())


def test_the_server_environment_does_not_reach_an_instance(
    engine: Engine, loop: LoopThread, hostile: Any
) -> None:
    _isolated(engine)
    answer = _call(engine, loop, hostile, {"do": "read", "path": "/proc/self/environ"})
    assert answer["ok"] is True
    assert "PYTEST_CURRENT_TEST" in os.environ  # the server's (this process's) environment
    assert "PYTEST" not in answer["got"]


def test_a_handler_cannot_change_a_files_metadata_open_a_unix_socket_or_a_namespace(
    engine: Engine, loop: LoopThread, hostile: Any
) -> None:
    """What Landlock does not cover (found in review: uid 0 without capabilities still owns the
    project's files, so it could chmod the master key 0644 or make a binary setuid)."""
    isolation = _isolated(engine)
    if not isolation.seccomp:
        unavailable(f"no seccomp filter here: {isolation.summary()}")
    target = hostile.code_dir / "app.py"
    mode = target.stat().st_mode
    answer = _call(engine, loop, hostile, {"do": "metadata", "path": str(target)})
    for refused in ("chmod", "chown", "utime", "xattr", "unix_socket", "unshare"):
        assert answer[refused]["ok"] is False, (refused, answer[refused])
        assert "PermissionError" in answer[refused]["error"], (refused, answer[refused])
    assert target.stat().st_mode == mode
    for works in ("socketpair", "thread", "asyncio", "subprocess"):  # what handlers need
        assert answer[works]["ok"] is True, (works, answer[works])


def test_the_seccomp_program_matches_this_machines_system_call_numbers() -> None:
    """The filter's numbers against the kernel headers, where they are installed."""
    headers = {
        "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        "aarch64": Path("/usr/include/asm-generic/unistd.h"),
    }
    checked = 0
    for machine, header in headers.items():
        if not header.exists():
            continue
        known = {
            m.group(1): int(m.group(2))
            for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text())
        }
        for name, number in seccomp._TABLES[machine][1].items():
            if name in known:  # newer calls (fchmodat2, setxattrat) postdate some headers
                assert known[name] == number, (machine, name)
                checked += 1
        assert len(seccomp.program(machine)) > 60
    if not checked:
        pytest.skip("no kernel headers here")


def test_an_import_folder_holding_private_files_is_seen_without_them(tmp_path: Path) -> None:
    """A model function imports its custom steps from the project's root, where a database or
    artifact folder may be configured (found in review): the root is seen through a view that
    leaves out the state folder, the private paths and hidden files."""
    root = tmp_path / "proj"
    (root / ".lambeam").mkdir(parents=True)
    (root / "steps.py").write_text("VALUE = 'from steps'\n")
    (root / "meta.db").write_text("secret rows")
    (root / "meta.db-wal").write_text("secret pages")
    (root / ".env").write_text("TOKEN=secret")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, steps\n"
        "def handler(event, context):\n"
        "    folder = os.path.dirname(steps.__file__)\n"
        "    def read(name):\n"
        "        try:\n"
        "            return open(os.path.join(event['root'], name)).read()\n"
        "        except OSError as exc:\n"
        "            return type(exc).__name__\n"
        "    return {'steps': steps.VALUE, 'seen': sorted(os.listdir(folder)),\n"
        "            'db': read('meta.db'), 'wal': read('meta.db-wal'), 'env': read('.env')}\n"
    )
    loop = LoopThread()
    (root / "blobs").mkdir()
    settings = Settings(
        root=root,
        name="p",
        database_url=f"sqlite:///{root / 'meta.db'}",
        artifacts=str(root / "blobs"),
    )
    engine = Engine(root / ".lambeam", preload=("json",), private=settings.private_paths)
    try:
        loop.run(engine.start(), timeout=60)
        _isolated(engine)
        spec = FunctionSpec(name="steps", handler="app.handler", code_dir=code, python_path=(root,))
        answer = _call(engine, loop, spec, {"root": str(root)})
    finally:
        loop.run(engine.stop())
        loop.close()
    assert answer["steps"] == "from steps"
    assert answer["seen"] == ["steps.py"]
    assert answer["db"] == answer["wal"] == answer["env"] == "PermissionError"

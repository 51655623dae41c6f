"""Timeouts, memory limits and crashes kill only the instance; the next call gets a fresh one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambeam.runtime import (
    RUNTIME_EXIT_ERROR,
    RUNTIME_OUT_OF_MEMORY,
    SANDBOX_TIMEDOUT,
    Engine,
)
from tests.runtime.conftest import LoopThread, make_function, process_gone

MISBEHAVING = """
    import os, signal, sys, time

    def handler(event, context):
        what = event.get("do")
        if what == "sleep":
            print("going to sleep")
            time.sleep(event["seconds"])
        elif what == "allocate":
            hold = b"x" * (event["mb"] << 20)
            time.sleep(event.get("hold", 0))
            return {"pid": os.getpid(), "allocated": len(hold)}
        elif what == "exit":
            os._exit(event["status"])
        elif what == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif what == "sys.exit":
            sys.exit(event["status"])
        return {"pid": os.getpid()}
"""


@pytest.fixture(params=["isolated", "plain"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Limits hold with instance isolation (a cgroup enforces memory) and without (polling)."""
    name = "engine" if request.param == "isolated" else "plain_engine"
    found: Engine = request.getfixturevalue(name)
    return found


def test_past_its_timeout_an_instance_is_killed_and_replaced(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, MISBEHAVING, timeout_s=1.0)
    warm = json.loads(loop.run(engine.invoke(spec, b"{}")).payload)["pid"]
    result = loop.run(engine.invoke(spec, b'{"do": "sleep", "seconds": 30}'))
    assert result.function_error == "Unhandled"
    assert result.error_type == SANDBOX_TIMEDOUT
    doc = json.loads(result.payload)
    assert doc["errorType"] == SANDBOX_TIMEDOUT
    assert doc["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert result.instance_pid == warm
    assert f"{result.request_id} Task timed out after 1.00 seconds" in result.log_tail
    assert "going to sleep" in result.log_tail
    assert "Status: timeout" in result.log_tail
    assert process_gone(warm)
    after = loop.run(engine.invoke(spec, b"{}"))
    assert after.function_error is None
    assert json.loads(after.payload)["pid"] != warm
    assert after.init_ms is not None


def test_past_its_memory_limit_an_instance_is_killed_and_replaced(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, MISBEHAVING, memory_mb=128, timeout_s=20.0)
    result = loop.run(engine.invoke(spec, b'{"do": "allocate", "mb": 400, "hold": 5}'))
    assert result.error_type == RUNTIME_OUT_OF_MEMORY
    assert json.loads(result.payload)["errorType"] == RUNTIME_OUT_OF_MEMORY
    assert result.max_memory_mb >= 128  # a cgroup stops it at its limit; polling sees it past
    assert result.duration_ms < 5000  # killed before the handler let go of its memory
    assert process_gone(result.instance_pid or 0)
    after = loop.run(engine.invoke(spec, b"{}"))
    assert after.function_error is None and after.instance_pid != result.instance_pid


def test_a_short_spike_past_the_limit_is_caught_after_the_reply(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    # the handler returns at once, so the peak may fall between two polls: VmHWM still shows it
    spec = make_function(tmp_path, MISBEHAVING, memory_mb=128)
    result = loop.run(engine.invoke(spec, b'{"do": "allocate", "mb": 300}'))
    assert result.error_type == RUNTIME_OUT_OF_MEMORY


def test_memory_under_the_limit_is_reported_not_punished(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, MISBEHAVING, memory_mb=256)
    result = loop.run(engine.invoke(spec, b'{"do": "allocate", "mb": 60}'))
    assert result.function_error is None
    assert 60 <= result.max_memory_mb < 256
    assert f"Max Memory Used: {result.max_memory_mb} MB" in result.log_tail


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"do": "exit", "status": 3}, "Runtime exited with error: exit status 3"),
        ({"do": "segfault"}, "Runtime exited with error: signal: segmentation fault"),
        ({"do": "sys.exit", "status": 2}, "Runtime exited with error: exit status 2"),
    ],
)
def test_a_crash_is_an_exit_error_and_other_functions_carry_on(
    engine: Engine, loop: LoopThread, tmp_path: Path, event: dict[str, object], words: str
) -> None:
    crashing = make_function(tmp_path, MISBEHAVING)
    bystander = make_function(tmp_path, MISBEHAVING)
    bystander_pid = json.loads(loop.run(engine.invoke(bystander, b"{}")).payload)["pid"]

    result = loop.run(engine.invoke(crashing, json.dumps(event).encode()))
    assert result.function_error == "Unhandled"
    assert result.error_type == RUNTIME_EXIT_ERROR
    doc = json.loads(result.payload)
    assert doc == {
        "errorMessage": f"RequestId: {result.request_id} Error: {words}",
        "errorType": RUNTIME_EXIT_ERROR,
    }
    assert words in result.log_tail

    again = loop.run(engine.invoke(bystander, b"{}"))
    assert json.loads(again.payload)["pid"] == bystander_pid
    recovered = loop.run(engine.invoke(crashing, b"{}"))
    assert recovered.function_error is None and recovered.instance_pid != result.instance_pid


@pytest.mark.parametrize(
    ("module_code", "error_type"),
    [
        ("import time\ntime.sleep(30)\n", SANDBOX_TIMEDOUT),
        ("hold = b'x' * (300 << 20)\nimport time\ntime.sleep(5)\n", RUNTIME_OUT_OF_MEMORY),
    ],
)
def test_limits_hold_while_the_handler_loads(
    engine: Engine, loop: LoopThread, tmp_path: Path, module_code: str, error_type: str
) -> None:
    spec = make_function(
        tmp_path, module_code + "def handler(e, c):\n    return 1\n", timeout_s=1.0, memory_mb=128
    )
    result = loop.run(engine.invoke(spec, b"{}"))
    assert result.error_type == error_type
    assert result.init_ms is not None
    assert process_gone(result.instance_pid or 0)
    assert engine.instances(spec.name) == []


STALLS_MID_REPLY = """
    import os, socket, stat, struct, time

    def handler(event, context):
        # Start a reply frame on the instance's own connection (its one socket): a prefix that
        # promises a 100-byte header, which never comes.
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                is_socket = stat.S_ISSOCK(os.fstat(fd).st_mode)
            except OSError:
                continue
            if is_socket:
                os.write(fd, struct.pack("!II", 100, 0))
                break
        hold = b"x" * (event.get("mb", 0) << 20)
        time.sleep(60)
"""


def test_an_instance_that_stalls_in_the_middle_of_its_reply_times_out(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, STALLS_MID_REPLY, timeout_s=1.0)
    result = loop.run(engine.invoke(spec, b"{}"), timeout=30)
    assert result.error_type == SANDBOX_TIMEDOUT
    assert json.loads(result.payload)["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert process_gone(result.instance_pid or 0)


def test_an_instance_that_stalls_mid_reply_is_still_held_to_its_memory_limit(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, STALLS_MID_REPLY, memory_mb=128, timeout_s=20.0)
    result = loop.run(engine.invoke(spec, b'{"mb": 400}'), timeout=60)
    assert result.error_type == RUNTIME_OUT_OF_MEMORY
    assert result.duration_ms < 10000 and result.max_memory_mb >= 128
    assert process_gone(result.instance_pid or 0)


FORGES_A_REPLY = """
    import os, socket, struct, time

    def handler(event, context):
        if event.get("big"):
            return "x" * (7 * 1024 * 1024)  # past Lambda's 6 MB response
        for fd in range(3, 64):  # its socket to the engine
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                    break
            except OSError:
                continue
        sock = socket.socket(fileno=fd)
        sock.sendall(struct.pack("!II", 2, 200 * 1024 * 1024) + b"{}")
        chunk = b"y" * (1 << 20)
        for _ in range(200):
            sock.sendall(chunk)
        time.sleep(30)
"""


def test_a_reply_past_the_response_limit_is_never_read(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    """A handler that forges a 200 MB reply on its socket (or returns 7 MB) is stopped before
    the engine buffers it: its caller gets Function.ResponseSizeTooLarge."""
    spec = make_function(tmp_path, FORGES_A_REPLY, memory_mb=128, timeout_s=20.0)
    for event in (b"{}", b'{"big": true}'):
        result = loop.run(engine.invoke(spec, event), timeout=60)
        assert result.error_type == "Function.ResponseSizeTooLarge", result.payload
        assert "exceeded maximum allowed payload size" in json.loads(result.payload)["errorMessage"]
        assert process_gone(result.instance_pid or 0)

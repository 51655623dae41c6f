"""The engine outlives its zygote and the instances that die while idle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from lambeam.runtime import Engine
from lambeam.runtime.zygote_client import ZygoteClient
from tests.runtime.conftest import LoopThread, make_function, process_gone

PID = """
    import os

    def handler(event, context):
        return os.getpid()
"""


def test_an_instance_that_died_while_idle_is_replaced_not_reported(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, PID)
    first = loop.run(engine.invoke(spec, b"{}"))
    os.kill(json.loads(first.payload), signal.SIGKILL)
    assert process_gone(json.loads(first.payload))
    second = loop.run(engine.invoke(spec, b"{}"))
    assert second.function_error is None
    assert second.init_ms is not None and second.instance_pid != first.instance_pid


def test_a_call_that_lands_on_an_instance_that_just_died_is_sent_again(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    """The instance is dead but the zygote's report of it is not read yet: the request never
    reached a handler, so it goes to a fresh instance instead of failing with ExitError."""
    spec = make_function(tmp_path, PID)
    first = loop.run(engine.invoke(spec, b"{}"))
    pid = json.loads(first.payload)

    async def kill_then_invoke() -> object:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the loop is held: the exit report waits
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    if stat.read().split(") ", 1)[1][0] in "ZX":
                        break
            except (FileNotFoundError, ProcessLookupError):  # reaped meanwhile
                break
        return await engine.invoke(spec, b"{}")

    second = loop.run(kill_then_invoke())
    assert second.function_error is None, second.payload  # type: ignore[attr-defined]
    assert second.instance_pid != pid  # type: ignore[attr-defined]


def test_a_new_zygote_is_started_when_the_old_one_dies(loop: LoopThread, tmp_path: Path) -> None:
    engine = Engine(tmp_path / "state", preload=())
    loop.run(engine.start())
    try:
        spec = make_function(tmp_path, PID)
        first = loop.run(engine.invoke(spec, b"{}"))
        old_zygote = engine.zygote_pid
        assert old_zygote is not None
        os.kill(old_zygote, signal.SIGKILL)
        assert process_gone(old_zygote)
        assert process_gone(first.instance_pid or 0)  # instances die with their zygote
        second = loop.run(engine.invoke(spec, b"{}"))
        assert second.function_error is None, second.payload
        assert engine.zygote_pid not in (None, old_zygote)
        assert second.instance_pid != first.instance_pid
    finally:
        loop.run(engine.stop())


def test_a_cold_start_takes_the_spare_and_a_new_spare_is_forked(
    loop: LoopThread, tmp_path: Path
) -> None:
    engine = Engine(tmp_path / "state", preload=())
    loop.run(engine.start())
    try:
        deadline = time.monotonic() + 30
        while engine._spare is None and time.monotonic() < deadline:
            time.sleep(0.01)
        spare = engine._spare
        assert spare is not None  # forked in the background as the engine started
        first = loop.run(engine.invoke(make_function(tmp_path, PID), b"{}"))
        assert first.function_error is None and first.instance_pid == spare.pid
        while engine._spare is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine._spare is not None and engine._spare.pid != spare.pid
        # A spare that died is never handed out: the next cold start forks afresh.
        dead = engine._spare.pid
        os.kill(dead, signal.SIGKILL)
        assert process_gone(dead)
        second = loop.run(engine.invoke(make_function(tmp_path, PID), b"{}"))
        assert second.function_error is None and second.instance_pid != dead
    finally:
        loop.run(engine.stop())
    assert engine._spare is None


def test_a_zygote_stopped_while_it_imports_is_killed_not_waited_for(
    loop: LoopThread, tmp_path: Path
) -> None:
    """A server stopped during its start must not wait out the zygote's imports (it waited for
    them to end and the zygote to see its closed control socket, seconds on a laptop)."""
    started = tmp_path / "importing"
    (tmp_path / "slow_import.py").write_text(
        "import os, pathlib, time\n"
        f"pathlib.Path({str(started)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(3)\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(tmp_path)}
    client = ZygoteClient(preload=("slow_import",), environ=environ)

    async def start_then_stop() -> int | None:
        starting = asyncio.ensure_future(client.start())
        while not started.exists():
            await asyncio.sleep(0.02)
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        process = client._process
        await client.stop()
        return None if process is None else process.returncode

    # Killed at once: had it been waited for, it would have ended its import and exited itself.
    assert loop.run(start_then_stop()) == -signal.SIGKILL
    assert process_gone(int(started.read_text()))

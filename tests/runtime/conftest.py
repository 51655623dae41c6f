"""Real engines with real zygotes, driven from a background event loop.

One event loop thread per session lets every test share one engine (one zygote start), while
each test stays a plain synchronous function.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lambeam.runtime import Engine, FileLogSink, FunctionSpec

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a thread; `run` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 90.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-state")


@pytest.fixture(scope="session")
def engine(loop: LoopThread, state_dir: Path) -> Iterator[Engine]:
    """An engine with the default preload (numpy, pandas, scikit-learn, ONNX Runtime)."""
    eng = Engine(state_dir, FileLogSink(state_dir / "logs"))
    loop.run(eng.start(), timeout=180)
    yield eng
    loop.run(eng.stop())


@pytest.fixture(scope="session")
def plain_engine(loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine without instance isolation (what a host without Landlock or cgroups gives)."""
    state = tmp_path_factory.mktemp("runtime-plain")
    eng = Engine(state, FileLogSink(state / "logs"), isolation=False)
    loop.run(eng.start(), timeout=180)
    yield eng
    loop.run(eng.stop())


def make_function(root: Path, source: str, **spec: Any) -> FunctionSpec:
    """A code directory holding `app.py` with `source`, and a spec for it with a unique name."""
    name = spec.pop("name", None) or f"fn-{uuid.uuid4().hex[:10]}"
    code_dir = root / name
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(textwrap.dedent(source))
    return FunctionSpec(
        name=name, handler=spec.pop("handler", "app.handler"), code_dir=code_dir, **spec
    )


def process_gone(pid: int, within_s: float = 10.0) -> bool:
    """True once `pid` no longer exists (its parent, the zygote, reaps it)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False

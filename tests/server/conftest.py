"""A real gateway: uvicorn on a free loopback port, serving a project on SQLite and a folder."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import uvicorn

from lambeam.config import EventTimings
from lambeam.project import Project
from lambeam.runtime import Engine
from lambeam.security import AccessKey, create_access_key
from lambeam.server import create_app
from tests.conftest import make_project
from tests.services import free_port


@dataclass
class RunningServer:
    """A gateway running in a thread, the project it serves, and an admin key for it."""

    url: str
    project: Project
    key: AccessKey
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key.id}:{self.key.secret}"}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def start_server(
    root: Path,
    engine: Callable[[Project], Engine] | None = None,
    *,
    database_url: str | None = None,
    events: EventTimings | None = None,
    s3_endpoint_url: str | None = None,
    artifacts: str | None = None,
) -> RunningServer:
    """Start a gateway for a fresh project under `root` (with the engine `engine` makes for it,
    or the default one; on `database_url`, SQLite under `root` by default; with `events`
    timings, e.g. short retry delays; with `s3_endpoint_url`, e.g. moto's; on `artifacts`, a
    store another server shares, a folder under `root` by default); waits (bounded) until it
    listens."""
    project = make_project(root, database_url, artifacts=artifacts)
    if events is not None:
        project.settings = replace(project.settings, events=events)
    if s3_endpoint_url is not None:
        project.settings = replace(project.settings, s3_endpoint_url=s3_endpoint_url)
    key = create_access_key(project.db, "tests")
    port = free_port()
    app = create_app(project, engine(project) if engine is not None else None)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180  # the zygote imports numpy, pandas, sklearn, onnxruntime
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    return RunningServer(f"http://127.0.0.1:{port}", project, key, server, thread)


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("gateway")) / "proj")
    yield running
    running.stop()
    running.project.close()


def zip_of(files: dict[str, str]) -> bytes:
    """A zip holding `files` (name → text), as a user would upload."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()

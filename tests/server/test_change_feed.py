"""A running server follows changes made elsewhere (the CLI, `lambeam apply`, another server):
the audit log is the feed. `lambeam functions rm` left the server's warm instances running until
it restarted, and a configuration changed by the CLI was not seen while the server's lookups
were cached."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambeam.functions import delete_function, get_function, update_function_configuration
from lambeam.project import Project
from lambeam.runtime import Engine
from tests.runtime.conftest import process_gone
from tests.server.conftest import RunningServer, start_server, zip_of

APP = "import os\n\ndef handler(event, context):\n    return [os.getpid(), os.environ.get('GREETING')]\n"


def _invoke(server: RunningServer, name: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.url}/v1/functions/{name}/invoke", data=b"{}", headers=server.bearer
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _create(server: RunningServer, name: str) -> None:
    body = {
        "name": name,
        "code": base64.b64encode(zip_of({"app.py": APP})).decode(),
        "config": {"handler": "app.handler", "environment": {"GREETING": "hello"}},
    }
    request = urllib.request.Request(
        f"{server.url}/v1/functions",
        data=json.dumps(body).encode(),
        headers={**server.bearer, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 201


def test_changes_made_by_another_process_reach_the_running_server(tmp_path: Path) -> None:
    engines: list[Engine] = []

    def engine(project: Project) -> Engine:
        made = Engine(project.settings.state_dir, preload=("json",))
        engines.append(made)
        return made

    server = start_server(tmp_path / "proj", engine)
    try:
        _create(server, "hello")
        status, (pid, greeting) = _invoke(server, "hello")
        assert (status, greeting) == (200, "hello")
        db = server.project.db
        # What `lambeam deploy`/`apply` does from its own process: the service, not the server.
        config = replace(get_function(db, "hello").config, environment={"GREETING": "hi"})
        update_function_configuration(db, "hello", config, store=server.project.store)
        deadline = time.monotonic() + 10
        while _invoke(server, "hello")[1][1] != "hi" and time.monotonic() < deadline:
            time.sleep(0.2)
        status, (pid, greeting) = _invoke(server, "hello")
        assert (status, greeting) == (200, "hi")
        # `lambeam functions rm`: the server lets go of the warm instance within the feed's second.
        delete_function(db, "hello")
        assert process_gone(pid, within_s=10)
        assert engines[0].instances("hello") == []
        assert _invoke(server, "hello")[0] == 404
    finally:
        server.stop()
        server.project.close()

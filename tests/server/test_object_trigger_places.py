"""Object triggers through a running server (review finding 2 of issue 13): a trigger on the
project's private paths or outside its root is refused with a clear 400, and keys are
authorized on the resolved place (arn:lambeam:folder:::/REAL/PATH for a folder,
arn:aws:s3:::BUCKET for s3://), the same for create, get and delete."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lambeam.security import AccessKey
from lambeam.storage.schema import InvocationRow
from tests.server.conftest import RunningServer, start_server
from tests.server.keyed import arn, code_function, key_with, rest_call

_PUT, _GET = "s3:PutBucketNotification", "s3:GetBucketNotification"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("places")) / "proj")
    yield running
    running.stop()
    running.project.close()


def _as(
    server: RunningServer, key: AccessKey | None, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """The REST call as `key` (None: the server's admin key)."""
    bearer = server.bearer["Authorization"] if key is None else f"Bearer {key.id}:{key.secret}"
    return rest_call(server, (method, path, body), bearer)


def test_private_and_outside_folders_are_refused(server: RunningServer, tmp_path: Path) -> None:
    function = code_function(server)
    root = server.project.settings.root
    (root / "escape").symlink_to(tmp_path)
    for location, says in (
        (".lambeam", "private"),
        (str(server.project.settings.state_dir / "lambeam.db"), "private"),
        ("escape", "only watch a folder under"),
        (str(tmp_path), "only watch a folder under"),
        ("/proc/self/root", "only watch a folder under"),
    ):
        status, body = _as(
            server,
            None,
            "POST",
            "/v1/object-triggers",
            {"function": function, "location": location},
        )
        assert status == 400, (location, body)
        assert says in body["error"]["message"], (location, body)
    status, body = _as(
        server, None, "POST", "/v1/object-triggers", {"function": function, "location": "inbox"}
    )
    assert status == 201 and body["location"] == str((root / "inbox").resolve())


def test_keys_are_authorized_on_the_resolved_place(server: RunningServer) -> None:
    function = code_function(server)
    root = server.project.settings.root.resolve()
    (root / "mine").mkdir()
    (root / "theirs").mkdir()
    (root / "to-theirs").symlink_to(root / "theirs")
    mine = f"arn:lambeam:folder:::{root}/mine"
    key = key_with(
        server,
        {"Effect": "Allow", "Action": [_PUT, _GET], "Resource": mine},
        {"Effect": "Allow", "Action": [_PUT, _GET], "Resource": "arn:aws:s3:::*"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(function)},
    )
    create = "POST", "/v1/object-triggers"

    # Each new object invokes the function: a function the key may not invoke is refused.
    someone_elses = code_function(server)
    refused = _as(server, key, *create, {"function": someone_elses, "location": "mine"})
    assert refused[0] == 403 and "lambda:InvokeFunction" in str(refused[1]), refused

    # A link named like an allowed folder is authorized as where it leads.
    assert _as(server, key, *create, {"function": function, "location": "to-theirs"})[0] == 403
    assert _as(server, key, *create, {"function": function, "location": "theirs"})[0] == 403
    # Bucket grants reach no folder (/proc/self/root was "bucket root").
    assert (
        _as(server, key, *create, {"function": function, "location": "/proc/self/root"})[0] == 403
    )
    status, made = _as(server, key, *create, {"function": function, "location": "mine"})
    assert status == 201, made

    # The admin's trigger on another folder: the key may neither read nor delete it.
    status, other = _as(server, None, *create, {"function": function, "location": "theirs"})
    assert status == 201, other
    assert _as(server, key, "GET", f"/v1/object-triggers/{other['id']}")[0] == 403
    assert _as(server, key, "DELETE", f"/v1/object-triggers/{other['id']}")[0] == 403
    assert _as(server, key, "GET", f"/v1/object-triggers/{made['id']}")[0] == 200
    assert _as(server, key, "DELETE", f"/v1/object-triggers/{made['id']}")[0] == 204


def test_a_fifo_and_links_in_a_folder_hold_back_no_trigger(
    server: RunningServer, tmp_path: Path
) -> None:
    function = code_function(server)
    root = server.project.settings.root
    odd, plain = root / "odd", root / "plain"
    odd.mkdir()
    plain.mkdir()
    os.mkfifo(odd / "pipe.csv")
    for folder in (odd, plain):
        status, body = _as(
            server,
            None,
            "POST",
            "/v1/object-triggers",
            {"function": function, "location": folder.name, "suffix": ".csv"},
        )
        assert status == 201, body
    (tmp_path / "secret.csv").write_text("outside\n")
    (odd / "link.csv").symlink_to(tmp_path / "secret.csv")
    (odd / "zero.csv").symlink_to("/dev/zero")
    (odd / "a.csv").write_text("a\n")
    (plain / "b.csv").write_text("b\n")
    keys = _fired(server, function, 2)
    assert keys == ["a.csv", "b.csv"]


def _fired(server: RunningServer, function: str, count: int) -> list[str]:
    """The object keys of `function`'s invocations, once `count` have succeeded (a bounded
    wait: the watcher polls every second)."""
    deadline = time.monotonic() + 120
    while True:
        with server.project.db.session() as session:
            rows = list(
                session.scalars(
                    select(InvocationRow).where(
                        InvocationRow.function == function, InvocationRow.status == "succeeded"
                    )
                )
            )
            session.expunge_all()
        if len(rows) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return sorted(
        json.loads(row.result or b"{}")["got"]["Records"][0]["s3"]["object"]["key"] for row in rows
    )

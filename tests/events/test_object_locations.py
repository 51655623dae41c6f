"""Where object triggers may look (review finding 2 of issue 13): only folders under the project
root, never its private paths (.lambeam, the database, the artifact folder), symlinks resolved;
refused when created (API and lambeam.toml), skipped by a scan when stored before. The listing
reads only regular files (no links out of the folder, no FIFO that blocks, no device) within a
time budget."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.object_listing import list_objects_within
from lambeam.events.object_locations import FolderRules, location_arn
from lambeam.events.objects import (
    create_object_trigger,
    get_object_trigger,
    normalized_location,
    scan,
)
from lambeam.events.queue import MessageQueue
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from lambeam.storage.database import utcnow
from lambeam.storage.schema import ObjectTriggerRow
from tests.conftest import make_project


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Project]:
    """A project whose artifacts live in a plain (not dot-named) folder of its root."""
    root = tmp_path / "proj"
    project = make_project(root, None, artifacts=str(root / "store"))
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(project.db, project.store, "ingest", config, CodeBundle.from_zip(_zip()))
    yield project
    project.close()


def _create(proj: Project, location: str) -> str:
    return create_object_trigger(proj.db, "ingest", location, settings=proj.settings).location


def _stored(proj: Project, location: str, baseline_done: bool = True) -> str:
    """A trigger row as an older lambeam (or lambeam.toml) stored it, unchecked."""
    now = utcnow()
    row_id = str(uuid.uuid4())
    with proj.db.session() as session:
        session.add(
            ObjectTriggerRow(
                id=row_id,
                function="ingest",
                qualifier=None,
                location=location,
                suffix="",
                baseline_done=baseline_done,
                origin="api",
                created_at=now,
                updated_at=now,
            )
        )
    return row_id


def test_private_paths_and_folders_outside_the_root_are_refused(
    proj: Project, tmp_path: Path
) -> None:
    root = proj.settings.root
    state = proj.settings.state_dir
    (root / "store").mkdir(exist_ok=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "state").symlink_to(state)
    refused = {
        ".lambeam": "private",
        str(state): "private",
        ".lambeam/logs": "private",
        str(state / "lambeam.db"): "private",
        "store": "private",  # the artifact folder
        "store/sub": "private",
        "state": "private",  # a link to .lambeam, resolved
        "escape": "only watch a folder under",
        "escape/deeper": "only watch a folder under",
        str(outside): "only watch a folder under",
        "..": "only watch a folder under",
        "/proc/self/root": "only watch a folder under",  # / by another name
        "file:///etc": "only watch a folder under",
    }
    for location, says in refused.items():
        with pytest.raises(ConfigError, match=says):
            _create(proj, location)
    # The project's root and its plain folders may be watched.
    assert _create(proj, ".") == str(root.resolve())
    assert _create(proj, "incoming") == str((root / "incoming").resolve())


def test_lambeam_toml_folders_are_relative_plain_folders_of_the_project() -> None:
    for location in (".lambeam", ".lambeam/logs", "data/.hidden", "../outside", "/etc", "a/../.."):
        with pytest.raises(ConfigError, match="relative to its root"):
            normalized_location(location, None)
    assert normalized_location("data/in", None) == "data/in"


def test_a_trigger_stored_before_is_skipped_by_the_scan(proj: Project, tmp_path: Path) -> None:
    queue = MessageQueue(proj.db)
    (proj.settings.state_dir / "new.txt").write_text("would leak")
    for location in (".lambeam", str(proj.settings.state_dir), str(tmp_path), "/proc/self/root"):
        trigger = get_object_trigger(proj.db, _stored(proj, location))
        with pytest.raises(ConfigError):
            scan(queue, trigger, {}, settings=proj.settings)
    assert queue.receive(ASYNC_QUEUE, 10, 30) == []


def test_watching_the_root_leaves_private_paths_and_dot_names_out(proj: Project) -> None:
    root = proj.settings.root
    (root / "store").mkdir(exist_ok=True)
    (root / "store" / "model.bin").write_bytes(b"secret weights")
    (root / "data.csv").write_text("1\n")
    trigger = get_object_trigger(proj.db, _stored(proj, str(root), baseline_done=False))
    queue = MessageQueue(proj.db)
    assert scan(queue, trigger, {}, settings=proj.settings) == []  # the baseline
    (root / "store" / "model2.bin").write_bytes(b"more")
    (proj.settings.state_dir / "another.txt").write_text("state")
    (root / "new.csv").write_text("2\n")
    assert len(scan(queue, trigger, {}, settings=proj.settings)) == 1
    keys = [
        json.loads(m.body)["Records"][0]["s3"]["object"]["key"]
        for m in queue.receive(ASYNC_QUEUE, 10, 30)
    ]
    assert keys == ["new.csv"]


def test_links_fifos_and_devices_are_not_objects(tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    (folder / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the folder")
    (tmp_path / "secret-dir").mkdir()
    (tmp_path / "secret-dir" / "inner.txt").write_text("outside too")
    (folder / "link.txt").symlink_to(secret)
    (folder / "linked-dir").symlink_to(tmp_path / "secret-dir")
    (folder / "zero").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe")
    os.mkfifo(folder / "sub" / "pipe.csv")
    (folder / "sub" / "real.csv").write_text("a,b\n")

    found: list = []
    thread = threading.Thread(
        target=lambda: found.append(list_objects_within(str(folder), {})), daemon=True
    )
    thread.start()
    thread.join(120)  # bounded: a FIFO opened for reading would wait for a writer forever
    assert not thread.is_alive(), "the listing hung on a FIFO or a device"
    (listing,) = found
    assert listing.complete
    assert [(o.key, o.etag) for o in listing.objects] == [
        ("sub/real.csv", hashlib.md5(b"a,b\n").hexdigest())
    ]


def test_a_listing_reads_new_files_within_its_budget(proj: Project) -> None:
    folder = proj.settings.root / "incoming"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.csv").write_text(f"{i}\n")
    digests: dict[tuple[str, int, int], str] = {}
    spent = list_objects_within(str(folder), {}, digests, budget_s=0)
    assert not spent.complete and spent.objects == []  # nothing read: left for the next one
    assert len(list_objects_within(str(folder), {}, digests).objects) == 3
    again = list_objects_within(str(folder), {}, digests, budget_s=0)
    assert again.complete and len(again.objects) == 3  # read already: listed at once

    # A baseline cut short by the budget is finished by a later scan: nothing there fires.
    trigger = get_object_trigger(proj.db, _stored(proj, "incoming", baseline_done=False))
    queue = MessageQueue(proj.db)
    assert scan(queue, trigger, {}, settings=proj.settings, budget_s=0) == []
    assert scan(queue, trigger, {}, settings=proj.settings) == []
    (folder / "new.csv").write_text("new\n")
    assert len(scan(queue, trigger, {}, settings=proj.settings)) == 1


def test_authorization_names_the_resolved_location(proj: Project, tmp_path: Path) -> None:
    root = proj.settings.root
    (root / "in").mkdir()
    (root / "alias").symlink_to(root / "in")
    real = (root / "in").resolve().as_posix()
    assert location_arn("alias", root) == location_arn(str(root / "in"), root)
    assert location_arn("alias", root) == f"arn:lambeam:folder:::{real}"
    assert location_arn("/proc/self/root", root) == "arn:lambeam:folder:::/"
    assert location_arn("s3://raw/in/x/", root) == "arn:aws:s3:::raw"
    rules = FolderRules.from_settings(proj.settings)
    assert rules.check(root / "alias") == Path(real)
    created = create_object_trigger(proj.db, "ingest", "alias", settings=proj.settings)
    assert created.resource(root) == f"arn:lambeam:folder:::{real}"

"""Object-created triggers on SQLite and PostgreSQL, on a local folder and on moto's S3: the
baseline never fires, each new object version fires once, a second scanner finds nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.errors import ConfigError, FunctionNotFoundError, ObjectTriggerNotFoundError
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.objects import (
    create_object_trigger,
    delete_object_trigger,
    get_object_trigger,
    list_object_triggers,
    object_storage_options,
    scan,
)
from lambeam.events.queue import MessageQueue
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from tests.conftest import make_project
from tests.services import S3Server


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def proj(tmp_path: Path, database_url: str) -> Iterator[Project]:
    project = make_project(tmp_path / "proj", database_url)
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(project.db, project.store, "ingest", config, CodeBundle.from_zip(_zip()))
    yield project
    project.close()


def _events(queue: MessageQueue) -> list[dict]:
    messages = queue.receive(ASYNC_QUEUE, 100, 30)
    queue.delete([m.receipt for m in messages])
    return [json.loads(m.body)["Records"][0] for m in messages]


def test_a_local_folder_fires_each_new_object_version_once(proj: Project) -> None:
    folder = proj.settings.root / "incoming"
    (folder / "old").mkdir(parents=True)
    (folder / "old" / "before.csv").write_text("a\n")
    trigger = create_object_trigger(
        proj.db, "ingest", str(folder), suffix=".csv", settings=proj.settings
    )
    assert trigger.bucket == "incoming" and trigger.location == str(folder.resolve())
    queue = MessageQueue(proj.db)
    assert scan(queue, trigger, {}) == []  # the baseline never fires

    (folder / "new file.csv").write_text("x,y\n1,2\n")
    (folder / "notes.txt").write_text("not a csv")
    (folder / ".partial.csv").write_text("being written")
    assert len(scan(queue, trigger, {})) == 1
    assert scan(queue, trigger, {}) == []  # once
    (event,) = _events(queue)
    assert event["eventVersion"] == "2.1" and event["eventSource"] == "aws:s3"
    assert event["eventName"] == "ObjectCreated:Put" and event["awsRegion"] == "us-east-1"
    s3 = event["s3"]
    assert s3["configurationId"] == trigger.id
    assert s3["bucket"] == {
        "name": "incoming",
        "ownerIdentity": {"principalId": "lambeam"},
        "arn": "arn:aws:s3:::incoming",
    }
    assert s3["object"]["key"] == "new+file.csv"  # URL-encoded as S3 encodes keys
    assert s3["object"]["size"] == 8
    assert s3["object"]["eTag"] == hashlib.md5(b"x,y\n1,2\n").hexdigest()
    assert {"userIdentity", "requestParameters", "responseElements", "eventTime"} <= set(event)

    (folder / "new file.csv").write_text("x,y\n3,4\n")  # a new version fires again
    assert len(scan(queue, trigger, {})) == 1
    # The same trigger asked for again is the same trigger; another server's scan fires nothing.
    again = create_object_trigger(
        proj.db, "ingest", str(folder), suffix=".csv", settings=proj.settings
    )
    assert again.id == trigger.id
    assert scan(MessageQueue(proj.db), again, {}) == []


def test_an_s3_prefix_fires_once_per_object(
    proj: Project, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="raw/old.csv", Body=b"old")
    options = object_storage_options(type("S", (), {"s3_endpoint_url": s3_server.endpoint_url}))
    trigger = create_object_trigger(
        proj.db,
        "ingest",
        f"s3://{bucket}/raw",
        suffix=".csv",
        settings=proj.settings,
        storage_options=options,
    )
    assert trigger.location == f"s3://{bucket}/raw/" and trigger.bucket == bucket
    queue = MessageQueue(proj.db)
    assert scan(queue, trigger, options) == []
    client.put_object(Bucket=bucket, Key="raw/day=1/a b.csv", Body=b"hello")
    client.put_object(Bucket=bucket, Key="other/b.csv", Body=b"elsewhere")
    assert len(scan(queue, trigger, options)) == 1
    assert scan(queue, trigger, options) == []
    (event,) = _events(queue)
    obj = event["s3"]["object"]
    assert event["s3"]["bucket"]["name"] == bucket
    assert obj["key"] == "raw/day%3D1/a+b.csv"
    assert obj["size"] == 5 and obj["eTag"] == hashlib.md5(b"hello").hexdigest()


def test_triggers_are_listed_and_deleted(proj: Project) -> None:
    root = proj.settings.root
    trigger = create_object_trigger(proj.db, "ingest", "data", settings=proj.settings)
    assert trigger.location == str((root / "data").resolve())
    assert [t.id for t in list_object_triggers(proj.db, "ingest")] == [trigger.id]
    assert get_object_trigger(proj.db, trigger.id) == trigger
    delete_object_trigger(proj.db, trigger.id)
    with pytest.raises(ObjectTriggerNotFoundError):
        delete_object_trigger(proj.db, trigger.id)
    with pytest.raises(FunctionNotFoundError):
        create_object_trigger(proj.db, "nobody", str(root), settings=proj.settings)
    with pytest.raises(ConfigError):
        create_object_trigger(proj.db, "ingest", "gs://bucket/x/", settings=proj.settings)

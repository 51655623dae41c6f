"""Topics and object triggers against a running server: a publish reaches every subscriber on
its own (one that always fails holds back nobody), an object written to a folder or to moto's S3
fires once and not again after a restart, and one five-line handler reads AWS's documented SNS
and S3 events (tests/events/fixtures) as it reads lambeam's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lambeam.config import EventTimings
from lambeam.events.queue import MessageQueue
from lambeam.events.queues import create_queue
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from lambeam.storage.schema import InvocationRow
from tests.server.conftest import RunningServer, start_server, zip_of
from tests.server.keyed import rest_call
from tests.services import S3Server

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "fixtures"
# The five-line handler: the same code reads AWS's example events and lambeam's.
HANDLER = """\
from urllib.parse import unquote_plus
def handler(event, context):
    sns = [r["Sns"]["Message"] for r in event["Records"] if r.get("EventSource") == "aws:sns"]
    s3 = [unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"] if r.get("eventSource") == "aws:s3"]
    return {"messages": sns, "keys": s3}
"""
FAILING = "def handler(event, context):\n    raise RuntimeError('always fails')\n"
FAST = EventTimings((0.2, 0.4), 0.05)


def _function(project: Project, name: str, code: str = HANDLER) -> None:
    config = FunctionConfig(kind="code", handler="app.handler")
    bundle = CodeBundle.from_zip(zip_of({"app.py": code}))
    create_function(project.db, project.store, name, config, bundle)


def _rest(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return rest_call(server, (method, path, body), server.bearer["Authorization"])


def _done(project: Project, function: str, count: int) -> list[InvocationRow]:
    """`function`'s asynchronous invocations once `count` of them are final (bounded wait)."""
    deadline = time.monotonic() + 120
    while True:
        with project.db.session() as session:
            rows = list(
                session.scalars(select(InvocationRow).where(InvocationRow.function == function))
            )
            session.expunge_all()
        if sum(r.status in ("succeeded", "failed") for r in rows) >= count:
            return rows
        assert time.monotonic() < deadline, [(r.status, r.attempts) for r in rows]
        time.sleep(0.05)


def _results(rows: list[InvocationRow]) -> list[Any]:
    return [json.loads(r.result or b"null") for r in rows if r.status == "succeeded"]


def test_the_handler_reads_awss_documented_events() -> None:
    namespace: dict[str, Any] = {}
    exec(HANDLER, namespace)  # the handler under test, as a function gets it
    sns = json.loads((FIXTURES / "sns.json").read_text())
    s3 = json.loads((FIXTURES / "s3.json").read_text())
    assert namespace["handler"](sns, None) == {"messages": ["Hello from SNS!"], "keys": []}
    assert namespace["handler"](s3, None) == {"messages": [], "keys": ["test/key"]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "proj", events=FAST)
    yield running
    running.stop()
    running.project.close()


def test_a_failing_subscriber_holds_back_no_other(server: RunningServer) -> None:
    project = server.project
    for name in ("first", "second"):
        _function(project, name)
    _function(project, "broken", FAILING)
    create_queue(project.db, "inbox")
    assert _rest(server, "POST", "/v1/topics", {"name": "alerts"})[0] == 201
    assert _rest(server, "POST", "/v1/topics", {"name": "alerts"})[0] == 200
    for protocol, endpoint in [
        ("lambda", "first"),
        ("lambda", "broken"),
        ("lambda", "arn:aws:lambda:us-east-1:000000000000:function:second"),
        ("sqs", "inbox"),
    ]:
        status, body = _rest(
            server,
            "POST",
            "/v1/topics/alerts/subscriptions",
            {"protocol": protocol, "endpoint": endpoint},
        )
        assert status == 201, body
    status, listed = _rest(server, "GET", "/v1/topics/alerts/subscriptions")
    assert status == 200 and len(listed["subscriptions"]) == 4

    status, body = _rest(
        server, "POST", "/v1/topics/alerts/publish", {"message": "disk full", "subject": "ops"}
    )
    assert status == 200, body
    message_id = body["message_id"]

    for name in ("first", "second"):
        (row,) = _done(project, name, 1)
        assert row.status == "succeeded" and row.source == "sns" and row.attempts == 1
        assert _results([row]) == [{"messages": ["disk full"], "keys": []}]
    (delivered,) = MessageQueue(project.db).receive("inbox", 10, 30)
    envelope = json.loads(delivered.body)
    assert (envelope["Type"], envelope["MessageId"]) == ("Notification", message_id)
    assert (envelope["Message"], envelope["Subject"]) == ("disk full", "ops")
    (failed,) = _done(project, "broken", 1)
    assert failed.status == "failed" and failed.attempts == 3  # 1 + MaximumRetryAttempts

    status, body = _rest(server, "POST", "/v1/topics/nowhere/publish", {"message": "x"})
    assert status == 404 and body["error"]["type"] == "TopicNotFoundError"
    sub_id = listed["subscriptions"][0]["id"]
    assert _rest(server, "DELETE", f"/v1/topics/alerts/subscriptions/{sub_id}")[0] == 204
    assert _rest(server, "DELETE", "/v1/topics/alerts")[0] == 204
    assert _rest(server, "GET", "/v1/topics")[1] == {"topics": []}


def test_objects_fire_once_also_after_a_restart(tmp_path: Path, s3_server: S3Server) -> None:
    root = tmp_path / "proj"
    folder = root / "incoming"  # a trigger watches folders of its project only
    folder.mkdir(parents=True)
    (folder / "before.csv").write_text("there before the trigger\n")
    bucket = s3_server.bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="raw/before.csv", Body=b"old")
    server = start_server(root, events=FAST, s3_endpoint_url=s3_server.endpoint_url)
    try:
        _function(server.project, "ingest")
        for location in (str(folder), f"s3://{bucket}/raw/"):
            status, body = _rest(
                server,
                "POST",
                "/v1/object-triggers",
                {"function": "ingest", "location": location, "suffix": ".csv"},
            )
            assert status == 201, body
        assert len(_rest(server, "GET", "/v1/object-triggers")[1]["object_triggers"]) == 2
        (folder / "day 1.csv").write_text("a,b\n")
        client.put_object(Bucket=bucket, Key="raw/day 1.csv", Body=b"a,b\n")
        client.put_object(Bucket=bucket, Key="raw/skipped.txt", Body=b"not a csv")
        rows = _done(server.project, "ingest", 2)
        assert sorted(r["keys"][0] for r in _results(rows)) == ["day 1.csv", "raw/day 1.csv"]
    finally:
        server.stop()
        server.project.close()

    again = start_server(root, events=FAST, s3_endpoint_url=s3_server.endpoint_url)
    try:
        (folder / "day 2.csv").write_text("c,d\n")
        client.put_object(Bucket=bucket, Key="raw/day 2.csv", Body=b"c,d\n")
        rows = _done(again.project, "ingest", 4)  # both watchers have scanned since the restart
        # A second firing of day 1 would have been written in that scan or before it.
        assert len(rows) == 4
        keys = sorted(r["keys"][0] for r in _results(rows))
        assert keys == ["day 1.csv", "day 2.csv", "raw/day 1.csv", "raw/day 2.csv"]
        assert {r.source for r in rows} == {"s3"}
    finally:
        again.stop()
        again.project.close()

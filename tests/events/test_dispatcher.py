"""The async dispatcher against a running server: retries, destinations, throttles, reserved
concurrency 0, on SQLite and PostgreSQL, through an unmodified boto3 `lambda` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import select

from lambeam.config import EventTimings
from lambeam.events.invoke_config import put_event_invoke_config
from lambeam.events.queue import MessageQueue
from lambeam.events.queues import create_queue, queue_arn
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.storage.schema import InvocationRow
from tests.server.conftest import RunningServer, start_server, zip_of

HANDLER = """\
import time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("always fails: " + str(event["n"]))
    return {"done": event.get("n")}
"""
_BOTO = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
FAST = EventTimings(retry_delays_s=(0.2, 0.4), poll_interval_s=0.05)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "proj", database_url=database_url, events=FAST)
    yield running
    running.stop()
    running.project.close()


def _client(server: RunningServer) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.key.id,
        aws_secret_access_key=server.key.secret,
        config=_BOTO,
    )


def _function(server: RunningServer, name: str, **config: Any) -> None:
    project = server.project
    create_function(
        project.db,
        project.store,
        name,
        FunctionConfig(kind="code", handler="app.handler", timeout_s=5, **config),
        code=CodeBundle.from_zip(zip_of({"app.py": HANDLER})),
    )


def _invoke_config(server: RunningServer, name: str, retries: int, **destinations: str) -> None:
    """The function's event invoke config (PutFunctionEventInvokeConfig)."""
    put_event_invoke_config(server.project.db, name, maximum_retry_attempts=retries, **destinations)


def _accept(server: RunningServer, name: str, event: dict[str, Any]) -> str:
    answer = _client(server).invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    assert answer["StatusCode"] == 202
    request_id: str = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    return request_id


def _rows(server: RunningServer, ids: list[str], wait_s: float = 60) -> dict[str, InvocationRow]:
    """The invocations rows of `ids` once every one is final (bounded wait)."""
    deadline = time.monotonic() + wait_s
    while True:
        with server.project.db.session() as session:
            rows = {
                r.request_id: r
                for r in session.scalars(
                    select(InvocationRow).where(InvocationRow.request_id.in_(ids))
                )
            }
            session.expunge_all()
        if all(rows[i].status in ("succeeded", "failed") for i in ids):
            return rows
        assert time.monotonic() < deadline, {i: rows[i].status for i in ids}
        time.sleep(0.05)


def _drain(server: RunningServer, queue: str, count: int) -> list[dict[str, Any]]:
    """`count` messages of `queue` (bounded wait), their bodies as JSON."""
    messages = MessageQueue(server.project.db)
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < count:
        got += [json.loads(m.body) for m in messages.receive(queue, 10, 60)]
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    return got


@pytest.mark.parametrize("retries", [0, 2])
def test_an_always_failing_handler_reaches_its_failure_destination_after_every_retry(
    server: RunningServer, retries: int
) -> None:
    name = f"fails{retries}"
    _function(server, name)
    create_queue(server.project.db, "failed")
    _invoke_config(server, name, retries, on_failure=queue_arn("failed"))
    ids = [_accept(server, name, {"fail": True, "n": n}) for n in range(3)]

    rows = _rows(server, ids)
    for request_id in ids:
        row = rows[request_id]
        assert row.status == "failed" and row.attempts == 1 + retries
        assert [h["attempt"] for h in row.history] == list(range(1, 2 + retries))
        assert all(h["error_type"] == "ValueError" for h in row.history)
        assert all("START RequestId: " + request_id in h["log_tail"] for h in row.history)
        assert row.destination == queue_arn("failed")
    records = {r["requestContext"]["requestId"]: r for r in _drain(server, "failed", 3)}
    assert sorted(records) == sorted(ids)
    for n, request_id in enumerate(ids):
        record = records[request_id]
        assert set(record) == {
            "version",
            "timestamp",
            "requestContext",
            "requestPayload",
            "responseContext",
            "responsePayload",
        }
        assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
        assert record["requestContext"] == {
            "requestId": request_id,
            "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1 + retries,
        }
        assert record["requestPayload"] == {"fail": True, "n": n}
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        assert record["responsePayload"]["errorType"] == "ValueError"
        assert record["responsePayload"]["errorMessage"] == f"always fails: {n}"
    assert MessageQueue(server.project.db).counts("failed").total == 3  # exactly one record each


def test_a_success_goes_to_its_success_destination_and_a_function_destination_runs(
    server: RunningServer,
) -> None:
    _function(server, "works")
    _function(server, "audit")
    _invoke_config(server, "works", 2, on_success="audit")
    [request_id] = [_accept(server, "works", {"n": 7})]
    row = _rows(server, [request_id])[request_id]
    assert row.status == "succeeded" and row.attempts == 1 and row.result == b'{"done": 7}'
    # The record ran `audit` as an asynchronous event of its own.
    deadline = time.monotonic() + 30
    while True:
        with server.project.db.session() as session:
            audited = session.scalars(
                select(InvocationRow).where(InvocationRow.function == "audit")
            ).all()
            statuses = [(r.status, r.result) for r in audited]
        if statuses and statuses[0][0] == "succeeded":
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.05)
    # `audit` returned {"done": event.get("n")}: the record has no "n", so None.
    assert statuses == [("succeeded", b'{"done": null}')]


def test_reserved_concurrency_2_runs_all_20_events_of_a_1_s_handler(
    server: RunningServer,
) -> None:
    """Issue 13: all 20 answered 202, 2 ran, 18 vanished. Now every one runs, once."""
    _function(server, "narrow", reserved_concurrency=2)
    ids = [_accept(server, "narrow", {"sleep": 1, "n": n}) for n in range(20)]
    rows = _rows(server, ids, wait_s=120)
    assert all(rows[i].status == "succeeded" and rows[i].attempts == 1 for i in ids)
    assert sorted(json.loads(rows[i].result)["done"] for i in ids) == list(range(20))


def test_reserved_concurrency_0_sends_events_straight_to_failure(server: RunningServer) -> None:
    _function(server, "off", reserved_concurrency=0)
    create_queue(server.project.db, "off-failed")
    _invoke_config(server, "off", 2, on_failure="off-failed")
    [request_id] = [_accept(server, "off", {"n": 1})]
    row = _rows(server, [request_id])[request_id]
    assert row.status == "failed" and row.attempts == 0
    assert row.error_type == "TooManyRequestsException"
    [record] = _drain(server, "off-failed", 1)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"]["statusCode"] == 429
    assert record["requestPayload"] == {"n": 1}

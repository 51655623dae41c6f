"""The async dispatcher's faults, against a running server on SQLite and PostgreSQL: an attempt
refused for good fails after one attempt (not retried for hours), a record too large for its
destination is cut rather than refused, a destination that refuses its record falls back to
the dead-letter queue and says so in the row, a transient database error while settling loses
nothing, non-UTF-8 events are refused at accept, and dead-letter messages carry Lambda's
attributes (to a topic too) with ErrorMessage cut to its first 1 KiB of UTF-8."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy import text

from lambeam.config import EventTimings
from lambeam.events.asynchronous import enqueue_invocations
from lambeam.events.destinations import first_bytes, fit_record
from lambeam.events.invoke_config import put_event_invoke_config
from lambeam.events.queue import Message, MessageQueue
from lambeam.events.queues import create_queue, delete_queue, queue_arn
from lambeam.events.subscriptions import subscribe
from lambeam.events.topics import create_topic, delete_topic, topic_arn
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.invoke.request import InvocationRequest
from lambeam.storage.schema import InvocationRow
from tests.events.test_dispatcher import _rows
from tests.server.conftest import RunningServer, start_server, zip_of

HANDLER = """\
def handler(event, context):
    if isinstance(event, dict) and "requestContext" in event:
        return event                       # a destination: echo the record it got
    if isinstance(event, dict) and event.get("big"):
        return "x" * event["big"]
    if isinstance(event, dict) and event.get("raise"):
        raise ValueError(event["raise"])
    raise ValueError("always fails")
"""
_BOTO = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
FAST = EventTimings(retry_delays_s=(0.2, 0.4), poll_interval_s=0.05)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "proj", database_url=database_url, events=FAST)
    yield running
    running.stop()
    running.project.close()


def _client(server: RunningServer, service: str) -> Any:
    return boto3.client(
        service,
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


def _enqueue(server: RunningServer, name: str, payload: bytes) -> str:
    """An event written straight into the async queue (as one accepted before today's checks)."""
    request = InvocationRequest(name, payload, invocation_type="Event")
    [request_id] = enqueue_invocations(MessageQueue(server.project.db), [request])
    return request_id


def _messages(server: RunningServer, queue: str, count: int) -> list[Message]:
    """`count` messages of `queue` (bounded wait)."""
    queue_ = MessageQueue(server.project.db)
    got: list[Message] = []
    deadline = time.monotonic() + 30
    while len(got) < count:
        got += queue_.receive(queue, 10, 60)
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    return got


def _error_attributes(message: Message) -> dict[str, str]:
    attributes = message.attributes["MessageAttributes"]
    return {name: value["StringValue"] for name, value in attributes.items()}


def test_an_attempt_refused_for_good_fails_after_one_attempt_with_its_error_type(
    server: RunningServer,
) -> None:
    """Review 9: a 4xx refusal (too large, not JSON) was retried every ~20 s for 6 hours."""
    _function(server, "refused")
    create_queue(server.project.db, "refused-failed")
    put_event_invoke_config(
        server.project.db, "refused", maximum_retry_attempts=2, on_failure="refused-failed"
    )
    too_large = _enqueue(server, "refused", b'"' + b"a" * (6 * 1024 * 1024 + 10) + b'"')
    not_json = _enqueue(server, "refused", b"not json")
    rows = _rows(server, [too_large, not_json])
    expected = {
        too_large: ("RequestEntityTooLargeException", 413),
        not_json: ("InvalidRequestContentException", 400),
    }
    for request_id, (error_type, _status) in expected.items():
        row = rows[request_id]
        assert row.status == "failed" and row.attempts == 1, row.history
        assert row.error_type == error_type
        assert [h["error_type"] for h in row.history] == [error_type]
        assert row.destination == queue_arn("refused-failed")
    records = {
        json.loads(m.body)["requestContext"]["requestId"]: json.loads(m.body)
        for m in _messages(server, "refused-failed", 2)
    }
    for request_id, (error_type, status) in expected.items():
        record = records[request_id]
        assert record["requestContext"]["approximateInvokeCount"] == 1
        assert record["responseContext"] == {"statusCode": status, "executedVersion": "$LATEST"}
        assert record["responsePayload"]["errorType"] == error_type
    # The 6 MiB event does not fit the queue's 256 KiB: the record goes without it.
    assert records[too_large]["requestPayload"].startswith("(omitted by lambeam")
    assert records[not_json]["requestPayload"] == "not json"
    assert len(json.dumps(records[too_large])) <= 256 * 1024


def test_a_record_past_a_function_destination_s_limit_goes_without_its_response(
    server: RunningServer,
) -> None:
    """Review 9: a record past the target's limit was refused forever; now its payload goes."""
    _function(server, "chatty")
    _function(server, "audit")
    put_event_invoke_config(server.project.db, "chatty", on_success="audit")
    request_id = _enqueue(server, "chatty", json.dumps({"big": 1_500_000}).encode())
    assert _rows(server, [request_id])[request_id].status == "succeeded"
    deadline = time.monotonic() + 30
    while True:
        with server.project.db.session() as session:
            audited = [
                (r.status, r.result)
                for r in session.query(InvocationRow).filter(InvocationRow.function == "audit")
            ]
        if audited and audited[0][0] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, audited
        time.sleep(0.05)
    [(status, result)] = audited
    assert status == "succeeded"
    record = json.loads(result)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"] == {"big": 1_500_000}
    assert record["responsePayload"].startswith("(omitted by lambeam")
    assert len(result) <= 1024 * 1024


def test_a_destination_that_refuses_its_record_falls_back_to_the_dead_letter_queue(
    server: RunningServer,
) -> None:
    """Review 10: the record was logged and lost while the row named the destination."""
    db = server.project.db
    create_queue(db, "gone")
    create_queue(db, "fallback-dlq")
    _function(server, "orphan", dead_letter_target=queue_arn("fallback-dlq"))
    put_event_invoke_config(db, "orphan", maximum_retry_attempts=0, on_failure="gone")
    delete_queue(db, "gone")
    request_id = _enqueue(server, "orphan", b'{"n": 1}')
    row = _rows(server, [request_id])[request_id]
    assert row.status == "failed" and row.attempts == 1
    assert row.destination == queue_arn("fallback-dlq")
    [note] = [h for h in row.history if h["status"] == "destination_error"]
    assert note["destination"] == queue_arn("gone")
    assert "gone" in note["error_message"]
    [message] = _messages(server, "fallback-dlq", 1)
    assert message.body == b'{"n": 1}'
    assert _error_attributes(message)["RequestID"] == request_id


def test_a_failed_delivery_with_nowhere_to_fall_back_is_said_in_the_row(
    server: RunningServer,
) -> None:
    db = server.project.db
    create_topic(db, "vanished")
    _function(server, "works")
    put_event_invoke_config(db, "works", on_success=topic_arn("vanished"))
    delete_topic(db, "vanished")  # its config stays
    request_id = _enqueue(server, "works", b'{"big": 1}')
    row = _rows(server, [request_id])[request_id]
    assert row.status == "succeeded" and row.destination is None
    [note] = [h for h in row.history if h["status"] == "destination_error"]
    assert note["destination"] == topic_arn("vanished")


def test_a_topic_destination_gets_a_record_past_256_kib_without_its_payload(
    server: RunningServer,
) -> None:
    db = server.project.db
    create_topic(db, "failures")
    create_queue(db, "failures-sub")
    subscribe(db, "failures", "sqs", "failures-sub", raw_message_delivery=True)
    _function(server, "heavy")
    put_event_invoke_config(db, "heavy", maximum_retry_attempts=0, on_failure="failures")
    request_id = _enqueue(server, "heavy", json.dumps({"pad": "p" * 300_000}).encode())
    row = _rows(server, [request_id])[request_id]
    assert row.destination == topic_arn("failures"), row.history
    [message] = _messages(server, "failures-sub", 1)
    record = json.loads(message.body)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"].startswith("(omitted by lambeam")
    assert record["responsePayload"]["errorMessage"] == "always fails"


def test_a_transient_database_error_while_settling_loses_no_record(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Review 10: a database error while delivering lost the record and deleted the event."""
    db = server.project.db
    create_queue(db, "kept")
    _function(server, "steady")
    put_event_invoke_config(db, "steady", on_success="kept")
    caplog.set_level(logging.WARNING, logger="lambeam.events.settlements")
    with db.engine.begin() as connection:  # the queues table is away: every delivery fails
        connection.execute(text("ALTER TABLE queues RENAME TO queues_away"))
    try:
        request_id = _enqueue(server, "steady", b'{"big": 1}')
        deadline = time.monotonic() + 30
        while "its settle is retried" not in caplog.text:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE queues_away RENAME TO queues"))
    row = _rows(server, [request_id])[request_id]
    assert row.status == "succeeded" and row.attempts == 1  # settled, not run again
    assert row.destination == queue_arn("kept")
    [message] = _messages(server, "kept", 1)
    assert json.loads(message.body)["requestContext"]["requestId"] == request_id


def test_an_event_that_is_not_utf8_is_refused_at_accept(server: RunningServer) -> None:
    """Review 7: UTF-16 JSON passed the JSON check and reached queues as raw bytes."""
    _function(server, "strict")
    with pytest.raises(ClientError) as raised:
        _client(server, "lambda").invoke(
            FunctionName="strict", InvocationType="Event", Payload='{"n": 1}'.encode("utf-16")
        )
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidRequestContentException"
    assert "UTF-8" in error["Error"]["Message"]


def test_a_dead_letter_message_of_a_non_utf8_event_is_readable_through_sqs(
    server: RunningServer,
) -> None:
    """Review 7: a raw UTF-16 body in the DLQ made ReceiveMessage answer 500 for every message."""
    create_queue(server.project.db, "raw-dlq")
    _function(server, "legacy", dead_letter_target=queue_arn("raw-dlq"))
    put_event_invoke_config(server.project.db, "legacy", maximum_retry_attempts=0)
    payload = '{"n": 1}'.encode("utf-16")
    request_id = _enqueue(server, "legacy", payload)
    assert _rows(server, [request_id])[request_id].status == "failed"
    sqs = _client(server, "sqs")
    url = sqs.get_queue_url(QueueName="raw-dlq")["QueueUrl"]
    [message] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert base64.b64decode(message["Body"]) == payload
    attributes = message["MessageAttributes"]
    assert attributes["LambeamBodyEncoding"]["StringValue"] == "base64"
    assert attributes["RequestID"]["StringValue"] == request_id


def test_a_dead_letter_topic_carries_lambda_s_attributes(server: RunningServer) -> None:
    """Review S5: a topic dead-letter target lost RequestID, ErrorCode and ErrorMessage."""
    db = server.project.db
    create_topic(db, "dead-topic")
    create_queue(db, "dead-sub")
    subscribe(db, "dead-topic", "sqs", "dead-sub")
    _function(server, "topical", dead_letter_target=topic_arn("dead-topic"))
    put_event_invoke_config(db, "topical", maximum_retry_attempts=0)
    request_id = _enqueue(server, "topical", b'{"raise": "no luck"}')
    assert _rows(server, [request_id])[request_id].destination == topic_arn("dead-topic")
    [message] = _messages(server, "dead-sub", 1)
    envelope = json.loads(message.body)
    assert envelope["Message"] == '{"raise": "no luck"}'
    assert envelope["MessageAttributes"] == {
        "RequestID": {"Type": "String", "Value": request_id},
        "ErrorCode": {"Type": "Number", "Value": "200"},
        "ErrorMessage": {"Type": "String", "Value": "no luck"},
    }


@pytest.mark.parametrize(
    ("error", "expected"), [("a" * 1500, "a" * 1024), ("é" * 600, "é" * 512), ("é" * 5, "é" * 5)]
)
def test_a_dead_letter_error_message_is_its_first_kib_of_utf8(
    server: RunningServer, error: str, expected: str
) -> None:
    """Review S6: ErrorMessage was cut at 1000 characters; Lambda keeps the first 1 KB."""
    create_queue(server.project.db, "kib-dlq")
    _function(server, "wordy", dead_letter_target=queue_arn("kib-dlq"))
    put_event_invoke_config(server.project.db, "wordy", maximum_retry_attempts=0)
    request_id = _enqueue(server, "wordy", json.dumps({"raise": error}).encode())
    assert _rows(server, [request_id])[request_id].status == "failed"
    [message] = _messages(server, "kib-dlq", 1)
    assert _error_attributes(message)["ErrorMessage"] == expected


def test_fit_record_drops_the_response_else_the_request_else_both() -> None:
    record = {"requestContext": {}, "requestPayload": "q" * 500, "responsePayload": "r" * 500}
    assert json.loads(fit_record(record, 2000)) == record
    cut = json.loads(fit_record(record, 800))
    assert cut["requestPayload"] == "q" * 500 and cut["responsePayload"].startswith("(omitted")
    big_request = {**record, "requestPayload": "q" * 1000}
    kept = json.loads(fit_record(big_request, 800))
    assert kept["responsePayload"] == "r" * 500 and kept["requestPayload"].startswith("(omitted")
    both = json.loads(fit_record(record, 400))
    assert both["requestPayload"].startswith("(omitted")
    assert both["responsePayload"].startswith("(omitted")
    assert first_bytes("aé", 2) == "a" and first_bytes("aé", 3) == "aé"

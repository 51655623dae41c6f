"""Topics on SQLite and PostgreSQL: subscriptions, and a publish that writes one delivery per
subscriber in one transaction, in SNS's shapes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lambeam.errors import (
    ConfigError,
    FunctionNotFoundError,
    PayloadTooLargeError,
    QueueNotFoundError,
    SubscriptionNotFoundError,
    TopicNotFoundError,
)
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.queue import MessageQueue
from lambeam.events.topics import (
    MAX_MESSAGE_BYTES,
    create_topic,
    delete_topic,
    get_topic,
    list_subscriptions,
    list_topics,
    publish,
    publish_message,
    subscribe,
    unsubscribe,
)
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from lambeam.storage.database import utcnow
from lambeam.storage.schema import InvocationRow, QueueRow
from tests.conftest import make_project


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def proj(tmp_path: Path, database_url: str) -> Iterator[Project]:
    project = make_project(tmp_path / "proj", database_url)
    for name in ("score", "audit"):
        config = FunctionConfig(kind="code", handler="app.handler")
        create_function(project.db, project.store, name, config, CodeBundle.from_zip(_zip()))
    now = utcnow()
    with project.db.session() as session:
        session.add(
            QueueRow(name="inbox", attributes={}, origin="api", created_at=now, updated_at=now)
        )
    yield project
    project.close()


def test_topics_are_created_once_listed_and_deleted_with_their_subscriptions(proj: Project) -> None:
    first = create_topic(proj.db, "alerts")
    assert first.arn == "arn:aws:sns:us-east-1:000000000000:alerts"
    assert create_topic(proj.db, first.arn).name == "alerts"  # CreateTopic is idempotent
    subscribe(proj.db, "alerts", "lambda", "score")
    assert [(t.name, t.subscriptions) for t in list_topics(proj.db)] == [("alerts", 1)]
    delete_topic(proj.db, "alerts")
    assert list_topics(proj.db) == [] and list_subscriptions(proj.db) == []
    with pytest.raises(TopicNotFoundError):
        get_topic(proj.db, "alerts")
    with pytest.raises(ConfigError):
        create_topic(proj.db, "no spaces")


def test_subscribe_checks_its_endpoint_and_is_idempotent(proj: Project) -> None:
    create_topic(proj.db, "alerts")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:score:prod"
    sub = subscribe(proj.db, "alerts", "lambda", arn)
    assert (sub.endpoint, sub.qualifier, sub.endpoint_arn) == ("score", "prod", arn)
    assert subscribe(proj.db, "alerts", "lambda", "score", qualifier="prod").id == sub.id
    queue_arn = "arn:aws:sqs:us-east-1:000000000000:inbox"
    raw = subscribe(proj.db, "alerts", "sqs", queue_arn, raw_message_delivery=True)
    assert (raw.endpoint, raw.raw_message_delivery) == ("inbox", True)
    with pytest.raises(ConfigError):  # the same queue with other settings
        subscribe(proj.db, "alerts", "sqs", "inbox")
    with pytest.raises(FunctionNotFoundError):
        subscribe(proj.db, "alerts", "lambda", "nobody")
    with pytest.raises(QueueNotFoundError):
        subscribe(proj.db, "alerts", "sqs", "nowhere")
    with pytest.raises(TopicNotFoundError):
        subscribe(proj.db, "other", "lambda", "score")
    with pytest.raises(ConfigError):
        subscribe(proj.db, "alerts", "email", "me@example.com")
    unsubscribe(proj.db, raw.arn)
    unsubscribe(proj.db, sub.id)
    with pytest.raises(SubscriptionNotFoundError):
        unsubscribe(proj.db, sub.id)


def test_publish_writes_each_delivery_in_sns_shapes(proj: Project) -> None:
    create_topic(proj.db, "alerts")
    score = subscribe(proj.db, "alerts", "lambda", "score", qualifier="prod")
    audit = subscribe(proj.db, "alerts", "lambda", "audit")
    subscribe(proj.db, "alerts", "sqs", "inbox")
    queue = MessageQueue(proj.db)
    attributes = {
        "kind": {"DataType": "String", "StringValue": "disk"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    published = publish_message(queue, "alerts", "disk full", "ops", attributes)
    assert len(published.request_ids) == 2 and published.queues == ["inbox"]

    messages = queue.receive(ASYNC_QUEUE, 10, 30)
    by_function = {m.attributes["function"]: m for m in messages}
    assert set(by_function) == {"score", "audit"}
    assert by_function["score"].attributes["qualifier"] == "prod"
    assert by_function["score"].attributes["source"] == "sns"
    event = json.loads(by_function["score"].body)
    (record,) = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == score.arn
    sns = record["Sns"]
    assert sns["Type"] == "Notification" and sns["MessageId"] == published.message_id
    assert (sns["TopicArn"], sns["Subject"], sns["Message"]) == (
        score.topic_arn,
        "ops",
        "disk full",
    )
    assert datetime.strptime(sns["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert sns["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "disk"},
        "blob": {"Type": "Binary", "Value": "AAE="},
    }
    assert {"SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"} <= set(sns)
    other = json.loads(by_function["audit"].body)["Records"][0]
    assert other["EventSubscriptionArn"] == audit.arn
    with proj.db.session() as session:
        rows = session.query(InvocationRow).all()
        assert sorted(r.request_id for r in rows) == sorted(published.request_ids)
        assert {r.status for r in rows} == {"queued"} and {r.source for r in rows} == {"sns"}

    (delivered,) = queue.receive("inbox", 10, 30)
    body = json.loads(delivered.body)
    assert body["Type"] == "Notification" and body["Message"] == "disk full"
    assert body["Subject"] == "ops" and body["MessageId"] == published.message_id
    assert "SigningCertURL" in body and "UnsubscribeURL" in body
    assert body["MessageAttributes"]["kind"] == {"Type": "String", "Value": "disk"}


def test_raw_delivery_and_publish_errors(proj: Project) -> None:
    create_topic(proj.db, "alerts")
    subscribe(proj.db, "alerts", "sqs", "inbox", raw_message_delivery=True)
    queue = MessageQueue(proj.db)
    publish(proj.db, "alerts", '{"a": 1}', message_attributes={"kind": "disk"})
    (delivered,) = queue.receive("inbox", 10, 30)
    assert delivered.body == b'{"a": 1}'
    assert delivered.attributes["MessageAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "disk"}
    }
    assert queue.receive(ASYNC_QUEUE, 10, 30) == []
    with pytest.raises(PayloadTooLargeError):
        publish(proj.db, "alerts", "x" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(ConfigError):
        publish(proj.db, "alerts", "hi", subject="two\nlines")
    with pytest.raises(ConfigError):
        publish(proj.db, "alerts", "")
    with pytest.raises(TopicNotFoundError):
        publish(proj.db, "nowhere", "hi")
    # A topic without subscribers takes the message and delivers nothing.
    create_topic(proj.db, "quiet")
    assert publish(proj.db, "quiet", "hi")

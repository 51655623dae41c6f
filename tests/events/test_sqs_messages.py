"""SQS's messages on the durable queue when a row or a request is not what SQS would make: a
body that is not UTF-8 (only lambeam's own writes make one), malformed system attributes, and
the size a batch entry counts; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lambeam.errors import MessageError
from lambeam.events import MessageQueue, Outgoing
from lambeam.events.messages import batch_entry_size, from_message, prepare, receive
from lambeam.events.queues import (
    create_queue,
    delete_queue,
    get_queue,
    list_queues,
    queue_arn,
    set_queue_attributes,
)
from lambeam.storage import Database

_UTF16 = json.dumps({"id": 1}).encode("utf-16")  # valid JSON to check_json, not UTF-8


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def test_a_body_that_is_not_utf8_is_a_clear_error_naming_the_message(db: Database) -> None:
    create_queue(db, "q")
    queue = MessageQueue(db)
    [sent] = queue.send("q", [Outgoing(_UTF16)])
    [message] = queue.receive("q", 1, 30)
    with pytest.raises(MessageError, match=f"{sent}.*not UTF-8"):
        from_message(message)


def test_an_unreadable_row_never_hides_the_messages_received_with_it(db: Database) -> None:
    create_queue(db, "q")
    queue = MessageQueue(db)
    queue.send("q", [Outgoing(b"first"), Outgoing(_UTF16), Outgoing(b"last")])
    got = receive(queue, get_queue(db, "q"), 10)
    assert [m.body for m in got] == ["first", "last"]
    # without a dead-letter queue it stays, held for the visibility timeout like any receive
    assert (queue.counts("q").visible, queue.counts("q").in_flight) == (0, 3)


def test_an_unreadable_row_goes_to_the_dead_letter_queue_at_once(db: Database) -> None:
    create_queue(db, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 5})
    create_queue(db, "q", {"RedrivePolicy": redrive})
    queue = MessageQueue(db)
    [_, bad] = queue.send("q", [Outgoing(b"fine"), Outgoing(_UTF16)])
    got = receive(queue, get_queue(db, "q"), 10)
    assert [m.body for m in got] == ["fine"]
    assert [row["id"] for row in queue.peek("dlq")] == [bad]
    assert queue.counts("q").total == 1


def test_malformed_system_attributes_are_message_errors(db: Database) -> None:
    info = create_queue(db, "q")
    for bad in (["x"], "zz", 5, {"AWSTraceHeader": "not a map"}, {"Other": {}}):
        with pytest.raises(MessageError):
            prepare(info, "body", system_attributes=bad)  # type: ignore[arg-type]


def test_a_batch_entry_counts_its_attributes_as_prepare_does(db: Database) -> None:
    info = create_queue(db, "q")
    attributes = {
        "text": {"DataType": "String", "StringValue": "é" * 10},
        "blob": {"DataType": "Binary", "BinaryValue": "AAEC"},
    }
    prepared = prepare(info, "body", attributes)
    assert prepared.size == 4 + (4 + 6 + 20) + (4 + 6 + 3)
    entry = {"MessageBody": "body", "MessageAttributes": attributes}
    assert batch_entry_size(entry) == prepared.size
    # malformed entries count what they carry, without failing
    assert batch_entry_size({"MessageBody": 5, "MessageAttributes": ["x"]}) == 0
    assert batch_entry_size({"MessageAttributes": {"a": {"BinaryValue": "%%"}}}) == 3


def test_redrive_to_a_deleted_queue_keeps_the_message(db: Database) -> None:
    create_queue(db, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 1})
    create_queue(db, "q", {"RedrivePolicy": redrive, "VisibilityTimeout": "0"})
    queue = MessageQueue(db)
    queue.send("q", [Outgoing(b"poison")])
    assert [m.body for m in receive(queue, get_queue(db, "q"), 1)] == ["poison"]
    delete_queue(db, "dlq")
    info = get_queue(db, "q")
    assert info.dead_letter is None  # the policy stays, as SQS shows it; nothing moves
    assert "dlq" in info.attributes["RedrivePolicy"]
    assert [m.body for m in receive(queue, info, 1)] == ["poison"]
    assert queue.counts("q").total == 1 and queue.counts("dlq").total == 0
    create_queue(db, "dlq")  # back: redrive resumes
    assert get_queue(db, "q").dead_letter is not None
    delete_queue(db, "dlq")
    assert [q.dead_letter for q in list_queues(db)] == [None]
    set_queue_attributes(db, "q", {"VisibilityTimeout": "1"})  # a change keeps the policy
    assert "dlq" in get_queue(db, "q").attributes["RedrivePolicy"]

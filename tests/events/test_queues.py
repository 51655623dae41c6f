"""Queue metadata with SQS's rules and defaults, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lambeam.errors import QueueAttributeError, QueueExistsError, QueueNotFoundError
from lambeam.events import DeadLetter, MessageQueue, Outgoing
from lambeam.events.queues import (
    DEFAULTS,
    create_queue,
    delete_queue,
    get_queue,
    list_queues,
    queue_arn,
    set_queue_attributes,
)
from lambeam.storage import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _redrive(target: str, count: int | str = 3) -> str:
    return json.dumps({"deadLetterTargetArn": queue_arn(target), "maxReceiveCount": count})


def test_a_new_queue_has_sqs_defaults_and_is_found_by_name(db: Database) -> None:
    info = create_queue(db, "orders")
    assert info.attributes == dict(DEFAULTS)
    assert (info.visibility_timeout, info.retention_period, info.delay_seconds) == (30, 345600, 0)
    assert info.maximum_message_size == 1024 * 1024
    assert info.dead_letter is None
    assert info.arn() == "arn:aws:sqs:us-east-1:000000000000:orders"
    assert get_queue(db, "orders").name == "orders"
    create_queue(db, "orders-dlq")
    create_queue(db, "alerts")
    assert [q.name for q in list_queues(db)] == ["alerts", "orders", "orders-dlq"]
    assert [q.name for q in list_queues(db, "ord")] == ["orders", "orders-dlq"]


def test_create_is_idempotent_with_the_same_attributes_and_refused_with_others(
    db: Database,
) -> None:
    create_queue(db, "q", {"VisibilityTimeout": "60"})
    assert create_queue(db, "q", {"VisibilityTimeout": 60}).visibility_timeout == 60
    with pytest.raises(QueueExistsError, match="VisibilityTimeout"):
        create_queue(db, "q", {"VisibilityTimeout": "61"})
    with pytest.raises(QueueExistsError):
        create_queue(db, "q")  # the default 30 differs from 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "-1"),
        ("VisibilityTimeout", "ten"),
        ("MessageRetentionPeriod", "59"),
        ("MessageRetentionPeriod", "1209601"),
        ("DelaySeconds", "901"),
        ("MaximumMessageSize", "1023"),
        ("MaximumMessageSize", "1048577"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
    ],
)
def test_values_out_of_sqs_ranges_are_refused_naming_the_attribute(
    db: Database, name: str, value: str
) -> None:
    with pytest.raises(QueueAttributeError, match=name) as caught:
        create_queue(db, "q", {name: value})
    assert caught.value.sqs_error == ("InvalidAttributeValue", "InvalidAttributeValue")
    with pytest.raises(QueueNotFoundError):
        get_queue(db, "q")  # nothing half-made


def test_unknown_and_unsupported_attributes_and_bad_names_are_refused(db: Database) -> None:
    with pytest.raises(QueueAttributeError, match="Unknown Attribute Colour") as caught:
        create_queue(db, "q", {"Colour": "blue"})
    assert caught.value.sqs_error[0] == "InvalidAttributeName"
    with pytest.raises(QueueAttributeError, match="standard queues"):
        create_queue(db, "q", {"FifoQueue": "true"})
    for bad in ("", "a" * 81, "has space", "q.fifo"):
        with pytest.raises(QueueAttributeError, match="alphanumeric"):
            create_queue(db, bad)


def test_redrive_policy_names_an_existing_queue_and_a_count_from_1_to_1000(db: Database) -> None:
    create_queue(db, "q")
    with pytest.raises(QueueAttributeError, match="Dead letter target does not exist"):
        set_queue_attributes(db, "q", {"RedrivePolicy": _redrive("missing")})
    create_queue(db, "q-dlq")
    for count in (0, 1001, "many"):
        with pytest.raises(QueueAttributeError, match="maxReceiveCount"):
            set_queue_attributes(db, "q", {"RedrivePolicy": _redrive("q-dlq", count)})
    with pytest.raises(QueueAttributeError, match="JSON"):
        set_queue_attributes(db, "q", {"RedrivePolicy": "{not json"})
    info = set_queue_attributes(db, "q", {"RedrivePolicy": _redrive("q-dlq", "5")})
    assert info.dead_letter == DeadLetter("q-dlq", 5)
    assert json.loads(info.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": queue_arn("q-dlq"),
        "maxReceiveCount": 5,
    }
    info = set_queue_attributes(db, "q", {"VisibilityTimeout": "5"})
    assert (info.visibility_timeout, info.dead_letter) == (5, DeadLetter("q-dlq", 5))
    assert get_queue(db, "q").dead_letter is not None
    assert set_queue_attributes(db, "q", {"RedrivePolicy": ""}).dead_letter is None


def test_deleting_a_queue_purges_its_messages_and_only_its(db: Database) -> None:
    create_queue(db, "q")
    create_queue(db, "other")
    messages = MessageQueue(db)
    messages.send("q", [Outgoing(b"a"), Outgoing(b"b")])
    messages.send("other", [Outgoing(b"c")])
    assert delete_queue(db, "q") == 2
    with pytest.raises(QueueNotFoundError, match="does not exist"):
        get_queue(db, "q")
    with pytest.raises(QueueNotFoundError):
        delete_queue(db, "q")
    with pytest.raises(QueueNotFoundError):
        set_queue_attributes(db, "q", {"DelaySeconds": "1"})
    assert messages.counts("q").total == 0
    assert messages.counts("other").total == 1
    create_queue(db, "q")
    assert messages.counts("q").total == 0

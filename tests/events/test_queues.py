"""Queue metadata with SQS's rules and defaults, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from lambeam.errors import ConfigError, QueueAttributeError, QueueExistsError, QueueNotFoundError
from lambeam.events import DeadLetter, MessageQueue, Outgoing
from lambeam.events.declarations import apply_events, check_events, existing
from lambeam.events.queues import (
    DEFAULTS,
    create_queue,
    delete_queue,
    expire_messages,
    get_queue,
    list_queues,
    queue_arn,
    set_queue_attributes,
)
from lambeam.project import Project
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


def _declare(project: Project, queues: dict[str, Any]) -> dict[str, Any]:
    project.settings = replace(project.settings, queues=queues)
    declared = check_events(project, set(), existing(project.db))
    return apply_events(project, declared).to_dict()


def test_lambeam_toml_queues_are_applied_updated_and_pruned(project: Project) -> None:
    applied = _declare(
        project,
        {
            "orders": {
                "visibility_timeout": 60,
                "message_retention_period": 3600,
                "delay_seconds": 1,
                "redrive": {"dead_letter_queue": "orders-dlq", "max_receive_count": 4},
            },
            "orders-dlq": {},
        },
    )
    assert sorted(a["action"] for a in applied["applied"]) == ["created", "created"]
    orders = get_queue(project.db, "orders")
    assert (orders.visibility_timeout, orders.retention_period, orders.delay_seconds) == (
        60,
        3600,
        1,
    )
    assert orders.dead_letter == DeadLetter("orders-dlq", 4)
    assert orders.origin == "toml"
    create_queue(project.db, "made-by-the-api")
    applied = _declare(project, {"orders": {"visibility_timeout": 90}})
    assert [a["action"] for a in applied["applied"]] == ["updated"]
    assert applied["removed"] == [{"kind": "queues", "what": "queue orders-dlq"}]
    assert get_queue(project.db, "orders").attributes["VisibilityTimeout"] == "90"
    assert get_queue(project.db, "orders").dead_letter is None
    assert [q.name for q in list_queues(project.db)] == ["made-by-the-api", "orders"]
    applied = _declare(project, {"orders": {"visibility_timeout": 90}})
    assert [a["action"] for a in applied["applied"]] == ["unchanged"]


@pytest.mark.parametrize(
    ("table", "fault"),
    [
        ({"visibility_timeout": 43201}, "visibility_timeout"),
        ({"delay_seconds": "soon"}, "delay_seconds"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"redrive": {"dead_letter_queue": "nowhere", "max_receive_count": 3}}, "'nowhere'"),
        ({"redrive": {"dead_letter_queue": "dlq", "max_receive_count": 0}}, "maxReceiveCount"),
        ({"redrive": {"dead_letter_queue": "dlq"}}, "max_receive_count"),
    ],
)
def test_a_bad_queue_table_is_one_clear_error_and_nothing_is_applied(
    project: Project, table: dict[str, Any], fault: str
) -> None:
    with pytest.raises(ConfigError, match=fault) as caught:
        _declare(project, {"orders": table, "dlq": {}})
    assert "[queues.orders]" in str(caught.value)
    assert list_queues(project.db) == []


def test_the_retention_sweeper_deletes_messages_past_each_queues_period(db: Database) -> None:
    now = [1_800_000_000.0]
    messages = MessageQueue(db, clock=lambda: now[0])
    create_queue(db, "short", {"MessageRetentionPeriod": "60"})
    create_queue(db, "long")
    messages.send("short", [Outgoing(b"old")])
    messages.send("long", [Outgoing(b"old")])
    now[0] += 61
    messages.send("short", [Outgoing(b"new")])
    assert expire_messages(db, messages) == 1
    assert [m["body"] for m in messages.peek("short")] == [b"new"]
    assert messages.counts("long").total == 1
    now[0] += 345_600
    assert expire_messages(db, messages) == 2


def test_a_redrive_policy_is_compact_json_and_its_count_defaults_to_10(db: Database) -> None:
    create_queue(db, "dlq")
    policy = json.dumps({"deadLetterTargetArn": queue_arn("dlq")})
    info = create_queue(db, "q", {"RedrivePolicy": policy})
    arn = queue_arn("dlq")
    assert info.attributes["RedrivePolicy"] == (
        f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":10}}'
    )
    assert info.dead_letter == DeadLetter("dlq", 10)
    assert create_queue(db, "q", {"RedrivePolicy": policy}) == info  # the same: idempotent
    with pytest.raises(QueueAttributeError, match="deadLetterTargetArn"):
        set_queue_attributes(db, "q", {"RedrivePolicy": json.dumps({"maxReceiveCount": 3})})
    with pytest.raises(QueueAttributeError, match="exactly"):
        set_queue_attributes(
            db, "q", {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "colour": 1})}
        )


def test_a_dead_letter_queue_of_another_region_or_account_is_refused(db: Database) -> None:
    create_queue(db, "dlq")
    create_queue(db, "q")
    for arn in (
        queue_arn("dlq", "eu-west-1"),
        queue_arn("dlq", account_id="123456789012"),
        "arn:aws:sns:us-east-1:000000000000:dlq",
    ):
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
        with pytest.raises(QueueAttributeError, match="RedrivePolicy"):
            set_queue_attributes(db, "q", {"RedrivePolicy": policy})
    # a server of another region and account takes its own ARNs (and only those)
    mine = queue_arn("dlq", "eu-west-1", "123456789012")
    policy = json.dumps({"deadLetterTargetArn": mine, "maxReceiveCount": 3})
    where = {"region": "eu-west-1", "account_id": "123456789012"}
    info = set_queue_attributes(db, "q", {"RedrivePolicy": policy}, **where)
    assert info.dead_letter == DeadLetter("dlq", 3)
    with pytest.raises(QueueAttributeError, match="RedrivePolicy"):
        set_queue_attributes(db, "q", {"RedrivePolicy": _redrive("dlq")}, **where)


def test_a_bad_queue_name_is_an_invalid_parameter_value(db: Database) -> None:
    with pytest.raises(QueueAttributeError) as caught:
        create_queue(db, "has space")
    assert caught.value.sqs_error[0] == "InvalidParameterValue"

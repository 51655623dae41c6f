"""Queue mappings on the edges of SQS's rules, against a running server with unmodified boto3
clients, on SQLite and PostgreSQL: a batching window longer than the queue's visibility timeout,
and a row whose body is not UTF-8 among innocent messages."""

from __future__ import annotations

import json
from typing import Any

from lambeam.events import MessageQueue, Outgoing
from tests.events import test_consumer as base
from tests.events.test_consumer import _counts, _function, _queue, _records, _until
from tests.server.conftest import RunningServer

# test_consumer's fixtures: a server on each database, boto3 sqs and lambda clients
server, sqs, lam = base.server, base.sqs, base.lam


def _approximate(sqs: Any, url: str) -> tuple[str, str]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return found[names[0]], found[names[1]]


def test_a_window_longer_than_the_visibility_timeout_gives_each_message_once(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=1)
    dlq_url, dlq_arn = _queue(sqs)
    url, arn = _queue(sqs, dead_letter=dlq_arn, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="first")
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, BatchSize=20, MaximumBatchingWindowInSeconds=4
    )
    _until("the first message received", lambda: _approximate(sqs, url) == ("0", "1"))
    sqs.send_message(QueueUrl=url, MessageBody="second")
    _until("the batch handled", lambda: _records(server, function))
    _until("the queue drained", lambda: _approximate(sqs, url) == ("0", "0"))
    records = _records(server, function)
    assert sorted(r["body"] for r in records) == ["first", "second"]
    assert len({r["messageId"] for r in records}) == 2
    assert _counts(server, function) == {"first": [1], "second": [1]}
    assert _approximate(sqs, dlq_url) == ("0", "0")  # nothing processed was dead-lettered


def test_a_row_that_is_not_utf8_never_strands_its_batch(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=5)
    dlq_url, dlq_arn = _queue(sqs)
    url, arn = _queue(sqs, dead_letter=dlq_arn, VisibilityTimeout="30")
    name = url.rsplit("/", 1)[1]
    sqs.send_message(QueueUrl=url, MessageBody="before")
    MessageQueue(server.project.db).send(name, [Outgoing(json.dumps([1]).encode("utf-16"))])
    sqs.send_message(QueueUrl=url, MessageBody="after")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    _until("the queue drained", lambda: _approximate(sqs, url) == ("0", "0"))
    assert _counts(server, function) == {"before": [1], "after": [1]}
    assert _approximate(sqs, dlq_url) == ("1", "0")  # the unreadable row, set aside

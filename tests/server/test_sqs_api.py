"""The SQS API against a running server, through an unmodified boto3 `sqs` client (and the AWS
CLI when it is installed)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.config import EventTimings
from lambeam.security import AccessKey
from tests.server.conftest import RunningServer, start_server
from tests.server.keyed import key_with

_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
_names = count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        Path(tmp_path_factory.mktemp("sqs")) / "proj", events=EventTimings((0.2, 0.4), 0.05)
    )
    yield running
    running.stop()
    running.project.close()


def _client(server: RunningServer, key: AccessKey | None = None, secret: str | None = None) -> Any:
    key = key or server.key
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key.id,
        aws_secret_access_key=secret or key.secret,
        config=_CONFIG,
    )


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return _client(server)


def _queue(sqs: Any, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=f"q{next(_names)}", Attributes=attributes)["QueueUrl"])


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """SQS's documented algorithm, written out independently of lambeam's."""
    data = b""
    for name in sorted(attributes):
        value = attributes[name]
        data += struct.pack(">I", len(name)) + name.encode()
        data += struct.pack(">I", len(value["DataType"])) + value["DataType"].encode()
        if "BinaryValue" in value:
            data += b"\x02" + struct.pack(">I", len(value["BinaryValue"])) + value["BinaryValue"]
        else:
            raw = value["StringValue"].encode()
            data += b"\x01" + struct.pack(">I", len(raw)) + raw
    return hashlib.md5(data).hexdigest()


def test_queues_are_created_found_listed_changed_and_deleted(
    sqs: Any, server: RunningServer
) -> None:
    url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    assert url == f"{server.url}/000000000000/orders"
    assert (
        sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        == url
    )  # the same attributes: the same queue, as SQS answers
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    sqs.create_queue(QueueName="orders-dlq")
    sqs.create_queue(QueueName="other")
    assert sqs.list_queues(QueueNamePrefix="orders")["QueueUrls"] == [url, url + "-dlq"]
    first = sqs.list_queues(QueueNamePrefix="o", MaxResults=2)
    assert len(first["QueueUrls"]) == 2
    rest = sqs.list_queues(QueueNamePrefix="o", MaxResults=2, NextToken=first["NextToken"])
    assert rest["QueueUrls"] == [f"{server.url}/000000000000/other"]
    assert "NextToken" not in rest

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["DelaySeconds"] == "0"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:orders"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    redrive = {"deadLetterTargetArn": attributes["QueueArn"] + "-dlq", "maxReceiveCount": 3}
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "10",
            "MessageRetentionPeriod": "120",
            "DelaySeconds": "2",
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    asked = ["VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "RedrivePolicy"]
    changed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=asked)["Attributes"]
    assert changed == {
        "VisibilityTimeout": "10",
        "MessageRetentionPeriod": "120",
        "DelaySeconds": "2",
        "RedrivePolicy": json.dumps(redrive, separators=(",", ":")),  # compact, as SQS's
    }

    sqs.send_message(QueueUrl=url, MessageBody="kept until the queue goes")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="orders")
    sqs.create_queue(QueueName="orders")  # a new queue of the name: empty
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert got["Attributes"] == {"ApproximateNumberOfMessages": "0"}


def test_messages_are_sent_received_and_deleted_with_sqs_digests(sqs: Any) -> None:
    url = _queue(sqs)
    attributes = {
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "size": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffdata"},
        "other": {"DataType": "String.custom", "StringValue": "é"},
    }
    body = '{"hello": "wörld"}'
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes=attributes,
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == _md5_of_attributes(attributes)
    assert sent["MD5OfMessageSystemAttributes"]

    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert system["AWSTraceHeader"] == "Root=1-abc"
    assert int(system["SentTimestamp"]) <= int(system["ApproximateFirstReceiveTimestamp"])

    # Only the attributes asked for, and the digest of those.
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    again = sqs.receive_message(
        QueueUrl=url, AttributeNames=["ApproximateReceiveCount"], MessageAttributeNames=["kind"]
    )["Messages"][0]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert again["MessageAttributes"] == {"kind": attributes["kind"]}
    assert again["MD5OfMessageAttributes"] == _md5_of_attributes({"kind": attributes["kind"]})
    # The first receive's handle no longer holds it; the second's deletes it.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_batches_send_delete_and_change_visibility_entry_by_entry(sqs: Any) -> None:
    url = _queue(sqs)
    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "bad \x00 character"},
            {"Id": "c", "MessageBody": "three", "DelaySeconds": 900},
        ],
    )
    assert [entry["Id"] for entry in sent["Successful"]] == ["a", "c"]
    assert sent["Failed"] == [
        {
            "Id": "b",
            "SenderFault": True,
            "Code": "InvalidMessageContents",
            "Message": sent["Failed"][0]["Message"],
        }
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesDelayed"],
    ) == ("1", "1")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)]
    )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2", "m3", "m4", "one"]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "x", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "y", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
        ],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["x"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[1:])
        ]
        + [{"Id": "bad", "ReceiptHandle": "bm9wZQ=="}],
    )
    assert len(deleted["Successful"]) == 5
    assert deleted["Failed"][0]["Id"] == "bad"
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == [got[0]["Body"]]
    sqs.purge_queue(QueueUrl=url)
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessagesDelayed"
        ]
        == "0"
    )


def test_errors_are_sqs_errors(sqs: Any, server: RunningServer) -> None:
    url = _queue(sqs)
    missing = f"{server.url}/000000000000/no-such-queue"
    for call in (
        lambda: sqs.get_queue_url(QueueName="no-such-queue"),
        lambda: sqs.send_message(QueueUrl=missing, MessageBody="x"),
        lambda: sqs.receive_message(QueueUrl=missing),
        lambda: sqs.delete_queue(QueueUrl=missing),
        lambda: sqs.get_queue_attributes(QueueUrl=missing, AttributeNames=["All"]),
        lambda: sqs.purge_queue(QueueUrl=missing),
    ):
        with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
            call()
        assert _code(caught) == "AWS.SimpleQueueService.NonExistentQueue"

    for attributes in (
        {"VisibilityTimeout": "43201"},
        {"MessageRetentionPeriod": "59"},
        {"DelaySeconds": "901"},
        {"MaximumMessageSize": str(1024 * 1024 + 1)},
        {"VisibilityTimeout": "soon"},
        {
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope",
                    "maxReceiveCount": 1,
                }
            )
        },
        {"RedrivePolicy": "not json"},
    ):
        with pytest.raises(sqs.exceptions.InvalidAttributeValue):
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName="colourful", Attributes={"Colour": "blue"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Colour"])
    with pytest.raises(sqs.exceptions.QueueNameExists) as caught:
        sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes={"DelaySeconds": "5"})
    assert _code(caught) == "QueueAlreadyExists"

    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1))
    assert _code(caught) == "InvalidParameterValue"
    assert "Message must be shorter than 1048576 bytes" in str(caught.value)
    sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024))  # exactly 1 MiB goes
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=url, MessageBody="\x07bell")
    with pytest.raises(ClientError) as caught:
        sqs.send_message(
            QueueUrl=url,
            MessageBody="x",
            MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "v"}},
        )
    assert _code(caught) == "InvalidParameterValue"

    for handle in ("garbage", base64.urlsafe_b64encode(b"a\x00b").decode(), "x" * 2000):
        with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    other = _queue(sqs)
    sqs.send_message(QueueUrl=other, MessageBody="elsewhere")
    handle = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):  # another queue's handle
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    sqs.delete_message(QueueUrl=other, ReceiptHandle=handle)
    with pytest.raises(ClientError, match="not available for visibility timeout change"):
        sqs.change_message_visibility(QueueUrl=other, ReceiptHandle=handle, VisibilityTimeout=5)

    with pytest.raises(ClientError, match="MaxNumberOfMessages"):
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    with pytest.raises(ClientError, match="WaitTimeSeconds"):
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    entries = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[entries[0], entries[0]])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "x"}])
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": "x" * 600_000} for i in range(2)],
        )
    with pytest.raises(ClientError) as caught:
        sqs.list_dead_letter_source_queues(QueueUrl=url)
    assert _code(caught) == "AWS.SimpleQueueService.UnsupportedOperation"


def test_a_long_poll_returns_when_a_message_arrives(sqs: Any, server: RunningServer) -> None:
    url = _queue(sqs)
    got: list[Any] = []
    waiting = threading.Event()

    def poll() -> None:
        waiting.set()
        got.append(_client(server).receive_message(QueueUrl=url, WaitTimeSeconds=20))

    poller = threading.Thread(target=poll)
    poller.start()
    waiting.wait(10)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    poller.join(30)
    assert not poller.is_alive()
    assert [m["Body"] for m in got[0]["Messages"]] == ["wake up"]
    # The queue's ReceiveMessageWaitTimeSeconds is a receive's default wait.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_messages_past_max_receive_count_move_to_the_dead_letter_queue(sqs: Any) -> None:
    dlq = _queue(sqs)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url = _queue(sqs, VisibilityTimeout="0", RedrivePolicy=policy)
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="poison",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    for receive_count in ("1", "2"):
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
        assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == receive_count
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # moved instead of received
    moved = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"][0]
    assert (moved["MessageId"], moved["Body"]) == (sent["MessageId"], "poison")
    assert moved["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_a_key_needs_the_sqs_action_on_the_queue(sqs: Any, server: RunningServer) -> None:
    url, other = _queue(sqs), _queue(sqs)
    name = url.rsplit("/", 1)[1]
    key = key_with(
        server,
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": f"arn:aws:sqs:*:*:{name}",
        },
    )
    limited = _client(server, key)
    limited.send_message(QueueUrl=url, MessageBody="allowed")
    limited.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "batch"}])
    assert limited.get_queue_url(QueueName=name)["QueueUrl"] == url
    for call in (
        lambda: limited.send_message(QueueUrl=other, MessageBody="denied"),
        lambda: limited.receive_message(QueueUrl=url),
        lambda: limited.delete_queue(QueueUrl=url),
        lambda: limited.list_queues(),
        lambda: limited.get_queue_url(QueueName="no-such-queue"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _code(caught) == "AccessDenied"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sender = sqs.receive_message(QueueUrl=url, AttributeNames=["SenderId"])["Messages"][0]
    assert sender["Attributes"]["SenderId"] == key.id
    with pytest.raises(ClientError) as caught:
        _client(server, secret="wrong" * 8).list_queues()
    assert _code(caught) == "SignatureDoesNotMatch"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_works_unchanged(sqs: Any, server: RunningServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.key.id,
        "AWS_SECRET_ACCESS_KEY": server.key.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def aws(*args: str) -> Any:
        done = subprocess.run(
            ["aws", "--endpoint-url", server.url, "--output", "json", "sqs", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout) if done.stdout.strip() else None

    url = aws("create-queue", "--queue-name", "from-the-cli")["QueueUrl"]
    aws("send-message", "--queue-url", url, "--message-body", "hi from the CLI")
    got = aws("receive-message", "--queue-url", url, "--wait-time-seconds", "1")
    assert got["Messages"][0]["Body"] == "hi from the CLI"
    aws(
        "delete-message",
        "--queue-url",
        url,
        "--receipt-handle",
        got["Messages"][0]["ReceiptHandle"],
    )
    assert url in aws("list-queues")["QueueUrls"]
    aws("delete-queue", "--queue-url", url)


def test_concurrent_sends_are_all_committed_on_either_database(
    database_url: str, tmp_path: Path
) -> None:
    running = start_server(tmp_path / "proj", database_url=database_url)
    try:
        sqs = _client(running)
        url = sqs.create_queue(QueueName="busy")["QueueUrl"]
        ids: list[str] = []

        def sender(n: int) -> None:
            client = _client(running)
            for i in range(25):
                ids.append(client.send_message(QueueUrl=url, MessageBody=f"{n}-{i}")["MessageId"])

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(set(ids)) == 200  # each answered only once committed
        counted = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert counted == {"ApproximateNumberOfMessages": "200"}
        received: set[str] = set()
        for _ in range(40):  # bounded: 200 messages, 10 at a time
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            received.update(m["MessageId"] for m in got)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
        assert received == set(ids)
    finally:
        running.stop()
        running.project.close()

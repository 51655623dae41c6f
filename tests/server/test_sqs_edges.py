"""The SQS API on malformed requests and unusual rows, through an unmodified boto3 `sqs` client:
each is a 400 (or a failed batch entry), never a 500 nor a batch that fails for one entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.config import EventTimings
from lambeam.events import MessageQueue, Outgoing
from tests.server.conftest import RunningServer, start_server

_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
_names = count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        Path(tmp_path_factory.mktemp("sqs-edges")) / "proj", events=EventTimings((0.2, 0.4), 0.05)
    )
    yield running
    running.stop()
    running.project.close()


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.key.id,
        aws_secret_access_key=server.key.secret,
        config=_CONFIG,
    )


def _queue(sqs: Any, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=f"e{next(_names)}", Attributes=attributes)["QueueUrl"])


def _arn(sqs: Any, url: str) -> str:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(found["Attributes"]["QueueArn"])


def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _raw(sqs: Any, action: str, params: dict[str, Any]) -> tuple[int, str]:
    """Send `params` as they are (boto3 checks its own parameters first), signed as boto3 does."""

    def add(request: Any, **_: Any) -> None:
        request.data = json.dumps(params).encode()

    sqs.meta.events.register_first(f"before-sign.sqs.{action}", add)
    try:
        method = getattr(sqs, "send_message" if action == "SendMessage" else "send_message_batch")
        placeholder = {"QueueUrl": "x", "MessageBody": "x"}
        if action != "SendMessage":
            placeholder = {"QueueUrl": "x", "Entries": [{"Id": "x", "MessageBody": "x"}]}
        try:
            answer = method(**placeholder)
        except ClientError as exc:
            response = exc.response
            return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]
        return 200, json.dumps(answer)
    finally:
        sqs.meta.events.unregister(f"before-sign.sqs.{action}", add)


def test_malformed_parameters_are_400s(sqs: Any) -> None:
    url = _queue(sqs)
    status, code = _raw(
        sqs, "SendMessage", {"QueueUrl": url, "MessageBody": "x", "MessageSystemAttributes": ["x"]}
    )
    assert (status, code) == (400, "InvalidParameterValue")
    assert _error(lambda: sqs.send_message(QueueUrl="http://[::1", MessageBody="x"))[0] == 400
    status, answer = _raw(
        sqs,
        "SendMessageBatch",
        {
            "QueueUrl": url,
            "Entries": [
                {"Id": "bad", "MessageBody": "x", "MessageSystemAttributes": "zz"},
                {"Id": "good", "MessageBody": "x"},
            ],
        },
    )
    assert status == 200
    sent = json.loads(answer)
    assert [e["Id"] for e in sent["Successful"]] == ["good"]
    assert [(e["Id"], e["SenderFault"]) for e in sent["Failed"]] == [("bad", True)]


def test_a_batchs_one_mib_counts_message_attributes(sqs: Any) -> None:
    url = _queue(sqs)
    big = {"a": {"DataType": "String", "StringValue": "v" * 400_000}}
    entries = [
        {"Id": str(i), "MessageBody": "x" * 200_000, "MessageAttributes": big} for i in range(2)
    ]
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def test_queue_attributes_and_names_as_sqs_answers_them(sqs: Any) -> None:
    url = _queue(sqs)
    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert every["SqsManagedSseEnabled"] == "false"
    one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"])
    assert one["Attributes"] == {"SqsManagedSseEnabled": "false"}
    assert _error(lambda: sqs.create_queue(QueueName="has space")) == (400, "InvalidParameterValue")

    dlq = _queue(sqs)
    arn = _arn(sqs, dlq)
    source = _queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": arn}))
    policy = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])
    assert policy["Attributes"]["RedrivePolicy"] == (
        f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":10}}'
    )
    for other in (arn.replace("us-east-1", "eu-west-1"), arn.replace("000000000000", "1" * 12)):
        with pytest.raises(sqs.exceptions.InvalidAttributeValue):
            sqs.set_queue_attributes(
                QueueUrl=source,
                Attributes={
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": other, "maxReceiveCount": 2}
                    )
                },
            )


def test_a_row_that_is_not_utf8_never_hides_the_others(sqs: Any, server: RunningServer) -> None:
    dlq = _queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": 3})
    for attributes in ({}, {"RedrivePolicy": policy}):
        url = _queue(sqs, **attributes)
        name = url.rsplit("/", 1)[1]
        sqs.send_message(QueueUrl=url, MessageBody="before")
        # only lambeam's own writes make such a row (SQS takes XML's characters only)
        MessageQueue(server.project.db).send(name, [Outgoing('{"a": 1}'.encode("utf-16"))])
        sqs.send_message(QueueUrl=url, MessageBody="after")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["Body"] for m in got) == ["after", "before"]
    counts = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_redrive_to_a_deleted_queue_keeps_the_message(sqs: Any) -> None:
    dlq = _queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": 1})
    url = _queue(sqs, RedrivePolicy=policy, VisibilityTimeout="0")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "poison"
    sqs.delete_queue(QueueUrl=dlq)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "poison"

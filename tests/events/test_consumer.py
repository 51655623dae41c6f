"""Queues mapped to functions, against a running server with unmodified boto3 `sqs` and `lambda`
clients, on SQLite and PostgreSQL: batches, partial failures, functions that time out or run
out of memory, the dead-letter queue, and AWS's documented SQS event."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.config import EventTimings
from lambeam.events.mappings import create_event_source_mapping
from lambeam.invoke import logs_folder
from lambeam.runtime import FileLogSink
from tests.server.conftest import RunningServer, start_server, zip_of
from tests.services import postgres_schema

FIXTURE = Path(__file__).parent / "fixtures" / "sqs.json"

# What a user's handler does with a batch, by each body's first word; every event is printed
# first, so that the test reads what the function was given from its log.
APP = """
import json, time

def handler(event, context):
    print("EVENT " + json.dumps(event), flush=True)
    failures = []
    for record in event["Records"]:
        body = record["body"]
        if body.startswith("slow"):
            time.sleep(10)
        elif body.startswith("oom"):
            hold = b"x" * (600 << 20)
        elif body.startswith("raise"):
            raise RuntimeError(body)
        elif body.startswith("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
        elif body.startswith("bogus"):
            failures.append({"itemIdentifier": "not-a-message-of-this-batch"})
        elif body.startswith("busy"):
            started = time.time()
            time.sleep(0.5)
            print("BUSY " + json.dumps([started, time.time()]), flush=True)
    return {"batchItemFailures": failures}
"""
# The same five lines run on AWS's documented event and on lambeam's.
FIVE_LINES = """
import json
def handler(event, context):
    seen = [[r["eventSource"], r["body"], r["md5OfBody"], r["attributes"]["ApproximateReceiveCount"], {k: v["stringValue"] for k, v in r["messageAttributes"].items()}] for r in event["Records"]]
    print("HANDLED " + json.dumps(sorted(seen, key=json.dumps)), flush=True)
    return {"batchItemFailures": []}
"""
_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
_names = count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("mappings")) / "proj"
    timings = EventTimings((0.2, 0.4), 0.05)
    if request.param == "sqlite":
        running = start_server(root, events=timings)
        yield running
    else:
        with postgres_schema() as url:
            running = start_server(root, database_url=url, events=timings)
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
        config=_CONFIG,
    )


@pytest.fixture
def sqs(server: RunningServer) -> Any:
    return _client(server, "sqs")


@pytest.fixture
def lam(server: RunningServer) -> Any:
    return _client(server, "lambda")


def _name(what: str) -> str:
    return f"{what}-{next(_names)}"


def _function(lam: Any, code: str = APP, **config: Any) -> str:
    name = _name("worker")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": code})},
        **config,
    )
    return name


def _queue(sqs: Any, *, dead_letter: str | None = None, **attributes: str) -> tuple[str, str]:
    """A fresh queue (its URL and ARN), redriven to `dead_letter`'s ARN after 2 receives."""
    if dead_letter is not None:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter, "maxReceiveCount": 2}
        )
    url = sqs.create_queue(QueueName=_name("q"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _until(what: str, check: Callable[[], Any], timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.1)


def _logged(server: RunningServer, function: str, tag: str) -> list[Any]:
    """What the function printed after `tag`, decoded, oldest first."""
    sink = FileLogSink(logs_folder(server.project))
    if not sink.path(function).exists():
        return []
    return [
        json.loads(line.split(tag + " ", 1)[1]) for line in sink.read(function) if tag + " " in line
    ]


def _statuses(server: RunningServer, function: str) -> list[str]:
    """How each invocation ended, from its REPORT line ("timeout", "error Runtime.…")."""
    sink = FileLogSink(logs_folder(server.project))
    return [
        " ".join(line.split("Status: ", 1)[1].replace("Error Type: ", "").split())
        for line in sink.read(function)
        if line.startswith("REPORT") and "Status: " in line
    ]


def _records(server: RunningServer, function: str) -> list[dict[str, Any]]:
    return [r for event in _logged(server, function, "EVENT") for r in event["Records"]]


def _counts(server: RunningServer, function: str) -> dict[str, list[int]]:
    """Each body's ApproximateReceiveCount at each delivery."""
    seen: dict[str, list[int]] = {}
    for record in _records(server, function):
        seen.setdefault(record["body"], []).append(
            int(record["attributes"]["ApproximateReceiveCount"])
        )
    return seen


def _drained(sqs: Any, url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(found[name] == "0" for name in names)


def _dead(sqs: Any, url: str, want: int) -> list[str]:
    """The bodies in dead-letter queue `url`, once there are `want` of them."""
    bodies: list[str] = []

    def enough() -> bool:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        bodies.extend(m["Body"] for m in got.get("Messages", []))
        return len(bodies) >= want

    _until(f"{want} messages in the dead-letter queue", enough)
    return sorted(bodies)


def _refused(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_a_mapping_end_to_end(server: RunningServer, sqs: Any, lam: Any) -> None:
    function = _function(lam, Timeout=5)
    url, arn = _queue(sqs)
    made = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert made["State"] == "Creating" and made["BatchSize"] == 10
    assert made["MaximumBatchingWindowInSeconds"] == 0 and made["FunctionResponseTypes"] == []
    assert made["EventSourceArn"] == arn
    assert made["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    assert made["LastModified"].tzinfo is not None
    uuid = made["UUID"]
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
    listed = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    assert (
        lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"][0]["UUID"] == uuid
    )

    entries = [{"Id": str(i), "MessageBody": f"order {i}"} for i in range(10)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {**e, "Id": e["Id"] + "b", "MessageBody": e["MessageBody"] + "b"} for e in entries
        ],
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody="with attributes",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    _until("21 messages handled", lambda: len(_counts(server, function)) == 21)
    _until("the queue drained", lambda: _drained(sqs, url))
    records = {r["body"]: r for r in _records(server, function)}
    assert all(len(event["Records"]) <= 10 for event in _logged(server, function, "EVENT"))
    record = records["with attributes"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == hashlib.md5(b"with attributes").hexdigest()
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "greeting",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    # a handler may settle a record itself with the receipt handle it was given
    assert sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])

    disabling = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabling["State"] == "Disabling"
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    sqs.send_message(QueueUrl=url, MessageBody="while disabled")
    time.sleep(1)  # twenty poll intervals: a disabled mapping leaves the message where it is
    assert "while disabled" not in _counts(server, function)
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabling"
    _until(
        "the message sent while disabled handled",
        lambda: "while disabled" in _counts(server, function),
    )

    assert lam.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
    code, _ = _refused(lambda: lam.get_event_source_mapping(UUID=uuid))
    assert code == "ResourceNotFoundException"


def test_lambdas_rules_through_boto3(server: RunningServer, sqs: Any, lam: Any) -> None:
    function = _function(lam, Timeout=60)
    _, short = _queue(sqs, VisibilityTimeout="30")
    assert _refused(
        lambda: lam.create_event_source_mapping(EventSourceArn=short, FunctionName=function)
    ) == (
        "InvalidParameterValueException",
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds",
    )
    _, arn = _queue(sqs, VisibilityTimeout="60")
    code, message = _refused(
        lambda: lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, BatchSize=100
        )
    )
    assert code == "InvalidParameterValueException"
    assert message == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater"
        " than 10"
    )
    code, _ = _refused(
        lambda: lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, ScalingConfig={"MaximumConcurrency": 1001}
        )
    )
    assert code == "ValidationException"
    made = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function,
        BatchSize=10_000,
        MaximumBatchingWindowInSeconds=300,
        ScalingConfig={"MaximumConcurrency": 2},
        FunctionResponseTypes=["ReportBatchItemFailures"],
        Enabled=False,
    )
    assert made["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert made["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    code, message = _refused(
        lambda: lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    )
    assert code == "ResourceConflictException" and made["UUID"] in message
    updated = lam.update_event_source_mapping(UUID=made["UUID"], ScalingConfig={})
    assert "ScalingConfig" not in updated and updated["State"] == "Updating"
    code, _ = _refused(
        lambda: lam.create_event_source_mapping(
            EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/s",
            FunctionName=function,
        )
    )
    assert code == "InvalidParameterValueException"


def test_only_the_records_a_function_reports_come_back(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=1)
    dlq_url, dlq_arn = _queue(sqs)
    url, arn = _queue(sqs, dead_letter=dlq_arn, VisibilityTimeout="1")
    # sent before the mapping exists, so that each queue's first receive takes them together
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": b, "MessageBody": b} for b in ("ok-1", "fail-1", "ok-2")],
    )
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    assert _dead(sqs, dlq_url, 1) == ["fail-1"]
    counts = _counts(server, function)
    assert counts["ok-1"] == [1] and counts["ok-2"] == [1]
    assert counts["fail-1"] == [1, 2]
    _until("the queue drained", lambda: _drained(sqs, url))


@pytest.mark.parametrize("trouble", ["bogus", "raise"])
def test_an_unknown_identifier_or_an_error_fails_the_whole_batch(
    server: RunningServer, sqs: Any, lam: Any, trouble: str
) -> None:
    function = _function(lam, Timeout=1)
    dlq_url, dlq_arn = _queue(sqs)
    url, arn = _queue(sqs, dead_letter=dlq_arn, VisibilityTimeout="1")
    bodies = [f"{trouble}-1", "fine-1", "fine-2"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    assert _dead(sqs, dlq_url, 3) == sorted(bodies)
    assert all(seen == [1, 2] for seen in _counts(server, function).values())


@pytest.mark.parametrize("trouble", ["slow", "oom"])
def test_a_batch_that_times_out_or_runs_out_of_memory_comes_back_then_goes_to_the_dlq(
    server: RunningServer, sqs: Any, lam: Any, trouble: str
) -> None:
    # out of memory well before its timeout, however slowly this host hands out the memory
    timeout = 1 if trouble == "slow" else 5
    function = _function(lam, Timeout=timeout, MemorySize=128)
    dlq_url, dlq_arn = _queue(sqs)
    # A visibility timeout as long as the function's would let the lease lapse while a batch
    # that times out is still being ended (and receive it again meanwhile): AWS advises more.
    visibility = timeout + 2 if trouble == "slow" else timeout
    url, arn = _queue(sqs, dead_letter=dlq_arn, VisibilityTimeout=str(visibility))
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate([trouble, "innocent"])],
    )
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    assert _dead(sqs, dlq_url, 2) == sorted([trouble, "innocent"])
    assert _counts(server, function) == {trouble: [1, 2], "innocent": [1, 2]}
    ended = "timeout" if trouble == "slow" else "error Runtime.OutOfMemory"
    assert _statuses(server, function) == [ended, ended]
    _until("the queue drained", lambda: _drained(sqs, url))


def test_maximum_concurrency_bounds_the_batches_running_at_once(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=5)
    url, arn = _queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"busy {i}"} for i in range(8)]
    )
    lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function,
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    spans = _until(
        "8 batches run", lambda: (s := _logged(server, function, "BUSY")) and len(s) == 8 and s
    )
    # at no moment were more than two batches inside the handler
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2


def test_a_batching_window_gathers_messages_sent_apart(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=5)
    url, arn = _queue(sqs)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, BatchSize=100, MaximumBatchingWindowInSeconds=2
    )
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"a{i}"} for i in range(10)]
    )
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"b{i}"} for i in range(5)]
    )
    events = _until("the batch handled", lambda: _logged(server, function, "EVENT"))
    assert [len(event["Records"]) for event in events] == [15]


def test_a_mapping_made_by_another_process_is_polled_from_the_next_poll(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    function = _function(lam, Timeout=5)
    url, arn = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="made elsewhere")
    # written to the database directly, as the CLI or another server does: nothing wakes this one
    create_event_source_mapping(server.project.db, function, arn.rsplit(":", 1)[1])
    _until("the message handled", lambda: "made elsewhere" in _counts(server, function))


def test_the_same_five_line_handler_reads_awss_example_and_lambeams_event(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    example = json.loads(FIXTURE.read_text())
    namespace: dict[str, Any] = {}
    exec(FIVE_LINES, namespace)  # the handler as a user would try it locally
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert namespace["handler"](example, None) == {"batchItemFailures": []}
    on_aws = json.loads(printed.getvalue().split("HANDLED ", 1)[1])

    function = _function(lam, code=FIVE_LINES, Timeout=5)
    url, arn = _queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "a",
                "MessageBody": "Test message.",
                "MessageAttributes": {
                    "myAttribute": {"DataType": "String", "StringValue": "myValue"}
                },
            },
            {"Id": "b", "MessageBody": "Test message."},
        ],
    )
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    handled = _until("the batch handled", lambda: _logged(server, function, "HANDLED"))
    assert handled == [on_aws]


def test_lambeams_records_have_the_keys_of_awss_example(
    server: RunningServer, sqs: Any, lam: Any
) -> None:
    example = json.loads(FIXTURE.read_text())["Records"]
    function = _function(lam, Timeout=5)
    url, arn = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="plain")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function)
    record = _until("the message handled", lambda: _records(server, function))[0]
    assert set(record) == set(example[1])
    assert set(record["attributes"]) == set(example[1]["attributes"])
    assert all(isinstance(value, str) for value in record["attributes"].values())

"""Asynchronous invocation's faces against a running server: an unmodified boto3 `lambda`
client's event invoke configs and DeadLetterConfig, REST invoke-async and configs, and the CLI's
`invocations` and `dlq` on what the dispatcher recorded and sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.cli import main
from lambeam.config import EventTimings
from lambeam.events.invocations import InvocationRecord, get_invocation
from lambeam.events.invoke_config import put_event_invoke_config
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.invoke.request import MAX_EVENT_PAYLOAD_BYTES
from tests.server.conftest import RunningServer, start_server, zip_of
from tests.server.keyed import fresh_name
from tests.server.keyed import rest_call as _rest

APP = """\
def handler(event, context):
    print("handling", event)
    if event.get("fail"):
        raise RuntimeError("boom")
    return {"ok": event}
"""
ZIP = zip_of({"app.py": APP})
ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("async")) / "proj"
    running = start_server(root, events=EventTimings((0.2, 0.4), 0.05))
    # for the CLI: the project the server serves
    url = running.project.settings.database_url
    (root / "lambeam.toml").write_text(
        f'[project]\nname = "async"\n[storage]\ndatabase_url = "{url}"\n'
    )
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
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


def _function(server: RunningServer) -> str:
    name = fresh_name()
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(
        server.project.db, server.project.store, name, config, code=CodeBundle.from_zip(ZIP)
    )
    return name


def _queue(server: RunningServer) -> str:
    """A fresh SQS queue made through the SQS API; its ARN."""
    name = f"q-{fresh_name()}"
    _client(server, "sqs").create_queue(QueueName=name)
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def _done(server: RunningServer, request_id: str) -> InvocationRecord:
    """The invocation's record once it is final (bounded wait)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        record = get_invocation(server.project.db, request_id)
        if record.status in ("succeeded", "failed"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"invocation {request_id} did not finish: {record}")


def _cli(server: RunningServer, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["-C", str(server.project.settings.root), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_event_invoke_configs_through_boto3(server: RunningServer) -> None:
    lam = _client(server, "lambda")
    name = fresh_name()
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=f"arn:aws:iam::{ACCOUNT}:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": ZIP},
        Publish=True,
    )
    failures = _queue(server)
    assert _code(lambda: lam.get_function_event_invoke_config(FunctionName=name)) == (
        "ResourceNotFoundException"
    )

    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures}},
    )
    assert put["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:$LATEST"
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (0, 21600)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": failures}}
    assert put["LastModified"].year >= 2024

    updated = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=120
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 120)
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": failures}
    got = lam.get_function_event_invoke_config(FunctionName=f"{name}:$LATEST")
    assert got["MaximumEventAgeInSeconds"] == 120

    success = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    lam.put_function_event_invoke_config(
        FunctionName=name, Qualifier="1", DestinationConfig={"OnSuccess": {"Destination": success}}
    )
    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed["FunctionEventInvokeConfigs"]] == [
        "$LATEST",
        "1",
    ]
    first = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    rest = lam.list_function_event_invoke_configs(FunctionName=name, Marker=first["NextMarker"])
    assert [c["FunctionArn"] for c in first["FunctionEventInvokeConfigs"]] == [
        listed["FunctionEventInvokeConfigs"][0]["FunctionArn"]
    ]
    assert rest["FunctionEventInvokeConfigs"][0]["DestinationConfig"]["OnSuccess"] == {
        "Destination": success
    }
    assert "NextMarker" not in rest

    assert (
        _code(
            lambda: lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3)
        )
        == "ValidationException"
    )
    assert (
        _code(
            lambda: lam.put_function_event_invoke_config(
                FunctionName=name,
                DestinationConfig={"OnFailure": {"Destination": failures + "-gone"}},
            )
        )
        == "InvalidParameterValueException"
    )
    assert (
        _code(
            lambda: lam.put_function_event_invoke_config(
                FunctionName=name, Qualifier="prod", MaximumRetryAttempts=1
            )
        )
        == "ResourceNotFoundException"
    )

    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    assert (
        _code(lambda: lam.get_function_event_invoke_config(FunctionName=name, Qualifier="1"))
        == "ResourceNotFoundException"
    )
    assert (
        _code(lambda: lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="1"))
        == "ResourceNotFoundException"
    )

    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": failures})
    shown = lam.get_function_configuration(FunctionName=name)
    assert shown["DeadLetterConfig"] == {"TargetArn": failures}
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)


def test_invoke_async_records_destinations_and_replay(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _function(server)
    failures = _queue(server).rsplit(":", 1)[1]
    bearer = f"Bearer {server.key.id}:{server.key.secret}"
    path = f"/v1/functions/{name}/event-invoke-config"
    status, config = _rest(
        server, ("PUT", path, {"maximum_retry_attempts": 1, "on_failure": failures}), bearer
    )
    assert status == 200, config
    assert config["on_failure"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{failures}"
    status, changed = _rest(server, ("PATCH", path, {"maximum_event_age": 600}), bearer)
    assert (changed["maximum_retry_attempts"], changed["maximum_event_age"]) == (1, 600)
    listed = _rest(server, ("GET", f"/v1/functions/{name}/event-invoke-configs", None), bearer)
    assert [c["qualifier"] for c in listed[1]["event_invoke_configs"]] == ["$LATEST"]

    status, accepted = _rest(
        server, ("POST", f"/v1/functions/{name}/invoke-async", {"fail": True}), bearer
    )
    assert status == 202, accepted
    request_id = accepted["request_id"]
    status, ok = _rest(server, ("POST", f"/v1/functions/{name}/invoke-async", {"n": 1}), bearer)
    assert status == 202
    too_big = {"x": "y" * MAX_EVENT_PAYLOAD_BYTES}
    status, refused = _rest(server, ("POST", f"/v1/functions/{name}/invoke-async", too_big), bearer)
    assert status == 413 and str(MAX_EVENT_PAYLOAD_BYTES) in refused["error"]["message"]

    failed = _done(server, request_id)
    assert (failed.status, failed.attempts, failed.error_type) == ("failed", 2, "RuntimeError")
    assert [a.error_message for a in failed.history] == ["boom", "boom"]
    assert any("handling" in line for line in failed.history[0].log_lines)
    assert _done(server, ok["request_id"]).status == "succeeded"

    listing = json.loads(_cli(server, capsys, "invocations", "ls", name, "--json"))
    assert {(r["request_id"], r["status"]) for r in listing} == {
        (request_id, "failed"),
        (ok["request_id"], "succeeded"),
    }
    shown = _cli(server, capsys, "invocations", "show", request_id)
    assert "attempt 2: error" in shown and "RuntimeError: boom" in shown and "handling" in shown
    assert '{"ok": {"n": 1}}' in _cli(server, capsys, "invocations", "show", ok["request_id"])

    events = json.loads(_cli(server, capsys, "dlq", "ls", name, "--json"))
    assert [(e["request_id"], e["shape"], e["event"], e["condition"]) for e in events] == [
        (request_id, "record", {"fail": True}, "RetriesExhausted")
    ]
    assert "boom" in _cli(server, capsys, "dlq", "show", name, events[0]["message_id"])
    replayed = json.loads(_cli(server, capsys, "dlq", "replay", name, "--all", "--json"))
    assert [r["message_id"] for r in replayed] == [events[0]["message_id"]]
    again = _done(server, replayed[0]["request_id"])
    assert (again.status, again.attempts) == ("failed", 2)
    events = json.loads(_cli(server, capsys, "dlq", "ls", name, "--json"))
    assert [e["request_id"] for e in events] == [again.request_id]


def test_a_dead_letter_queue_gets_the_event_without_a_failure_destination(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _function(server)
    dead = _queue(server).rsplit(":", 1)[1]
    bearer = f"Bearer {server.key.id}:{server.key.secret}"
    status, body = _rest(
        server, ("PATCH", f"/v1/functions/{name}", {"config": {"dead_letter_target": dead}}), bearer
    )
    assert status == 200, body
    put_event_invoke_config(server.project.db, name, maximum_retry_attempts=0)
    lam = _client(server, "lambda")
    answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": 1}')
    assert answer["StatusCode"] == 202
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert _done(server, request_id).attempts == 1

    events = json.loads(_cli(server, capsys, "dlq", "ls", name, "--json"))
    assert [(e["request_id"], e["shape"], e["event"]) for e in events] == [
        (request_id, "dead-letter", {"fail": 1})
    ]
    received = _client(server, "sqs").receive_message(
        QueueUrl=f"{server.url}/{ACCOUNT}/{dead}", MessageAttributeNames=["All"]
    )["Messages"]
    assert received[0]["MessageAttributes"]["RequestID"]["StringValue"] == request_id
    assert json.loads(received[0]["Body"]) == {"fail": 1}  # the event itself

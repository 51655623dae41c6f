"""What a request points at is authorized against its key, not only what its route acts on:
a key allowed everything on its own function, topic, schedule or queue cannot make lambeam
read, send to or invoke another's (review of issue 13, findings 1, 3, 4 and the redrive
target of 13), on both faces of a running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.events.mappings import create_event_source_mapping, get_event_source_mapping
from lambeam.events.queues import create_queue, get_queue
from lambeam.events.schedules import create_schedule, get_schedule
from lambeam.events.topics import create_topic, list_subscriptions, subscribe
from lambeam.security import AccessKey
from tests.server.conftest import RunningServer, start_server
from tests.server.keyed import arn, code_function, key_with, rest_call

_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
_QUEUE = "arn:aws:sqs:us-east-1:000000000000:{}"
_FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:{}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("authz")) / "proj")
    yield running
    running.stop()
    running.project.close()


def _allow(action: str, resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _client(server: RunningServer, key: AccessKey, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key.id,
        aws_secret_access_key=key.secret,
        config=_CONFIG,
    )


def _rest(server: RunningServer, key: AccessKey, method: str, path: str, body: Any = None) -> Any:
    return rest_call(server, (method, path, body), f"Bearer {key.id}:{key.secret}")


def _denied(call: Any, action: str) -> None:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403, error
    assert action in error["Error"]["Message"]


def _queue(server: RunningServer, name: str) -> str:
    create_queue(server.project.db, name)
    return name


def test_a_mapping_reads_only_a_queue_its_key_may_read(server: RunningServer) -> None:
    mine = code_function(server)
    secret = _queue(server, f"{mine}-secret")
    own = _queue(server, f"{mine}-own")
    key = key_with(server, _allow("lambda:*", arn(mine)))
    lam = _client(server, key, "lambda")

    _denied(
        lambda: lam.create_event_source_mapping(
            FunctionName=mine, EventSourceArn=_QUEUE.format(secret)
        ),
        "sqs:ReceiveMessage",
    )
    status, body = _rest(
        server, key, "POST", "/v1/event-source-mappings", {"function": mine, "queue": secret}
    )
    assert status == 403 and "sqs:ReceiveMessage" in body["error"]["message"]
    assert lam.list_event_source_mappings(FunctionName=mine)["EventSourceMappings"] == []

    reader = key_with(
        server,
        _allow("lambda:*", arn(mine)),
        _allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            f"arn:aws:sqs:*:*:{own}",
        ),
    )
    made = _client(server, reader, "lambda").create_event_source_mapping(
        FunctionName=mine, EventSourceArn=_QUEUE.format(own), Enabled=False
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 202


def test_a_mapping_moves_only_to_a_function_its_key_may_invoke(server: RunningServer) -> None:
    mine, victim = code_function(server), code_function(server)
    queue = _queue(server, f"{mine}-q")
    uuid = create_event_source_mapping(server.project.db, mine, queue, enabled=False).uuid
    key = key_with(server, _allow("lambda:*", arn(mine)))
    lam = _client(server, key, "lambda")

    _denied(
        lambda: lam.update_event_source_mapping(UUID=uuid, FunctionName=victim),
        "lambda:InvokeFunction",
    )
    status, body = _rest(
        server, key, "PATCH", f"/v1/event-source-mappings/{uuid}", {"function": victim}
    )
    assert status == 403 and "lambda:InvokeFunction" in body["error"]["message"]
    assert get_event_source_mapping(server.project.db, uuid).function == mine
    # naming the function it already invokes asks nothing more
    kept = lam.update_event_source_mapping(UUID=uuid, FunctionName=mine, BatchSize=5)
    assert kept["ResponseMetadata"]["HTTPStatusCode"] == 202

    mover = key_with(
        server, _allow("lambda:*", arn(mine)), _allow("lambda:InvokeFunction", arn(victim))
    )
    status, body = _rest(
        server, mover, "PATCH", f"/v1/event-source-mappings/{uuid}", {"function": victim}
    )
    assert status == 200, body
    assert get_event_source_mapping(server.project.db, uuid).function == victim


def test_destinations_are_only_what_the_key_may_send_to(server: RunningServer) -> None:
    mine, victim = code_function(server), code_function(server)
    secret = _queue(server, f"{mine}-secret")
    key = key_with(server, _allow("lambda:*", arn(mine)))
    lam = _client(server, key, "lambda")

    _denied(
        lambda: lam.put_function_event_invoke_config(
            FunctionName=mine,
            DestinationConfig={"OnFailure": {"Destination": _FUNCTION.format(victim)}},
        ),
        "lambda:InvokeFunction",
    )
    _denied(
        lambda: lam.update_function_event_invoke_config(
            FunctionName=mine,
            DestinationConfig={"OnSuccess": {"Destination": _QUEUE.format(secret)}},
        ),
        "sqs:SendMessage",
    )
    path = f"/v1/functions/{mine}/event-invoke-config"
    status, body = _rest(server, key, "PUT", path, {"on_success": secret})  # a bare name
    assert status == 403 and "sqs:SendMessage" in body["error"]["message"]
    assert _rest(server, key, "GET", path)[0] == 404  # nothing was set

    sender = key_with(
        server,
        _allow("lambda:*", arn(mine)),
        _allow("sqs:SendMessage", f"arn:aws:sqs:*:*:{secret}"),
    )
    status, body = _rest(server, sender, "PUT", path, {"on_success": secret})
    assert status == 200 and body["on_success"].endswith(f":{secret}")


def test_a_subscription_delivers_only_where_its_key_may(server: RunningServer) -> None:
    victim = code_function(server)
    topic = f"{victim}-topic"
    create_topic(server.project.db, topic)
    secret = _queue(server, f"{victim}-secret")
    key = key_with(server, _allow("sns:*", f"arn:aws:sns:*:*:{topic}"))
    path = f"/v1/topics/{topic}/subscriptions"

    status, body = _rest(server, key, "POST", path, {"protocol": "sqs", "endpoint": secret})
    assert status == 403 and "sqs:SendMessage" in body["error"]["message"]
    status, body = _rest(server, key, "POST", path, {"protocol": "lambda", "endpoint": victim})
    assert status == 403 and "lambda:InvokeFunction" in body["error"]["message"]
    assert list_subscriptions(server.project.db, topic) == []

    allowed = key_with(
        server,
        _allow("sns:*", f"arn:aws:sns:*:*:{topic}"),
        _allow("sqs:SendMessage", f"arn:aws:sqs:*:*:{secret}"),
    )
    status, body = _rest(
        server, allowed, "POST", path, {"protocol": "sqs", "endpoint": _QUEUE.format(secret)}
    )
    assert status == 201, body


def test_unsubscribe_ends_only_its_topics_subscription(server: RunningServer) -> None:
    fn = code_function(server)
    mine, other = f"{fn}-mine", f"{fn}-other"
    for topic in (mine, other):
        create_topic(server.project.db, topic)
    theirs = subscribe(server.project.db, other, "lambda", fn)
    own = subscribe(server.project.db, mine, "lambda", fn)
    key = key_with(server, _allow("sns:*", f"arn:aws:sns:*:*:{mine}"))

    status, body = _rest(server, key, "DELETE", f"/v1/topics/{mine}/subscriptions/{theirs.id}")
    assert status == 404 and body["error"]["type"] == "SubscriptionNotFoundError"
    assert [s.id for s in list_subscriptions(server.project.db, other)] == [theirs.id]
    assert _rest(server, key, "DELETE", f"/v1/topics/{mine}/subscriptions/{own.arn}")[0] == 204
    assert list_subscriptions(server.project.db, mine) == []


def test_a_topic_arn_in_the_path_is_the_topic(server: RunningServer) -> None:
    topic = f"{code_function(server)}-t"
    create_topic(server.project.db, topic)
    topic_arn = f"arn:aws:sns:us-east-1:000000000000:{topic}"
    key = key_with(
        server,
        _allow("sns:*", "*"),
        {"Effect": "Deny", "Action": "sns:Publish", "Resource": topic_arn},
    )
    for spelt in (topic, topic_arn):
        status, body = _rest(server, key, "POST", f"/v1/topics/{spelt}/publish", {"message": "x"})
        assert status == 403 and "explicit deny" in body["error"]["message"], spelt
    status, body = _rest(server, key, "GET", f"/v1/topics/{topic_arn}")
    assert status == 200 and body["name"] == topic


def test_a_schedule_invokes_only_a_function_its_key_may_invoke(server: RunningServer) -> None:
    mine, victim = code_function(server), code_function(server)
    key = key_with(server, _allow("scheduler:*", "*"), _allow("lambda:InvokeFunction", arn(mine)))

    body = {"name": victim, "expression": "rate(1 day)", "function": victim}
    status, answer = _rest(server, key, "POST", "/v1/schedules", body)
    assert status == 403 and "lambda:InvokeFunction" in answer["error"]["message"]
    assert _rest(server, key, "GET", f"/v1/schedules/{victim}")[0] == 404

    create_schedule(server.project.db, mine, "rate(1 day)", mine, enabled=False)
    status, answer = _rest(server, key, "PATCH", f"/v1/schedules/{mine}", {"function": victim})
    assert status == 403 and "lambda:InvokeFunction" in answer["error"]["message"]
    assert get_schedule(server.project.db, mine).function == mine
    assert _rest(server, key, "PATCH", f"/v1/schedules/{mine}", {"enabled": True})[0] == 200
    body = {"name": f"{mine}-2", "expression": "rate(1 day)", "function": mine}
    assert _rest(server, key, "POST", "/v1/schedules", body)[0] == 201


def test_a_redrive_policy_moves_messages_only_where_its_key_may_send(
    server: RunningServer,
) -> None:
    base = code_function(server)
    mine, secret = _queue(server, f"{base}-mine"), _queue(server, f"{base}-secret")
    key = key_with(server, _allow("sqs:*", f"arn:aws:sqs:*:*:{base}-mine*"))
    sqs = _client(server, key, "sqs")
    policy = {
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": _QUEUE.format(secret), "maxReceiveCount": 1}
        )
    }

    url = sqs.get_queue_url(QueueName=mine)["QueueUrl"]
    _denied(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes=policy), "sqs:SendMessage")
    assert get_queue(server.project.db, mine).dead_letter is None
    _denied(lambda: sqs.create_queue(QueueName=f"{mine}-2", Attributes=policy), "sqs:SendMessage")

    own = {
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": _QUEUE.format(f"{mine}-dlq"), "maxReceiveCount": 1}
        )
    }
    sqs.create_queue(QueueName=f"{mine}-dlq")
    sqs.set_queue_attributes(QueueUrl=url, Attributes=own)
    dead_letter = get_queue(server.project.db, mine).dead_letter
    assert dead_letter is not None and dead_letter.queue == f"{mine}-dlq"


def test_a_dead_letter_target_needs_send_on_it(server: RunningServer) -> None:
    mine = code_function(server)
    secret = _queue(server, f"{mine}-dlq-secret")
    own = _queue(server, f"{mine}-dlq-own")
    key = key_with(
        server,
        _allow("lambda:*", arn(mine)),
        _allow("sqs:SendMessage", _QUEUE.format(own)),
    )
    lam = _client(server, key, "lambda")
    for target in (_QUEUE.format(secret), secret):  # as an ARN and as a bare name
        _denied(
            lambda target=target: lam.update_function_configuration(
                FunctionName=mine, DeadLetterConfig={"TargetArn": target}
            ),
            "sqs:SendMessage",
        )
    lam.update_function_configuration(FunctionName=mine, DeadLetterConfig={"TargetArn": own})
    shown = lam.get_function_configuration(FunctionName=mine)
    assert shown["DeadLetterConfig"] == {"TargetArn": _QUEUE.format(own)}
    lam.update_function_configuration(FunctionName=mine, DeadLetterConfig={"TargetArn": ""})

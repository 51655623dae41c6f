"""Invocation records and failed events on SQLite and PostgreSQL: listing, the two shapes a
failed event arrives in (Lambda's invocation record, a dead-letter message), replay in one
transaction, and a queue shared by two functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambeam.errors import ConfigError, InvocationNotFoundError, NotFoundError
from lambeam.events.asynchronous import ASYNC_QUEUE, enqueue_invocations
from lambeam.events.destinations import Outcome, dead_letter_message, invocation_record
from lambeam.events.failed_events import (
    failed_event_queues,
    get_failed_event,
    list_failed_events,
    replay_failed_events,
)
from lambeam.events.invocations import get_invocation, list_invocations
from lambeam.events.invoke_config import put_event_invoke_config
from lambeam.events.queue import MessageQueue, Outgoing
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.invoke.request import InvocationRequest
from lambeam.project import Project
from lambeam.storage import utcnow
from lambeam.storage.schema import QueueRow
from tests.conftest import make_project
from tests.server.conftest import zip_of

APP = CodeBundle.from_zip(zip_of({"app.py": "def handler(event, context):\n    return 1\n"}))


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Project:
    project = make_project(tmp_path / "proj", database_url)
    for name, dead_letter in (("score", "dead"), ("other", "dead")):
        config = FunctionConfig(kind="code", handler="app.handler", dead_letter_target=dead_letter)
        create_function(project.db, project.store, name, config, code=APP)
    now = utcnow()
    with project.db.session() as session:
        for queue in ("dead", "failures"):
            session.add(
                QueueRow(name=queue, attributes={}, origin="api", created_at=now, updated_at=now)
            )
    put_event_invoke_config(project.db, "score", on_failure="failures")
    return project


def _failed(queue: MessageQueue, function: str, payload: bytes, qualifier: str | None) -> str:
    (request_id,) = enqueue_invocations(
        queue, [InvocationRequest(function, payload, qualifier, invocation_type="Event")]
    )
    return request_id


def _outcome(request_id: str, payload: bytes) -> Outcome:
    error = b'{"errorType": "RuntimeError", "errorMessage": "boom"}'
    return Outcome(request_id, payload, 200, "$LATEST", "Unhandled", error, 3, 1.0)


def test_records_and_both_shapes_and_replay(project: Project) -> None:
    queue = MessageQueue(project.db)
    via_record = _failed(queue, "score", b'{"n": 1}', "prod")
    via_dead_letter = _failed(queue, "score", b'{"n": 2}', None)
    someone_else = _failed(queue, "other", b'{"n": 3}', None)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:score:$LATEST"
    record = invocation_record(
        _outcome(via_record, b'{"n": 1}'), condition="RetriesExhausted", function_arn=arn
    )
    queue.send("failures", [Outgoing(json.dumps(record).encode())])
    for request_id, payload in ((via_dead_letter, b'{"n": 2}'), (someone_else, b'{"n": 3}')):
        message = dead_letter_message(_outcome(request_id, payload), "RuntimeError", "boom")
        queue.send("dead", [message])

    assert failed_event_queues(project.db, "score") == ["dead", "failures"]
    events = list_failed_events(project.db, "score")
    assert sorted((e.request_id, e.shape, e.qualifier, e.payload) for e in events) == sorted(
        [
            (via_record, "record", "prod", b'{"n": 1}'),
            (via_dead_letter, "dead-letter", None, b'{"n": 2}'),
        ]
    )
    by_shape = {e.shape: e for e in events}
    assert by_shape["record"].condition == "RetriesExhausted"
    assert by_shape["record"].error == "RuntimeError: boom"
    assert by_shape["dead-letter"].error == "boom"
    assert [e.request_id for e in list_failed_events(project.db, "other")] == [someone_else]
    with pytest.raises(NotFoundError):
        get_failed_event(project.db, "other", by_shape["record"].message_id)

    replayed = replay_failed_events(queue, "score", [by_shape["record"].message_id])
    ((message_id, request_id),) = replayed
    assert message_id == by_shape["record"].message_id
    again = get_invocation(project.db, request_id)
    assert (again.function, again.qualifier, again.status) == ("score", "prod", "queued")
    assert [e.shape for e in list_failed_events(project.db, "score")] == ["dead-letter"]
    assert {r.request_id for r in list_invocations(project.db, "score")} == {
        via_record,
        via_dead_letter,
        request_id,
    }
    assert [r.request_id for r in list_invocations(project.db, "score", limit=1)] == [request_id]
    assert list_invocations(project.db, "score", status="failed") == []
    assert queue.counts(ASYNC_QUEUE).visible == 4

    replay_failed_events(queue, "score")
    assert list_failed_events(project.db, "score") == []
    assert [e.request_id for e in list_failed_events(project.db, "other")] == [someone_else]
    with pytest.raises(InvocationNotFoundError):
        get_invocation(project.db, "no-such-request")
    with pytest.raises(ConfigError, match="status must be one of"):
        list_invocations(project.db, "score", status="lost")

"""Schedules against two running servers on one database (SQLite and PostgreSQL): made over
REST, each tick fires its function once (not once per server), with EventBridge's Scheduled
Event, which the same five-line handler reads as it reads AWS's documented example."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lambeam.config import EventTimings
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.storage.schema import InvocationRow, ScheduleTickRow
from tests.server.conftest import RunningServer, start_server, zip_of
from tests.server.keyed import rest_call

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "fixtures"
# The five-line handler: the same code reads AWS's example event and lambeam's.
HANDLER = """\
from datetime import datetime
def handler(event, context):
    assert event["source"] == "aws.events" and event["detail-type"] == "Scheduled Event"
    moment = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    return {"by": event["resources"][0].rsplit("/", 1)[-1], "at": moment.isoformat()}
"""
FAST = EventTimings((0.2, 0.4), 0.05)


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[list[RunningServer]]:
    """Two servers sharing one database and one artifact store (as a scaled-out project does:
    either may run a function the other deployed)."""
    shared = str(tmp_path / "artifacts")
    running = [
        start_server(
            tmp_path / f"server{i}", database_url=database_url, events=FAST, artifacts=shared
        )
        for i in range(2)
    ]
    yield running
    for server in running:
        server.stop()
        server.project.close()


def _rest(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return rest_call(server, (method, path, body), server.bearer["Authorization"])


def _finished(server: RunningServer, count: int) -> list[InvocationRow]:
    """The schedules' invocations once `count` are final (bounded wait)."""
    deadline = time.monotonic() + 120
    while True:
        with server.project.db.session() as session:
            rows = list(session.scalars(select(InvocationRow)))
            session.expunge_all()
        if sum(r.status in ("succeeded", "failed") for r in rows) >= count:
            return rows
        assert time.monotonic() < deadline, [(r.status, r.attempts) for r in rows]
        time.sleep(0.05)


def test_the_handler_reads_awss_documented_scheduled_event() -> None:
    namespace: dict[str, Any] = {}
    exec(HANDLER, namespace)
    event = json.loads((FIXTURES / "scheduled.json").read_text())
    assert namespace["handler"](event, None) == {
        "by": "my-scheduled-rule",
        "at": "2015-10-08T16:53:06",
    }


def test_each_tick_fires_once_across_two_servers(servers: list[RunningServer]) -> None:
    first, second = servers
    config = FunctionConfig(kind="code", handler="app.handler")
    bundle = CodeBundle.from_zip(zip_of({"app.py": HANDLER}))
    create_function(first.project.db, first.project.store, "tick", config, bundle)
    # at(): two seconds from now, on the minute's wall clock in UTC
    at = math.ceil(time.time()) + 2
    expression = f"at({datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%S})"
    status, made = _rest(
        first,
        "POST",
        "/v1/schedules",
        {"name": "soon", "expression": expression, "function": "tick"},
    )
    assert status == 201, made
    assert made["next"] == [datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")]
    # a rate schedule's first tick is its creation, made on the other server
    status, made = _rest(
        second,
        "POST",
        "/v1/schedules",
        {"name": "every-minute", "expression": "rate(1 minute)", "function": "tick"},
    )
    assert status == 201, made

    rows = _finished(first, 2)
    time.sleep(1.0)  # both servers poll twenty times more: nothing fires again
    with first.project.db.session() as session:
        invocations = list(session.scalars(select(InvocationRow)))
        ticks = list(session.scalars(select(ScheduleTickRow)))
        session.expunge_all()
    assert len(invocations) == len(rows) == 2 and len(ticks) == 2
    assert {r.status for r in invocations} == {"succeeded"} and {r.source for r in invocations} == {
        "schedule"
    }
    results = sorted((json.loads(r.result or b"null") for r in invocations), key=lambda r: r["by"])
    assert results[1] == {
        "by": "soon",
        "at": datetime.fromtimestamp(at, UTC).replace(tzinfo=None).isoformat(),
    }
    assert results[0]["by"] == "every-minute"
    status, shown = _rest(second, "GET", "/v1/schedules/soon")
    assert status == 200 and shown["next"] == [] and shown["last_fired"] is not None
    status, listed = _rest(first, "GET", "/v1/schedules?function=tick")
    assert [s["name"] for s in listed["schedules"]] == ["every-minute", "soon"]
    status, _ = _rest(first, "PATCH", "/v1/schedules/every-minute", {"enabled": False})
    assert status == 200
    status, refused = _rest(
        first,
        "POST",
        "/v1/schedules",
        {"name": "x", "expression": "rate(2 minute)", "function": "tick"},
    )
    assert status == 400 and refused["error"]["field"] == "rate"
    # review 13: a huge rate, an expression that never fires, one that is not a string: 400s
    for expression in ("rate(99999999999999999999 minutes)", "cron(* * 30W 2 ? *)"):
        status, refused = _rest(
            first,
            "POST",
            "/v1/schedules",
            {"name": "x", "expression": expression, "function": "tick"},
        )
        assert status == 400, refused
    status, refused = _rest(first, "PATCH", "/v1/schedules/every-minute", {"expression": 5})
    assert status == 400 and refused["error"]["field"] == "expression", refused
    assert _rest(first, "GET", "/v1/schedules")[0] == 200
    assert _rest(first, "DELETE", "/v1/schedules/soon")[0] == 204
    assert _rest(second, "GET", "/v1/schedules/soon")[0] == 404

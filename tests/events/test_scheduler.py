"""The scheduler on SQLite and PostgreSQL: each tick once across servers, the missed-tick rule,
and EventBridge's Scheduled Event. A clock the test moves stands in for waiting."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.scheduler import (
    MISSED_TICK_WINDOW_S,
    TICK_RETENTION_S,
    Fired,
    Scheduler,
    scheduled_event,
    scheduler_for,
)
from lambeam.events.schedules import create_schedule, get_schedule, update_schedule
from lambeam.events.service import LOOPS, EventService
from lambeam.invoke import Invoker
from lambeam.project import Project
from lambeam.runtime import Engine
from lambeam.storage.schema import InvocationRow, QueueMessageRow, ScheduleTickRow
from tests.conftest import make_project
from tests.events.test_schedules import add_function

FIXTURES = Path(__file__).with_name("fixtures")
T0 = datetime(2027, 1, 4, 7, 0, tzinfo=UTC).timestamp()  # a Monday, 07:00 UTC


class Clock:
    """Epoch seconds that move only when told (shared by every server of a test)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def servers(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[list[EventService]]:
    """Two servers' events services on one database, each with its own connections."""
    services = []
    for i in range(2):
        project = make_project(tmp_path / f"server{i}", database_url)
        engine = Engine(tmp_path / f"server{i}" / "state")
        services.append(EventService(project, Invoker(project, engine), clock=clock))
    add_function(services[0].project, "report")
    yield services
    for service in services:
        service.project.close()


def _fire_together(schedulers: list[Scheduler]) -> list[Fired]:
    """One pass of every scheduler at once (they meet at a barrier first)."""
    barrier = threading.Barrier(len(schedulers))

    def run(scheduler: Scheduler) -> list[Fired]:
        barrier.wait()
        return scheduler.fire_due()

    with ThreadPoolExecutor(len(schedulers)) as pool:
        return [f for result in pool.map(run, schedulers) for f in result]


def _messages(project: Project) -> list[dict[str, Any]]:
    with project.db.session() as session:
        rows = session.scalars(
            select(QueueMessageRow).where(QueueMessageRow.queue == ASYNC_QUEUE)
        ).all()
        return [{"id": r.id, "body": json.loads(r.body), **r.attributes} for r in rows]


def test_every_tick_fires_once_with_two_servers(servers: list[EventService], clock: Clock) -> None:
    project = servers[0].project
    create_schedule(project.db, "minutely", "rate(1 minute)", "report", clock=clock)
    create_schedule(project.db, "even", "cron(0/2 * * * ? *)", "report", clock=clock)
    create_schedule(project.db, "once", "at(2027-01-04T07:07:00)", "report", input=[1, 2])
    schedulers = [scheduler_for(service) for service in servers]
    fired: list[Fired] = []
    for _step in range(46):  # 15 minutes in steps of 20 s
        fired += _fire_together(schedulers)
        clock.now += 20
    per_tick = Counter((f.schedule, f.tick) for f in fired)
    assert set(per_tick.values()) == {1}
    ticks = {
        name: sorted(t for s, t in per_tick if s == name) for name in ("minutely", "even", "once")
    }
    assert ticks["minutely"] == [T0 + 60 * i for i in range(16)]  # from its creation on
    assert ticks["even"] == [T0 + 120 * i for i in range(8)]
    assert ticks["once"] == [T0 + 420]
    both = Counter(f.request_id in {g.request_id for g in fired} for f in fired)
    assert both == {True: 25}
    # each fired tick is one committed invocation and one message, nothing more
    messages = _messages(project)
    assert sorted(m["id"] for m in messages) == sorted(f.request_id for f in fired)
    with project.db.session() as session:
        invocations = session.scalars(select(InvocationRow)).all()
        assert {(i.request_id, i.source, i.status) for i in invocations} == {
            (f.request_id, "schedule", "queued") for f in fired
        }
        assert len(session.scalars(select(ScheduleTickRow)).all()) == 25
    inputs = [m["body"] for m in messages if m["body"] == [1, 2]]
    assert len(inputs) == 1  # the at() schedule's input, as it is


def test_a_server_that_was_down_fires_the_latest_missed_tick_once(
    servers: list[EventService], clock: Clock
) -> None:
    db = servers[0].project.db
    create_schedule(db, "daily", "cron(0 8 * * ? *)", "report", clock=clock)
    create_schedule(db, "monthly", "cron(0 8 1 * ? *)", "report", clock=clock)
    scheduler = scheduler_for(servers[0])
    # down from 07:00 to 09:30: the 08:00 tick fires on return, once
    clock.now = T0 + 2.5 * 3600
    assert [(f.schedule, f.tick) for f in scheduler.fire_due()] == [("daily", T0 + 3600)]
    assert scheduler.fire_due() == []
    assert scheduler_for(servers[1]).fire_due() == []  # nor does another server fire it again
    # down from Tuesday 07:00 to Wednesday 08:30: Wednesday's tick only (Tuesday's is past)
    clock.now = T0 + 2 * 86400 + 1.5 * 3600
    assert [(f.schedule, f.tick) for f in scheduler.fire_due()] == [
        ("daily", T0 + 2 * 86400 + 3600)
    ]
    # 1 Feb 08:00 is missed by a server down until 2 Feb 08:30: more than the window, skipped
    feb1 = datetime(2027, 2, 1, 8, tzinfo=UTC).timestamp()
    clock.now = feb1 + MISSED_TICK_WINDOW_S + 1800
    assert [f.schedule for f in scheduler.fire_due()] == ["daily"]  # 2 Feb's own tick
    assert get_schedule(db, "monthly").last_tick is None
    # within it (1 Mar 08:00 seen at 2 Mar 07:00, 23 hours late) both missed ticks fire
    clock.now = datetime(2027, 3, 2, 7, tzinfo=UTC).timestamp()
    march1 = datetime(2027, 3, 1, 8, tzinfo=UTC).timestamp()
    assert sorted((f.schedule, f.tick) for f in scheduler.fire_due()) == [
        ("daily", march1),
        ("monthly", march1),
    ]


def test_no_tick_from_before_a_schedule_was_made_enabled_or_changed(
    servers: list[EventService], clock: Clock
) -> None:
    db = servers[0].project.db
    scheduler = scheduler_for(servers[0])
    clock.now = T0 + 30  # 07:00:30: the 07:00 tick was before the schedule
    create_schedule(db, "hourly", "cron(0 * * * ? *)", "report", clock=clock)
    assert scheduler.fire_due() == []
    update_schedule(db, "hourly", enabled=False, clock=clock)
    clock.now = T0 + 3600
    assert scheduler.fire_due() == []  # disabled
    clock.now = T0 + 3600 + 30
    update_schedule(db, "hourly", enabled=True, clock=clock)
    assert scheduler.fire_due() == []  # enabling does not catch up on 08:00
    clock.now = T0 + 2 * 3600
    assert [f.tick for f in scheduler.fire_due()] == [T0 + 2 * 3600]
    assert scheduler.next_tick == T0 + 3 * 3600


def test_the_event_is_eventbridges_scheduled_event(
    servers: list[EventService], clock: Clock
) -> None:
    db = servers[0].project.db
    create_schedule(db, "weekdays", "cron(0 8 ? * MON-FRI *)", "report", timezone="Europe/Paris")
    clock.now = datetime(2027, 1, 4, 7, 0, 5, tzinfo=UTC).timestamp()  # 08:00:05 in Paris
    (fired,) = scheduler_for(servers[0]).fire_due()
    (message,) = _messages(servers[0].project)
    event = message["body"]
    # the rule ARN of AWS's example (source aws.events), named for the schedule
    arn = "arn:aws:events:us-east-1:000000000000:rule/weekdays"
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2027-01-04T07:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {},
    }
    assert message["function"] == "report" and message["source"] == "schedule"
    # the same event from any server that computes it
    assert event == scheduled_event(get_schedule(db, "weekdays"), fired.tick)
    documented = json.loads((FIXTURES / "scheduled.json").read_text())
    assert sorted(event) == sorted(documented)

    def handler(event: dict[str, Any], context: object) -> dict[str, str]:
        if event["source"] != "aws.events" or event["detail-type"] != "Scheduled Event":
            raise ValueError("not a scheduled event")
        moment = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
        return {"by": event["resources"][0].rsplit("/", 1)[-1], "at": moment.isoformat()}

    assert handler(documented, None) == {"by": "my-scheduled-rule", "at": "2015-10-08T16:53:06"}
    assert handler(event, None) == {"by": "weekdays", "at": "2027-01-04T07:00:00"}


def test_old_ticks_are_forgotten_but_each_schedules_latest_is_kept(
    servers: list[EventService], clock: Clock
) -> None:
    db = servers[0].project.db
    create_schedule(db, "hourly", "rate(1 hour)", "report", clock=clock)
    create_schedule(db, "once", "at(2027-01-04T07:30:00)", "report", clock=clock)
    scheduler = scheduler_for(servers[0])
    for hour in range(10 * 24):
        clock.now = T0 + hour * 3600 + 1800
        scheduler.fire_due()
    # fire_due prunes once an hour: what is left is the last 7 days, and once's one tick
    with db.session() as session:
        left = session.scalars(select(ScheduleTickRow.tick).order_by(ScheduleTickRow.tick)).all()
    kept = range(240 - int(TICK_RETENTION_S // 3600), 240)
    assert left == [T0 + 1800] + [T0 + hour * 3600 for hour in kept]
    assert scheduler.prune(clock.now) == 0
    assert scheduler.prune(clock.now + 86400) == 24
    assert get_schedule(db, "once").last_tick == T0 + 1800


def test_the_scheduler_is_one_of_the_servers_loops() -> None:
    assert "run_schedules" in [loop.__name__ for loop in LOOPS]

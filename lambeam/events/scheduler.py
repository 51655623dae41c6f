"""The scheduler: each tick of an enabled schedule becomes one asynchronous invocation.

Exactly once, with any number of servers on one database: a server fires a tick by writing
the (schedule, tick) row of `schedule_ticks` and the invocation in ONE transaction; the row's
primary key lets one writer through, and a server that meets the duplicate knows another fired
it (and its invocation went with the other's rollback). The invocation then runs at least once,
as every asynchronous invocation does (retries, destinations: lambeam.events.dispatcher).

A tick is due from its time until the next tick comes, for at most MISSED_TICK_WINDOW_S (24
hours, EventBridge Scheduler's default maximum event age: how long it keeps trying to deliver a
tick). So a server that was down fires the latest tick it missed, once, when it comes back within
that window; older ticks and the ticks before the latest are skipped, never queued up.

The event is EventBridge's Scheduled Event, as a handler written for an EventBridge schedule
rule expects it (`source` "aws.events", `detail-type` "Scheduled Event", `resources` naming an
EventBridge rule ARN, arn:aws:events:REGION:ACCOUNT:rule/NAME, with the schedule's name, as
AWS's example event does), or the schedule's input as it is when it has one (as Scheduler sends a
target's Input).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from lambeam.errors import ScheduleExpressionError, StorageError
from lambeam.events.asynchronous import ASYNC_QUEUE, enqueue_invocations
from lambeam.events.expressions import Expression
from lambeam.events.queue import MessageQueue
from lambeam.events.schedules import ScheduleInfo, list_schedules, rule_arn
from lambeam.invoke.request import InvocationRequest
from lambeam.runtime import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.storage import Database
from lambeam.storage.schema import ScheduleTickRow

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = [
    "MISSED_TICK_WINDOW_S",
    "SCHEDULES",
    "Fired",
    "Scheduler",
    "due_tick",
    "run_schedules",
    "scheduled_event",
    "scheduler_for",
]

_log = logging.getLogger(__name__)

# What `EventService.wake` calls the scheduler: a schedule made or changed in this process.
SCHEDULES = "lambeam:schedules"
MISSED_TICK_WINDOW_S = 86_400.0
# Fired ticks are kept this long (the latest of each schedule always): far past the window.
TICK_RETENTION_S = 7 * 86_400.0
_PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class Fired:
    """A tick this server fired: its schedule, its time and the invocation's request id."""

    schedule: str
    tick: float
    request_id: str


def due_tick(schedule: ScheduleInfo, now: float, timing: Expression | None = None) -> float | None:
    """The tick of `schedule` to fire at `now`, if one is due: the latest at or before `now`,
    not before the schedule's last change, and less than MISSED_TICK_WINDOW_S old."""
    if not schedule.enabled:
        return None
    tick = (timing or schedule.timing()).previous(now)
    if tick is None or tick < schedule.since or now - tick >= MISSED_TICK_WINDOW_S:
        return None
    return tick


def scheduled_event(
    schedule: ScheduleInfo,
    tick: float,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """EventBridge's Scheduled Event for `tick` of `schedule` (its id is the same on every
    server that computes it)."""
    arn = schedule.arn(region, account_id)
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}#{tick!r}")),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn(schedule.name, region, account_id)],
        "detail": {},
    }


class Scheduler:
    """Fires the due ticks of one database's schedules (blocking: run it in a thread)."""

    def __init__(
        self,
        db: Database,
        queue: MessageQueue,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.queue = queue
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.next_tick: float | None = None  # the soonest tick after the last pass
        self._timings: dict[tuple[str, str, float], Expression] = {}
        self._pruned_at = -_PRUNE_EVERY_S

    def fire_due(self) -> list[Fired]:
        """One pass: fire every due tick not fired yet (by this server or another)."""
        now = self.clock()
        fired: list[Fired] = []
        soonest: float | None = None
        timings: dict[tuple[str, str, float], Expression] = {}
        for schedule in list_schedules(self.db, enabled_only=True):
            key = (schedule.expression, schedule.timezone, schedule.created_at.timestamp())
            try:
                timing = timings[key] = self._timings.get(key) or schedule.timing()
            except ScheduleExpressionError:  # stored by an older lambeam, or by hand
                _log.warning("schedule %s has an unusable expression; skipped", schedule.name)
                continue
            upcoming = timing.next(now)
            if upcoming is not None and (soonest is None or upcoming < soonest):
                soonest = upcoming
            tick = due_tick(schedule, now, timing)
            if tick is None or (schedule.last_tick is not None and schedule.last_tick >= tick):
                continue
            done = self._fire(schedule, tick, now)
            if done is not None:
                fired.append(done)
        self._timings = timings
        self.next_tick = soonest
        if now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune(now)
        return fired

    def _fire(self, schedule: ScheduleInfo, tick: float, now: float) -> Fired | None:
        """Commit the tick's row and its invocation together; None if another server did."""
        if schedule.input is not None:
            event: Any = schedule.input
        else:
            event = scheduled_event(schedule, tick, self.region, self.account_id)
        request = InvocationRequest(
            schedule.function,
            json.dumps(event, separators=(",", ":")).encode(),
            schedule.qualifier,
            invocation_type="Event",
            source="schedule",
            enqueued_at=now,
        )

        def tick_row(connection: Connection) -> None:
            connection.execute(
                insert(ScheduleTickRow).values(
                    schedule=schedule.name,
                    tick=tick,
                    fired_at=now,
                    request_id=request.request_id,
                )
            )

        try:
            (request_id,) = enqueue_invocations(self.queue, [request], also=tick_row)
        except StorageError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Another server fired this tick first (or the schedule was just deleted).
            _log.debug("schedule %s tick %s: fired elsewhere", schedule.name, tick)
            return None
        _log.info("schedule %s fired (tick %s, request %s)", schedule.name, tick, request_id)
        return Fired(schedule.name, tick, request_id)

    def prune(self, now: float) -> int:
        """Forget fired ticks older than TICK_RETENTION_S (each schedule's latest is kept)."""
        later = aliased(ScheduleTickRow)
        newest = (
            select(func.max(later.tick))
            .where(later.schedule == ScheduleTickRow.schedule)
            .scalar_subquery()
        )
        with self.db.writing() as connection:
            result = connection.execute(
                delete(ScheduleTickRow).where(
                    ScheduleTickRow.tick < now - TICK_RETENTION_S, ScheduleTickRow.tick < newest
                )
            )
        return int(result.rowcount or 0)


def scheduler_for(service: EventService) -> Scheduler:
    """The scheduler of a server's events service (its database, queue, region and clock)."""
    engine = service.invoker.engine
    return Scheduler(
        service.project.db,
        service.queue,
        region=engine.region,
        account_id=engine.account_id,
        clock=service.clock,
    )


async def run_schedules(service: EventService) -> None:
    """The scheduler loop of a server (in LOOPS): a pass each poll interval, or sooner when a
    tick or a schedule made in this process is due; fired invocations wake the dispatcher."""
    scheduler = scheduler_for(service)
    while True:
        fired = await asyncio.to_thread(scheduler.fire_due)
        if fired:
            service.wake(ASYNC_QUEUE)
        timeout = service.timings.poll_interval_s
        if scheduler.next_tick is not None:
            timeout = min(timeout, max(0.01, scheduler.next_tick - service.clock()))
        await service.wait(SCHEDULES, timeout)

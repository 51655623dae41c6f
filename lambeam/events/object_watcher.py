"""The server's loop over object triggers: each poll lists every trigger's location and fires
what is new (lambeam.events.objects.scan), then wakes the async dispatcher.

Listings run in threads, one trigger after the other, never on the event loop. A local folder's
listing reads new files for at most objects.SCAN_BUDGET_S seconds; a scan still running after
WAIT_S (a bucket that answers slowly) is left to finish on its own while the loop goes on to
the other triggers, and that trigger is not scanned again until it has finished."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING

from lambeam.errors import LambeamError
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.objects import (
    ObjectTrigger,
    list_object_triggers,
    object_storage_options,
    scan,
)

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = ["WAIT_S", "watch_objects"]

_log = logging.getLogger(__name__)
WAIT_S = 10.0  # how long the loop waits for one trigger's scan before going on to the next


async def watch_objects(service: EventService) -> None:
    """Poll every object trigger each `poll_interval`, forever. A location that cannot be
    listed now (or may not be watched: outside the project root or inside its private paths)
    is logged (once until it recovers) and polled again at the next round."""
    settings = service.project.settings
    options = object_storage_options(settings)
    digests: dict[tuple[str, int, int], str] = {}  # local files' MD5s, by path, size, mtime
    failing: set[str] = set()
    running: dict[str, asyncio.Task[list[str]]] = {}
    engine = service.invoker.engine

    def settled(trigger: ObjectTrigger, task: asyncio.Task[list[str]]) -> int:
        running.pop(trigger.id, None)
        if task.cancelled():
            return 0
        exc = task.exception()
        if isinstance(exc, LambeamError):
            if trigger.id not in failing:
                _log.warning("object trigger %s (%s): %s", trigger.id, trigger.location, exc)
                failing.add(trigger.id)
            return 0
        if exc is not None:
            _log.error("object trigger %s (%s) failed", trigger.id, trigger.location, exc_info=exc)
            return 0
        failing.discard(trigger.id)
        return len(task.result())

    def late(trigger: ObjectTrigger, task: asyncio.Task[list[str]]) -> None:
        if settled(trigger, task):
            service.wake(ASYNC_QUEUE)

    while True:
        triggers = await asyncio.to_thread(list_object_triggers, service.project.db)
        fired = 0
        for trigger in triggers:
            if trigger.id in running:
                continue  # its last scan is still running
            task = asyncio.create_task(
                asyncio.to_thread(
                    scan,
                    service.queue,
                    trigger,
                    options,
                    digests=digests,
                    settings=settings,
                    region=engine.region,
                    account_id=engine.account_id,
                )
            )
            running[trigger.id] = task
            done, _ = await asyncio.wait({task}, timeout=WAIT_S)
            if done:
                fired += settled(trigger, task)
            else:
                _log.warning("object trigger %s (%s): slow scan", trigger.id, trigger.location)
                task.add_done_callback(functools.partial(late, trigger))
        if fired:
            service.wake(ASYNC_QUEUE)
        await asyncio.sleep(service.timings.poll_interval_s)

"""The server's loop over object triggers: each poll lists every trigger's location and fires
what is new (lambeam.events.objects.scan), then wakes the async dispatcher."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lambeam.errors import LambeamError
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.objects import list_object_triggers, object_storage_options, scan

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = ["watch_objects"]

_log = logging.getLogger(__name__)


async def watch_objects(service: EventService) -> None:
    """Poll every object trigger each `poll_interval`, forever. A location that cannot be
    listed now is logged (once until it recovers) and polled again at the next round."""
    options = object_storage_options(service.project.settings)
    digests: dict[tuple[str, int, int], str] = {}  # local files' MD5s, by path, size, mtime
    failing: set[str] = set()
    engine = service.invoker.engine
    while True:
        triggers = await asyncio.to_thread(list_object_triggers, service.project.db)
        fired = 0
        for trigger in triggers:
            try:
                made = await asyncio.to_thread(
                    scan,
                    service.queue,
                    trigger,
                    options,
                    digests=digests,
                    root=service.project.settings.root,
                    region=engine.region,
                    account_id=engine.account_id,
                )
            except LambeamError as exc:
                if trigger.id not in failing:
                    _log.warning("object trigger %s (%s): %s", trigger.id, trigger.location, exc)
                    failing.add(trigger.id)
                continue
            failing.discard(trigger.id)
            fired += len(made)
        if fired:
            service.wake(ASYNC_QUEUE)
        await asyncio.sleep(service.timings.poll_interval_s)

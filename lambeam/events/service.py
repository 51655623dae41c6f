"""The events service of one server: it accepts asynchronous invocations and runs the loops
that turn queued work into invocations.

    events = EventService(project, invoker)     # invoker.events = events: Event invokes land here
    await events.accept(request)                # committed (group commit), then the dispatcher wakes
    await events.run()                          # in the server's lifespan: every loop, until cancelled

Each loop (the async dispatcher, queue mappings, schedules, object watchers, retention) is one
coroutine function taking the service, listed in LOOPS' order of start. Work made in this
process wakes its loop at once (`wake`); work made by another process on the same database is
found at the next poll (`project.settings.events.poll_interval_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from lambeam.events.asynchronous import ASYNC_QUEUE, check_utf8, enqueue_invocations
from lambeam.events.commits import GroupCommit
from lambeam.events.consumer import consume_queues
from lambeam.events.dispatcher import dispatch
from lambeam.events.object_watcher import watch_objects
from lambeam.events.queue import MessageQueue
from lambeam.events.queues import sweep_retention
from lambeam.events.scheduler import run_schedules
from lambeam.invoke.request import InvocationRequest
from lambeam.project import Project

if TYPE_CHECKING:
    from lambeam.invoke import Invoker

__all__ = ["LOOPS", "EventService"]

_log = logging.getLogger(__name__)

Loop = Callable[["EventService"], Awaitable[None]]


class EventService:
    """The durable queue, the accept path and the background loops of one server (see the
    module's docstring). `clock` gives epoch seconds."""

    def __init__(
        self,
        project: Project,
        invoker: Invoker,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.invoker = invoker
        self.clock = clock
        self.timings = project.settings.events
        self.queue = MessageQueue(project.db, clock=clock)
        self._accepts: GroupCommit[InvocationRequest] = GroupCommit(self._enqueue)
        self._wakers: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def accept(self, request: InvocationRequest) -> str:
        """Commit an asynchronous invocation (with whatever else is being accepted now, in one
        transaction); its request id. The dispatcher is woken. InvalidPayloadError (400) for a
        payload that is not UTF-8."""
        check_utf8(request.payload)
        await self._accepts.submit(request)
        self.wake(ASYNC_QUEUE)
        assert request.request_id is not None  # set by event_message before the commit
        return request.request_id

    @property
    def accepting(self) -> bool:
        """Whether accepts are waiting for their commit now: the dispatcher then runs fewer
        attempts at once, so that a burst of events is accepted (each a 202 its caller waits
        for) before the queue it fills is worked off."""
        return self._accepts.waiting > 0

    def _enqueue(self, requests: Sequence[InvocationRequest]) -> None:
        enqueue_invocations(self.queue, requests)

    def wake(self, queue: str) -> None:
        """Tell `queue`'s consumer in this process that it has new work."""
        self._waker(queue).set()

    async def wait(self, queue: str, timeout_s: float | None = None) -> bool:
        """Wait until `queue` is woken or `timeout_s` (default: the poll interval) passes;
        whether it was woken. The wake is consumed."""
        waker = self._waker(queue)
        timeout = self.timings.poll_interval_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(waker.wait(), timeout)
        except TimeoutError:
            return False
        waker.clear()
        return True

    def _waker(self, queue: str) -> asyncio.Event:
        waker = self._wakers.get(queue)
        if waker is None:
            waker = self._wakers[queue] = asyncio.Event()
        return waker

    async def run(self) -> None:
        """Run every loop until cancelled; a loop that fails is logged and started again."""
        self._tasks = [
            asyncio.create_task(_forever(self, loop), name=f"lambeam-{loop.__name__}")
            for loop in LOOPS
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop every loop (in-flight work stays in the queue, leased until its lease lapses)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def _forever(service: EventService, loop: Loop) -> None:
    while True:
        try:
            await loop(service)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a database that is down now may answer later
            _log.exception("events: %s failed; starting it again", loop.__name__)
            await asyncio.sleep(service.timings.poll_interval_s)


# The loops a server runs, in order of start (each module owns its loop).
LOOPS: list[Loop] = []
LOOPS.append(dispatch)  # the async queue's events (lambeam.events.dispatcher)
LOOPS.append(watch_objects)  # object-created triggers (lambeam.events.object_watcher)
LOOPS.append(consume_queues)  # queues mapped to functions (lambeam.events.consumer)
LOOPS.append(sweep_retention)  # SQS queues' MessageRetentionPeriod (lambeam.events.queues)
LOOPS.append(run_schedules)  # schedules' ticks (lambeam.events.scheduler)

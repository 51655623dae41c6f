"""The async dispatcher: the loop that runs every accepted Event invocation, at least once.

    LOOPS.append(dispatch)          # lambeam.events.service: a server runs it once its engine is up

It claims up to CLAIM_MAX messages of ASYNC_QUEUE per receive and runs them concurrently (at
most `max_running` attempts at once, and never more at once for one function than its reserved
concurrency), each as a synchronous invocation through the one Invoker, with the event's request
id. Lambda's rules for an attempt's outcome:

- success: the `invocations` row says "succeeded" and the record goes to the OnSuccess
  destination;
- a function error: attempt 2 after the first of `timings.retry_delays_s` (Lambda: 1 minute),
  attempt 3 after the second (2 minutes), up to 1 + MaximumRetryAttempts attempts; then
  "failed" and the record (condition RetriesExhausted) to OnFailure, or the original event to
  the function's dead-letter queue;
- a throttle (TooManyRequestsError): back to the queue with backoff, not an attempt, until the
  event is older than MaximumEventAgeInSeconds (then EventAgeExceeded); reserved concurrency 0
  sends the event straight to failure;
- a refusal no retry can change (a LambeamError with a 4xx status: a payload too large or not
  JSON, a model function's invalid input): one attempt, then "failed" with the error's type.

Finished attempts are settled in groups (whatever finished meanwhile, lingering
SETTLE_LINGER_S when few did): one transaction deletes the group's
messages and writes their `invocations` rows (status, attempts, the per-attempt `history` with
error type, message, duration and the attempt's log tail). A claim's lease lasts longer than the
function's timeout plus LEASE_MARGIN_S, so the events of a server that died mid-attempt become
visible again and another server (or this one restarted) runs them. A settle that fails for a
transient reason (the database) is tried again while the claim's lease lasts, with only the
deliveries it still owes (lambeam.events.settlements).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lambeam.errors import LambeamError, NotFoundError, TooManyRequestsError
from lambeam.events.asynchronous import ASYNC_QUEUE, request_from
from lambeam.events.destinations import deliver
from lambeam.events.invoke_config import Destination, EventInvokeConfig, event_invoke_config
from lambeam.events.outcomes import (
    Claim,
    dropped,
    error_of,
    failed,
    jitter,
    outcome_of,
    refused,
    row_of,
    succeeded,
    throttle_entry,
    throttled,
)
from lambeam.events.queue import Message
from lambeam.events.settlements import Settlement, permanent, settle
from lambeam.functions import Resolver
from lambeam.functions.records import ResolvedFunction
from lambeam.storage.schema import InvocationRow

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = [
    "ACCEPTING_CLAIM_EVERY_S",
    "CLAIM_MAX",
    "LEASE_MARGIN_S",
    "Dispatcher",
    "dispatch",
]

_log = logging.getLogger(__name__)


# Messages claimed per receive: one transaction hands out this many events.
CLAIM_MAX = 64
# How long past the function's timeout a claim stays leased (the attempt's start, a cold start,
# the settle): past it, a dead server's events are handed out again.
LEASE_MARGIN_S = 15.0
# Attempts of one function that may wait here for its reserved concurrency, per unit of it;
# more go back to the queue for a moment, so that one throttled function cannot fill the
# dispatcher and hold up the others.
_WAITING_PER_SLOT = 4
_LOG_TAIL_CHARS = 4096
# How long finished attempts wait for others to settle with (when fewer than a claim's worth).
SETTLE_LINGER_S = 0.005
# A settle that failed for a transient reason is tried again after this (doubling, up to 5 s),
# while its lease lasts.
SETTLE_RETRY_S = 0.1
# While accepts wait for their commit (a burst arriving), the dispatcher claims at most once per
# ACCEPTING_CLAIM_EVERY_S: on a small machine each attempt takes CPU that an accept needs, and a
# caller waits for its 202 while a queued event waits for nobody. The floor (a claim of up to
# CLAIM_MAX events each interval) keeps the queue moving under a sustained burst.
ACCEPTING_CLAIM_EVERY_S = 0.25


async def dispatch(service: EventService) -> None:
    """The async dispatcher's loop (in LOOPS): runs until cancelled."""
    await Dispatcher(service).run()


class _Gate:
    """A function's reserved concurrency inside the dispatcher."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        self.waiting = 0


class Dispatcher:
    """Runs the async queue's events (see the module's docstring). `max_running` bounds the
    attempts running at once; `max_in_flight` the messages claimed and not yet settled."""

    def __init__(
        self,
        service: EventService,
        *,
        max_running: int = 32,
        max_in_flight: int = 2 * CLAIM_MAX,
    ) -> None:
        self.service = service
        self.queue = service.queue
        self.db = service.project.db
        self.max_in_flight = max_in_flight
        self._running = asyncio.Semaphore(max_running)
        self._in_flight = 0
        self._room = asyncio.Event()
        self._resolver = Resolver(self.db)
        self._gates: dict[str, _Gate] = {}
        # Each config read once a second, by one task however many events ask meanwhile.
        self._settings: dict[
            tuple[str, str | None], tuple[float, asyncio.Task[EventInvokeConfig]]
        ] = {}
        self._finished: list[Settlement] = []
        self._settling = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # A claim's lease: the longest timeout of the last claim's functions, plus the margin.
        self._lease_s = 3.0 + LEASE_MARGIN_S
        self._tasks: set[asyncio.Task[None]] = set()
        engine = service.invoker.engine
        self._region, self._account = engine.region, engine.account_id

    async def run(self) -> None:
        """Claim and run events until cancelled (claimed ones stay leased, and come back)."""
        self._loop = asyncio.get_running_loop()
        settling = asyncio.create_task(self._settle_forever(), name="lambeam-async-settle")
        try:
            while True:
                free = self.max_in_flight - self._in_flight
                if free <= 0 or (free < CLAIM_MAX // 2 and self._in_flight > 0):
                    self._room.clear()  # claim many at once, not a few at a time
                    await self._room.wait()
                    continue
                if self.service.accepting and self._in_flight > 0:
                    await asyncio.sleep(ACCEPTING_CLAIM_EVERY_S)
                claims = await self._claim(min(CLAIM_MAX, free))
                if not claims:
                    await self.service.wait(ASYNC_QUEUE)
                    continue
                for claim in claims:
                    self._in_flight += 1
                    task = asyncio.create_task(self._run(claim))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            for task in [*self._tasks, settling]:
                task.cancel()
            for task in [*self._tasks, settling]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _claim(self, count: int) -> list[Claim]:
        lease_s = self._lease_s
        messages = await asyncio.to_thread(self.queue.receive, ASYNC_QUEUE, count, lease_s)
        claims = [Claim(m, m.visible_at) for m in messages]
        if not claims:
            return claims
        needed = LEASE_MARGIN_S + max([await self._timeout_of(c.message) for c in claims])
        if needed > lease_s:  # a longer timeout than the lease was made for: one extension
            now = self.service.clock()
            held = await asyncio.to_thread(
                self.queue.change_visibility, [c.message.receipt for c in claims], needed
            )
            claims = [c for c, kept in zip(claims, held, strict=True) if kept]
            for claim in claims:
                claim.lease_until = now + needed
        self._lease_s = needed
        again = [c for c in claims if c.message.receive_count > 1]
        if again:  # a first delivery's row is as accepted: only redeliveries are read
            rows = await asyncio.to_thread(self._rows, [c.message.id for c in again])
            for claim in again:
                attempts, history = rows.get(claim.message.id, (0, []))
                claim.attempts, claim.history = attempts, list(history or [])
        return claims

    def _rows(self, request_ids: list[str]) -> dict[str, tuple[int, list[dict[str, Any]]]]:
        with self.db.engine.connect() as connection:
            found = connection.execute(
                select(
                    InvocationRow.request_id, InvocationRow.attempts, InvocationRow.history
                ).where(InvocationRow.request_id.in_(request_ids))
            ).all()
        return {row[0]: (row[1], row[2]) for row in found}

    async def _run(self, claim: Claim) -> None:
        settlement = None
        try:
            settlement = await self._attempt(claim)
        except Exception:  # noqa: BLE001 - the event stays leased and comes back
            _log.exception("async event %s failed in the dispatcher", claim.message.id)
        finally:
            if settlement is None:
                self._in_flight -= 1
                self._room.set()
            else:  # settled with the others that finish meanwhile
                settlement.deadline = claim.lease_until
                self._again(settlement)

    async def _settle_forever(self) -> None:
        """Settle finished attempts in groups: whatever finished while the last group was
        written, after a short linger when few did (one transaction for many events)."""
        while True:
            await self._settling.wait()
            self._settling.clear()
            if len(self._finished) < CLAIM_MAX:
                await asyncio.sleep(SETTLE_LINGER_S)
            group, self._finished = self._finished, []
            try:
                again = await asyncio.to_thread(self._settle, group)
            except Exception:  # noqa: BLE001 - a database that is down now may answer later
                _log.warning("settling %d async events failed; retrying", len(group), exc_info=True)
                again = group
            retried = {id(s) for s in again}
            self._in_flight -= sum(1 for s in group if id(s) not in retried)
            for settlement in again:
                self._retry(settlement)
            self._room.set()

    def _again(self, settlement: Settlement) -> None:
        self._finished.append(settlement)
        self._settling.set()

    def _retry(self, settlement: Settlement) -> None:
        """Settle `settlement` again after a pause, unless its lease runs out first (then the
        event runs again elsewhere: at least once)."""
        settlement.tries += 1
        delay = min(5.0, SETTLE_RETRY_S * 2 ** (settlement.tries - 1))
        if self.service.clock() + delay + 1.0 >= settlement.deadline:
            _log.error("async event %s: not settled before its lease ran out; it runs again",
                       settlement.receipt.message_id)  # fmt: skip
            self._in_flight -= 1
            return
        assert self._loop is not None  # set by run
        self._loop.call_later(delay, self._again, settlement)

    async def _attempt(self, claim: Claim) -> Settlement | None:
        """Run one attempt of `claim` (or decide it needs none); how to settle it."""
        message = claim.message
        request = request_from(message, claim.attempts + 1)
        request.log_type = "Tail"
        try:
            function = await self._resolve(request.function, request.qualifier)
        except NotFoundError as exc:  # deleted since: Lambda drops its queued events
            return dropped(claim, type(exc).__name__, str(exc), self.service.clock())
        settings = await self._settings_of(request.function, request.qualifier)
        now = self.service.clock()
        enqueued_at = request.enqueued_at or message.sent_at
        if now - enqueued_at > settings.maximum_event_age_s:
            never_ran = 429 if claim.attempts == 0 else 200  # throttled until too old
            return failed(
                claim,
                function,
                settings,
                "EventAgeExceeded",
                now,
                never_ran,
                region=self._region,
                account_id=self._account,
            )
        reserved = function.config.reserved_concurrency
        if reserved == 0:  # Lambda: reserved concurrency 0 sends async events straight to failure
            claim.history.append(throttle_entry(now, "reserved concurrency is 0"))
            return failed(
                claim,
                function,
                settings,
                "RetriesExhausted",
                now,
                429,
                region=self._region,
                account_id=self._account,
            )
        timeout_s = float(function.config.timeout_s)
        gate = self._gate(request.function, reserved)
        if gate is not None and gate.waiting >= gate.limit * _WAITING_PER_SLOT:
            return Settlement(message.receipt, final=False, delay_s=jitter(1.0))
        async with contextlib.AsyncExitStack() as held:
            if gate is not None:
                gate.waiting += 1
                try:
                    await held.enter_async_context(gate.slots)
                finally:
                    gate.waiting -= 1
            if not await self._hold(claim, timeout_s):
                return None  # the lease lapsed while waiting: another receiver has it
            async with self._running:
                started = self.service.clock()
                try:
                    invocation = await self.service.invoker.handle(request)
                except TooManyRequestsError as exc:
                    claim.history.append(throttle_entry(started, str(exc)))
                    return throttled(claim)
                except NotFoundError as exc:
                    return dropped(claim, type(exc).__name__, str(exc), self.service.clock())
                except LambeamError as exc:
                    if not permanent(exc):
                        raise  # the event stays leased and comes back
                    now = self.service.clock()
                    return refused(claim, function, settings, exc, started, now,
                                   region=self._region, account_id=self._account)  # fmt: skip
        entry: dict[str, Any] = {
            "attempt": claim.attempts + 1,
            "started_at": started,
            "duration_ms": invocation.duration_ms,
            "executed_version": invocation.executed_version,
            "status": "error" if invocation.function_error else "ok",
            "log_tail": (invocation.log_result_tail or "")[-_LOG_TAIL_CHARS:],
        }
        claim.attempts += 1
        now = self.service.clock()
        outcome = outcome_of(message, claim.attempts, now, invocation)
        if invocation.function_error is None:
            claim.history.append(entry)
            return succeeded(
                claim,
                function,
                settings,
                outcome,
                invocation.payload,
                region=self._region,
                account_id=self._account,
            )
        error_type, error_message = error_of(invocation.payload, invocation.error_type)
        entry.update(error_type=error_type, error_message=error_message)
        claim.history.append(entry)
        if claim.attempts <= settings.maximum_retry_attempts:
            delays = self.service.timings.retry_delays_s or (0.0,)
            delay = delays[min(claim.attempts, len(delays)) - 1]
            row = row_of(claim, "retrying", now, outcome, error_type)
            return Settlement(message.receipt, final=False, delay_s=delay, row=row)
        return failed(
            claim,
            function,
            settings,
            "RetriesExhausted",
            now,
            outcome=outcome,
            region=self._region,
            account_id=self._account,
        )

    async def _timeout_of(self, message: Message) -> float:
        """The timeout of the function `message` runs (0 when it is gone: it will be dropped)."""
        attributes = message.attributes
        try:
            function = await self._resolve(attributes["function"], attributes.get("qualifier"))
        except NotFoundError:
            return 0.0
        return float(function.config.timeout_s)

    async def _resolve(self, name: str, qualifier: str | None) -> ResolvedFunction:
        found = self._resolver.cached(name, qualifier)
        if found is None:
            found = await asyncio.to_thread(self._resolver.resolve, name, qualifier)
        return found

    async def _settings_of(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        key = (name, qualifier)
        now = time.monotonic()
        known = self._settings.get(key)
        if known is None or now - known[0] >= 1.0:  # a change applies within a second
            read = asyncio.to_thread(event_invoke_config, self.db, name, qualifier)
            known = self._settings[key] = (now, asyncio.ensure_future(read))
        return await asyncio.shield(known[1])

    def _gate(self, name: str, reserved: int | None) -> _Gate | None:
        gate = self._gates.get(name)
        if reserved is None:
            return None
        if gate is None or gate.limit != reserved:
            gate = self._gates[name] = _Gate(reserved)
        return gate

    async def _hold(self, claim: Claim, timeout_s: float) -> bool:
        """Make sure the claim's lease outlasts an attempt; False if it was lost."""
        needed = timeout_s + LEASE_MARGIN_S
        now = self.service.clock()
        if claim.lease_until - now >= timeout_s + LEASE_MARGIN_S / 2:  # time to start and settle
            return True
        [held] = await asyncio.to_thread(
            self.queue.change_visibility, [claim.message.receipt], needed
        )
        claim.lease_until = now + needed
        return held

    def _settle(self, settlements: Sequence[Settlement]) -> list[Settlement]:
        """Write a group of finished attempts (in a worker thread), then wake the consumers of
        the queues their records went to; those to settle again."""
        settled = settle(self.queue, settlements, self._deliver)
        if self._loop is not None:
            for name in settled.woken:
                self._loop.call_soon_threadsafe(self.service.wake, name)
        return settled.again

    def _deliver(self, destination: Destination, body: Any) -> str:
        return deliver(self.queue, destination, body, region=self._region, account_id=self._account)

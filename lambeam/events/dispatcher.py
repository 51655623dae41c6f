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
  sends the event straight to failure.

Finished attempts are settled in groups (GroupCommit): one transaction deletes the group's
messages and writes their `invocations` rows (status, attempts, the per-attempt `history` with
error type, message, duration and the attempt's log tail). A claim's lease lasts longer than the
function's timeout plus LEASE_MARGIN_S, so the events of a server that died mid-attempt become
visible again and another server (or this one restarted) runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lambeam.errors import NotFoundError, TooManyRequestsError
from lambeam.events.asynchronous import ASYNC_QUEUE, request_from
from lambeam.events.commits import GroupCommit
from lambeam.events.destinations import Outcome, dead_letter_message, deliver, invocation_record
from lambeam.events.invoke_config import Destination, EventInvokeConfig, event_invoke_config
from lambeam.events.queue import Message
from lambeam.events.settlements import Settlement, settle
from lambeam.functions import Resolver
from lambeam.functions.records import ResolvedFunction
from lambeam.runtime import function_arn
from lambeam.storage.schema import InvocationRow

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = [
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
# Lambda's throttle backoff for asynchronous events: from 1 second up to 5 minutes.
THROTTLE_BACKOFF_S = (1.0, 300.0)
# Attempts of one function that may wait here for its reserved concurrency, per unit of it;
# more go back to the queue for a moment, so that one throttled function cannot fill the
# dispatcher and hold up the others.
_WAITING_PER_SLOT = 4
_LOG_TAIL_CHARS = 4096


async def dispatch(service: EventService) -> None:
    """The async dispatcher's loop (in LOOPS): runs until cancelled."""
    await Dispatcher(service).run()


@dataclass
class _Claim:
    """A claimed message and what is known of its invocation so far."""

    message: Message
    lease_until: float
    attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


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
        self._settings: dict[tuple[str, str | None], tuple[float, EventInvokeConfig]] = {}
        self._settles: GroupCommit[Settlement] = GroupCommit(self._settle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lease_s = 3.0 + LEASE_MARGIN_S  # Lambda's default timeout; grows to what is seen
        self._tasks: set[asyncio.Task[None]] = set()
        engine = service.invoker.engine
        self._region, self._account = engine.region, engine.account_id

    async def run(self) -> None:
        """Claim and run events until cancelled (claimed ones stay leased, and come back)."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                free = self.max_in_flight - self._in_flight
                if free <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
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
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _claim(self, count: int) -> list[_Claim]:
        lease_s = self._lease_s
        messages = await asyncio.to_thread(self.queue.receive, ASYNC_QUEUE, count, lease_s)
        claims = [_Claim(m, m.visible_at) for m in messages]
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

    async def _run(self, claim: _Claim) -> None:
        try:
            settlement = await self._attempt(claim)
            if settlement is not None:
                await self._settles.submit(settlement)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the event stays leased and comes back
            _log.exception("async event %s could not be settled", claim.message.id)
        finally:
            self._in_flight -= 1
            self._room.set()

    async def _attempt(self, claim: _Claim) -> Settlement | None:
        """Run one attempt of `claim` (or decide it needs none); how to settle it."""
        message = claim.message
        request = request_from(message, claim.attempts + 1)
        request.log_type = "Tail"
        try:
            function = await self._resolve(request.function, request.qualifier)
        except NotFoundError as exc:  # deleted since: Lambda drops its queued events
            return self._dropped(claim, type(exc).__name__, str(exc))
        settings = await self._settings_of(request.function, request.qualifier)
        now = self.service.clock()
        enqueued_at = request.enqueued_at or message.sent_at
        if now - enqueued_at > settings.maximum_event_age_s:
            never_ran = 429 if claim.attempts == 0 else 200  # throttled until too old
            return await self._failed(claim, function, settings, "EventAgeExceeded", now, never_ran)
        reserved = function.config.reserved_concurrency
        if reserved == 0:  # Lambda: reserved concurrency 0 sends async events straight to failure
            claim.history.append(_throttle_entry(now, "reserved concurrency is 0"))
            return await self._failed(claim, function, settings, "RetriesExhausted", now, 429)
        timeout_s = float(function.config.timeout_s)
        self._lease_s = max(self._lease_s, timeout_s + LEASE_MARGIN_S)
        gate = self._gate(request.function, reserved)
        if gate is not None and gate.waiting >= gate.limit * _WAITING_PER_SLOT:
            return Settlement(message.receipt, final=False, delay_s=_jitter(1.0))
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
                    claim.history.append(_throttle_entry(started, str(exc)))
                    return self._throttled(claim, function, settings)
                except NotFoundError as exc:
                    return self._dropped(claim, type(exc).__name__, str(exc))
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
        outcome = _outcome(message, claim.attempts, now, invocation)
        if invocation.function_error is None:
            claim.history.append(entry)
            return self._succeeded(claim, function, settings, outcome, invocation.payload)
        error_type, error_message = _error_of(invocation.payload, invocation.error_type)
        entry.update(error_type=error_type, error_message=error_message)
        claim.history.append(entry)
        if claim.attempts <= settings.maximum_retry_attempts:
            delays = self.service.timings.retry_delays_s or (0.0,)
            delay = delays[min(claim.attempts, len(delays)) - 1]
            row = self._row(claim, "retrying", now, outcome, error_type)
            return Settlement(message.receipt, final=False, delay_s=delay, row=row)
        return await self._failed(
            claim, function, settings, "RetriesExhausted", now, outcome=outcome
        )

    async def _resolve(self, name: str, qualifier: str | None) -> ResolvedFunction:
        found = self._resolver.cached(name, qualifier)
        if found is None:
            found = await asyncio.to_thread(self._resolver.resolve, name, qualifier)
        return found

    async def _settings_of(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        key = (name, qualifier)
        now = time.monotonic()
        known = self._settings.get(key)
        if known is not None and now - known[0] < 1.0:  # a change applies within a second
            return known[1]
        settings = await asyncio.to_thread(event_invoke_config, self.db, name, qualifier)
        self._settings[key] = (now, settings)
        return settings

    def _gate(self, name: str, reserved: int | None) -> _Gate | None:
        gate = self._gates.get(name)
        if reserved is None:
            return None
        if gate is None or gate.limit != reserved:
            gate = self._gates[name] = _Gate(reserved)
        return gate

    async def _hold(self, claim: _Claim, timeout_s: float) -> bool:
        """Make sure the claim's lease outlasts an attempt; False if it was lost."""
        needed = timeout_s + LEASE_MARGIN_S
        now = self.service.clock()
        if claim.lease_until - now >= needed:
            return True
        [held] = await asyncio.to_thread(
            self.queue.change_visibility, [claim.message.receipt], needed
        )
        claim.lease_until = now + needed
        return held

    def _throttled(
        self, claim: _Claim, function: ResolvedFunction, settings: EventInvokeConfig
    ) -> Settlement:
        # Receives that ran no attempt were throttles (or waits for reserved concurrency).
        throttles = max(1, claim.message.receive_count - claim.attempts)
        low, high = THROTTLE_BACKOFF_S
        delay = min(high, low * 2 ** max(0, throttles - 1))
        return Settlement(claim.message.receipt, final=False, delay_s=_jitter(delay))

    def _succeeded(
        self,
        claim: _Claim,
        function: ResolvedFunction,
        settings: EventInvokeConfig,
        outcome: Outcome,
        payload: bytes,
    ) -> Settlement:
        row = self._row(claim, "succeeded", outcome.at, outcome, None, result=payload)
        settlement = Settlement(claim.message.receipt, final=True, row=row)
        if settings.on_success:
            arn = self._arn(function, outcome.executed_version)
            record = invocation_record(outcome, condition="Success", function_arn=arn)
            settlement.sends.append((settings.on_success, record))
            row["destination"] = settings.on_success.arn(self._region, self._account)
        return settlement

    async def _failed(
        self,
        claim: _Claim,
        function: ResolvedFunction,
        settings: EventInvokeConfig,
        condition: str,
        now: float,
        status_code: int = 200,
        *,
        outcome: Outcome | None = None,
    ) -> Settlement:
        last = claim.history[-1] if claim.history else {}
        if outcome is None:
            error = {
                "errorMessage": last.get("error_message") or _CONDITION_MESSAGES[condition],
                "errorType": last.get("error_type") or condition,
            }
            outcome = Outcome(
                request_id=claim.message.id,
                request_payload=claim.message.body,
                status_code=status_code,
                executed_version=last.get("executed_version") or function.version,
                function_error=None if status_code == 429 else "Unhandled",
                response_payload=_dumps(error),
                invoke_count=max(1, claim.attempts),
                at=now,
            )
        error_type = last.get("error_type") or condition
        row = self._row(claim, "failed", now, outcome, error_type, result=outcome.response_payload)
        settlement = Settlement(claim.message.receipt, final=True, row=row)
        if settings.on_failure:
            arn = self._arn(function, outcome.executed_version)
            record = invocation_record(outcome, condition=condition, function_arn=arn)
            settlement.sends.append((settings.on_failure, record))
            row["destination"] = settings.on_failure.arn(self._region, self._account)
        elif settings.dead_letter is not None:
            message = last.get("error_message") or _CONDITION_MESSAGES[condition]
            dead_letter = settings.dead_letter
            settlement.sends.append(
                (dead_letter, dead_letter_message(outcome, error_type, message))
            )
            row["destination"] = dead_letter.arn(self._region, self._account)
        return settlement

    def _dropped(self, claim: _Claim, error_type: str, message: str) -> Settlement:
        now = self.service.clock()
        claim.history.append(
            {"attempt": claim.attempts + 1, "started_at": now, "status": "dropped",
             "error_type": error_type, "error_message": message}
        )  # fmt: skip
        row = {
            "status": "failed",
            "attempts": claim.attempts,
            "updated_at": now,
            "executed_version": None,
            "error_type": error_type,
            "result": None,
            "history": claim.history,
            "destination": None,
        }
        return Settlement(claim.message.receipt, final=True, row=row)

    def _row(
        self,
        claim: _Claim,
        status: str,
        now: float,
        outcome: Outcome,
        error_type: str | None,
        *,
        result: bytes | None = None,
    ) -> dict[str, Any]:
        return {
            "status": status,
            "attempts": claim.attempts,
            "updated_at": now,
            "executed_version": outcome.executed_version,
            "error_type": error_type,
            "result": result,
            "history": claim.history,
            "destination": None,
        }

    def _settle(self, settlements: Sequence[Settlement]) -> None:
        """Write a group of finished attempts (in a worker thread), then wake the consumers of
        the queues their records went to."""
        woken = settle(self.queue, settlements, self._deliver)
        if self._loop is not None:
            for name in woken:
                self._loop.call_soon_threadsafe(self.service.wake, name)

    def _deliver(self, destination: Destination, body: Any) -> str:
        return deliver(self.queue, destination, body, region=self._region, account_id=self._account)

    def _arn(self, function: ResolvedFunction, executed_version: str | None) -> str:
        """The function's ARN qualified as it executed (Lambda's requestContext.functionArn)."""
        return function_arn(
            function.name, self._region, self._account, executed_version or function.version
        )


_CONDITION_MESSAGES = {
    "RetriesExhausted": "Rate Exceeded.",
    "EventAgeExceeded": "The event was older than the function's maximum event age.",
}


def _outcome(message: Message, attempts: int, now: float, invocation: Any) -> Outcome:
    return Outcome(
        request_id=message.id,
        request_payload=message.body,
        status_code=invocation.status,
        executed_version=invocation.executed_version,
        function_error=invocation.function_error,
        response_payload=invocation.payload,
        invoke_count=attempts,
        at=now,
    )


def _error_of(payload: bytes, error_type: str | None) -> tuple[str | None, str]:
    """The error type and message of a failed attempt's payload (Lambda's error object)."""
    import json

    try:
        error = json.loads(payload)
    except ValueError:
        return error_type, payload[:1000].decode(errors="replace")
    if not isinstance(error, dict):
        return error_type, str(error)[:1000]
    return (
        error.get("errorType") or error_type,
        str(error.get("errorMessage", ""))[:1000],
    )


def _throttle_entry(at: float, message: str) -> dict[str, Any]:
    return {
        "started_at": at,
        "status": "throttled",
        "error_type": "TooManyRequestsException",
        "error_message": message,
    }


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _jitter(delay_s: float) -> float:
    """`delay_s` give or take a tenth, so that events throttled together do not return together."""
    return delay_s * random.uniform(0.9, 1.1)

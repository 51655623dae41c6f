"""The queue consumer: every enabled event source mapping's queue, handed to its function in
batches, as Lambda polls an SQS queue.

For each mapping, batches of up to BatchSize messages are received (leased for the queue's
visibility timeout; past the queue's `maxReceiveCount` a message goes to its dead-letter queue
instead, lambeam.events.queue) and gathered for up to MaximumBatchingWindowInSeconds (a message
whose lease would lapse while the window runs stays hidden until the window ends plus the
visibility timeout, so that a window longer than the timeout never gives a message twice; one
received again all the same replaces itself in the batch), then the function is invoked
synchronously with SQS's event (`{"Records": [...]}`, sqs_record). A message whose body is not
UTF-8 is set aside (lambeam.events.messages.set_aside), never failing its batch. On
success the batch is deleted; with ReportBatchItemFailures only the records the function did not
name. A function error (raised, timed out, out of memory), an answer that is not the expected
JSON or names an unknown record fails the whole batch: its messages stay leased and come back
when their visibility timeout lapses, as on AWS. At most MaximumConcurrency batches of a mapping
run at once. Mappings are read again every poll interval (so changes made by another process
apply then) and at once when this process changes one (`MAPPINGS_CHANGED`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lambeam.errors import (
    EventSourceMappingNotFoundError,
    LambeamError,
    MessageError,
    TooManyRequestsError,
)
from lambeam.events.mappings import (
    EventSourceMapping,
    get_event_source_mapping,
    list_event_source_mappings,
)
from lambeam.events.messages import from_message, set_aside
from lambeam.events.queue import DeadLetter, Message
from lambeam.events.queues import list_queues, queue_arn
from lambeam.invoke import MAX_PAYLOAD_BYTES, Invocation, InvocationRequest
from lambeam.storage import Database

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAPPINGS_CHANGED",
    "batch_outcome",
    "consume_queues",
    "sqs_record",
]

_log = logging.getLogger(__name__)

# What a face wakes (EventService.wake) when it changed a mapping in this process.
MAPPINGS_CHANGED = "lambeam:mappings"
# How long before a gathered message's lease lapses the poller extends it (beyond its next check).
_LEASE_MARGIN_S = 1.0
# Concurrent batches of a mapping without ScalingConfig.MaximumConcurrency: Lambda starts an
# SQS mapping with five pollers (it then scales up; lambeam keeps the five).
DEFAULT_CONCURRENCY = 5


@dataclass(frozen=True)
class _Target:
    """A mapping with what its poller needs of its queue."""

    mapping: EventSourceMapping
    visibility_timeout_s: int
    dead_letter: DeadLetter | None

    @property
    def concurrency(self) -> int:
        return self.mapping.maximum_concurrency or DEFAULT_CONCURRENCY


async def consume_queues(service: EventService) -> None:
    """The loop (in LOOPS): one poller per enabled mapping, started, changed and stopped as
    the mappings are."""
    pollers: dict[str, _Poller] = {}
    try:
        while True:
            targets = await asyncio.to_thread(_targets, service.project.db)
            for uuid in set(pollers) - set(targets):
                pollers.pop(uuid).stop()
            for uuid, target in targets.items():
                poller = pollers.get(uuid)
                if poller is None or poller.stopped:
                    pollers[uuid] = _Poller(service, target)
                else:
                    poller.target = target
            await service.wait(MAPPINGS_CHANGED)
    finally:
        for poller in pollers.values():
            await poller.aclose()


def _still_enabled(db: Database, uuid: str) -> bool:
    try:
        return get_event_source_mapping(db, uuid).enabled
    except EventSourceMappingNotFoundError:
        return False


def _targets(db: Database) -> dict[str, _Target]:
    """The enabled mappings whose queue exists, by UUID."""
    queues = {queue.name: queue for queue in list_queues(db)}
    found: dict[str, _Target] = {}
    for mapping in list_event_source_mappings(db, enabled_only=True):
        queue = queues.get(mapping.queue)
        if queue is None:  # deleted since: nothing to poll (SQS would fail every receive)
            continue
        found[mapping.uuid] = _Target(mapping, queue.visibility_timeout, queue.dead_letter)
    return found


class _Poller:
    """One mapping's poller: gathers a batch while a slot is free, runs it as a task."""

    def __init__(self, service: EventService, target: _Target) -> None:
        self.service = service
        self.target = target
        self.stopped = False
        self._batches: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        engine = service.invoker.engine
        self._region, self._account = engine.region, engine.account_id
        self._task = asyncio.create_task(self._run(), name=f"lambeam-mapping-{target.mapping.uuid}")

    def stop(self) -> None:
        """Gather no more; batches running finish (a disabled or deleted mapping)."""
        self.stopped = True
        self._freed.set()
        self.service.wake(self.target.mapping.queue)

    async def aclose(self) -> None:
        """Stop now, batches running too (their messages come back after their timeout)."""
        self.stopped = True
        for task in [self._task, *self._batches]:
            task.cancel()
        for task in [self._task, *self._batches]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self.stopped:
            if len(self._batches) >= self.target.concurrency:
                self._freed.clear()
                await self._freed.wait()
                continue
            try:
                batch = await self._gather()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a database that is down now may answer later
                _log.exception("queue mapping %s: receiving failed", self.target.mapping.uuid)
                await asyncio.sleep(self.service.timings.poll_interval_s)
                continue
            if batch:
                task = asyncio.create_task(self._process(self.target, batch))
                self._batches.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._freed.set()

    async def _gather(self) -> list[tuple[Message, dict[str, Any]]]:
        """Up to BatchSize messages within the batching window (and within the 6 MB a
        synchronous invocation takes), each once; empty when the poller stopped first."""
        service = self.service
        batch: dict[str, tuple[Message, dict[str, Any]]] = {}  # by message id, in order
        sizes: dict[str, int] = {}
        empty = len(b'{"Records": []}')
        deadline: float | None = None
        while not self.stopped:
            target = self.target
            mapping = target.mapping
            received = await asyncio.to_thread(
                service.queue.receive,
                mapping.queue,
                mapping.batch_size - len(batch),
                target.visibility_timeout_s,
                dead_letter=target.dead_letter,
            )
            arn = queue_arn(mapping.queue, self._region, self._account)
            over: list[Message] = []
            unreadable: list[Message] = []
            for message in received:
                try:
                    record = sqs_record(message, arn, self._region, self._account)
                except MessageError:
                    unreadable.append(message)
                    continue
                size = len(json.dumps(record)) + 2
                total = empty + sum(sizes.values()) - sizes.get(message.id, 0) + size
                if total > MAX_PAYLOAD_BYTES and batch:
                    over.append(message)
                    continue
                # received again (its lease lapsed after all): the newest receipt replaces it
                batch[message.id] = (message, record)
                sizes[message.id] = size
            if unreadable:
                await asyncio.to_thread(set_aside, service.queue, unreadable, target.dead_letter)
            if over:  # the rest of this receive goes back at once, for the next batch
                await asyncio.to_thread(service.queue.release, [m.receipt for m in over])
                return list(batch.values())
            if len(batch) >= mapping.batch_size:
                return list(batch.values())
            now = service.clock()
            if batch and deadline is None:
                deadline = now + mapping.maximum_batching_window_s
            if batch and (deadline is None or now >= deadline):
                return list(batch.values())
            timeout = service.timings.poll_interval_s
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - now))
                await self._hold(batch, now + timeout, deadline)
                for gone in set(sizes) - set(batch):
                    del sizes[gone]
            await service.wait(mapping.queue, timeout)
        if batch:  # stopped while gathering: hand the messages back
            await asyncio.to_thread(service.queue.release, [m.receipt for m, _ in batch.values()])
        return []

    async def _hold(
        self, batch: dict[str, tuple[Message, dict[str, Any]]], check_at: float, deadline: float
    ) -> None:
        """Keep the gathered messages hidden while the window runs: those whose lease would
        lapse before the next check (with a margin) are leased until the window's end plus the
        visibility timeout (what a receive at the window's end would give); one that another
        receiver took meanwhile leaves the batch."""
        lapsing = [m for m, _ in batch.values() if m.visible_at <= check_at + _LEASE_MARGIN_S]
        if not lapsing:
            return
        now = self.service.clock()
        visibility = deadline - now + self.target.visibility_timeout_s + _LEASE_MARGIN_S
        held = await asyncio.to_thread(
            self.service.queue.change_visibility, [m.receipt for m in lapsing], visibility
        )
        for message, kept in zip(lapsing, held, strict=True):
            if kept:
                record = batch[message.id][1]
                batch[message.id] = (replace(message, visible_at=now + visibility), record)
            else:
                del batch[message.id]

    async def _process(
        self, target: _Target, batch: Sequence[tuple[Message, dict[str, Any]]]
    ) -> None:
        mapping = target.mapping
        ids = [message.id for message, _ in batch]
        if not await asyncio.to_thread(_still_enabled, self.service.project.db, mapping.uuid):
            # Disabled or deleted since the poller last read it (by this server's API a moment
            # ago, or by another process): the batch goes back at once, uninvoked.
            await asyncio.to_thread(
                self.service.queue.release, [message.receipt for message, _ in batch]
            )
            self.stop()
            return
        request = InvocationRequest(
            mapping.function,
            json.dumps({"Records": [record for _, record in batch]}).encode(),
            mapping.qualifier,
            source="sqs",
        )
        try:
            invocation = await self.service.invoker.handle(request)
        except TooManyRequestsError:  # as on AWS: the batch comes back after its timeout
            _log.info("queue mapping %s: %s throttled", mapping.uuid, mapping.function)
            return
        except LambeamError as exc:
            _log.warning(
                "queue mapping %s: invoking %s failed: %s", mapping.uuid, mapping.function, exc
            )
            return
        except Exception:  # noqa: BLE001 - logged; the batch comes back after its timeout
            _log.exception("queue mapping %s: invoking %s failed", mapping.uuid, mapping.function)
            return
        done = batch_outcome(invocation, ids, mapping.reports_batch_item_failures)
        if len(done) < len(ids):
            _log.info(
                "queue mapping %s: %d of %d messages from %s failed (%s); they come back after"
                " the queue's visibility timeout",
                mapping.uuid,
                len(ids) - len(done),
                len(ids),
                mapping.queue,
                invocation.error_type or "reported by the function",
            )
        if done:
            keep = set(done)
            receipts = [message.receipt for message, _ in batch if message.id in keep]
            try:
                await asyncio.to_thread(self.service.queue.delete, receipts)
            except Exception:  # noqa: BLE001 - not deleted: delivered again, at least once
                _log.exception("queue mapping %s: deleting a processed batch failed", mapping.uuid)


def batch_outcome(invocation: Invocation, ids: Sequence[str], report_failures: bool) -> list[str]:
    """The message ids a batch's invocation processed (to delete), by Lambda's rules.

    A function error fails every record. With ReportBatchItemFailures, the answer is read as
    `{"batchItemFailures": [{"itemIdentifier": id}, ...]}`: null, `{}` or an empty list mean
    all succeeded; anything that is not such JSON, or an item without an identifier of this
    batch, fails every record (Lambda's "complete failure")."""
    if invocation.function_error:
        return []
    if not report_failures:
        return list(ids)
    text = invocation.payload.strip()
    try:
        answer = json.loads(text) if text else None
    except ValueError:
        return []
    if answer is None:
        return list(ids)
    if not isinstance(answer, dict):
        return []
    failures = answer.get("batchItemFailures")
    if failures is None:
        return list(ids)
    if not isinstance(failures, list):
        return []
    known = set(ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return []
        failed.add(identifier)
    return [i for i in ids if i not in failed]


def sqs_record(message: Message, queue_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """One record of Lambda's SQS event for a received message, as AWS writes it."""
    received = from_message(message, ("All",), ("All",))
    system = received.attributes
    attributes = {
        "ApproximateReceiveCount": system["ApproximateReceiveCount"],
        "SentTimestamp": system["SentTimestamp"],
        "SenderId": system.get("SenderId") or account_id,
        "ApproximateFirstReceiveTimestamp": system["ApproximateFirstReceiveTimestamp"],
    }
    if "AWSTraceHeader" in system:
        attributes["AWSTraceHeader"] = system["AWSTraceHeader"]
    record: dict[str, Any] = {
        "messageId": received.message_id,
        "receiptHandle": received.receipt_handle,
        "body": received.body,
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in received.message_attributes.items()
        },
        "md5OfBody": received.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if received.md5_of_message_attributes is not None:
        record["md5OfMessageAttributes"] = received.md5_of_message_attributes
    return record


def _message_attribute(value: dict[str, str]) -> dict[str, Any]:
    """An SQS message attribute ({DataType, StringValue | BinaryValue}, binary as base64) as
    Lambda's event spells it: lower camel case, with the list fields SQS never fills."""
    entry: dict[str, Any] = {}
    if "StringValue" in value:
        entry["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        entry["binaryValue"] = value["BinaryValue"]
    entry["stringListValues"] = []
    entry["binaryListValues"] = []
    entry["dataType"] = value["DataType"]
    return entry

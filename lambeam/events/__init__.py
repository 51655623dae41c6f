"""Events: the durable queue, asynchronous invocation, queues, topics, schedules and object
triggers (the event half of Lambda, on the metadata database)."""

from __future__ import annotations

from lambeam.events.queue import (
    DeadLetter,
    Message,
    MessageQueue,
    Outgoing,
    QueueCounts,
    Receipt,
)

__all__ = [
    "DeadLetter",
    "Message",
    "MessageQueue",
    "Outgoing",
    "QueueCounts",
    "Receipt",
]

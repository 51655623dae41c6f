"""What each SQS API request carries (`Call`: its parameters, its queue, its key's
authorization) and what the SQS API of one app keeps between requests (`SqsSession`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from lambeam.errors import MessageError, QueueNotFoundError
from lambeam.events.commits import GroupCommit
from lambeam.events.queue import Outgoing
from lambeam.events.queues import QueueInfo, get_queue, queue_arn
from lambeam.server._gateway import Gateway, authorize_key

__all__ = ["MAX_REQUEST_BYTES", "Call", "SqsSession", "query_code"]

# A 1 MiB body in JSON: every character escaped as \uXXXX is 3 times its UTF-8 size, at most.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
_INFO_TTL_S = 1.0  # how long a queue's attributes are reused (SQS itself takes up to 60 s)
# The query protocol's codes where they differ from the error shape's name.
_QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
}


def query_code(shape: str) -> str:
    """The query protocol's error code for SQS's error shape `shape` (what botocore raises by)."""
    return _QUERY_CODES.get(shape, shape)


class SqsSession:
    """What the SQS API of one app keeps: the group commit of sends and recently read queues."""

    def __init__(self) -> None:
        self.sends: GroupCommit[tuple[str, Outgoing]] | None = None
        self.infos: dict[str, tuple[float, QueueInfo]] = {}

    def committer(self, gw: Gateway) -> GroupCommit[tuple[str, Outgoing]]:
        """Concurrent sends, committed together (each answered once its group is)."""
        if self.sends is None:
            queue = gw.events.queue

            def flush(items: Sequence[tuple[str, Outgoing]]) -> None:
                queue.send_many(items)

            self.sends = GroupCommit(flush)
        return self.sends


@dataclass
class Call:
    """One request of action `action`: its parameters and what answering it needs."""

    request: Request
    gw: Gateway
    params: dict[str, Any]
    action: str
    session: SqsSession

    def text(self, name: str, *, required: bool = True) -> str:
        """String parameter `name` (MissingParameter when required and absent or empty)."""
        value = self.params.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and value == ""):
            raise MessageError(
                f"The request must contain the parameter {name}.", code="MissingParameter"
            )
        return value

    def integer(self, name: str, low: int, high: int, default: int | None) -> int | None:
        """Parameter `name`, an integer from `low` to `high`, or `default` when absent."""
        value = self.params.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MessageError(
                f"Value {value} for parameter {name} is invalid. Reason: Must be >= {low} and"
                f" <= {high}, if provided."
            )
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        """Map parameter `name` ({} when absent)."""
        value = self.params.get(name) or {}
        if not isinstance(value, dict):
            raise MessageError(f"{name} must be a map")
        return value

    def names(self, *params: str) -> list[str]:
        """The names listed in the list parameters `params`, together."""
        found: list[str] = []
        for param in params:
            value = self.params.get(param) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MessageError(f"{param} must be a list of names")
            found += value
        return found

    def arn(self, name: str) -> str:
        """Queue `name`'s ARN in this server's region and account."""
        return queue_arn(name, self.gw.engine.region, self.gw.engine.account_id)

    def url(self, name: str) -> str:
        """Queue `name`'s URL, on the host the client called."""
        host = self.request.headers.get("host") or self.request.url.netloc
        return f"{self.request.url.scheme}://{host}/{self.gw.engine.account_id}/{name}"

    async def authorize(self, action: str, resource: str) -> None:
        """AccessDeniedError unless the request's key may do `action` on `resource`."""
        key = getattr(self.request.state, "key", None)
        if key is not None:
            await authorize_key(self.gw, key, action, resource)

    def queue_name(self) -> str:
        """The queue the QueueUrl parameter names (`http://host/{account}/{name}`)."""
        url = self.text("QueueUrl")
        try:
            path = urlsplit(url).path
        except ValueError:  # "http://[::1": not a URL at all
            path = ""
        parts = [part for part in path.split("/") if part]
        if not parts:
            raise MessageError(
                f"The address {url} is not valid for this endpoint.", code="InvalidAddress"
            )
        if len(parts) >= 2 and parts[-2] != self.gw.engine.account_id:
            raise QueueNotFoundError(
                f"The specified queue does not exist: {url} names account {parts[-2]}, this"
                f" server is account {self.gw.engine.account_id}"
            )
        return parts[-1]

    async def queue(self, action: str) -> QueueInfo:
        """The QueueUrl's queue, once the key may do `action` on it."""
        name = self.queue_name()
        await self.authorize(action, self.arn(name))
        cached = self.session.infos.get(name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        info = await asyncio.to_thread(get_queue, self.gw.project.db, name)
        self.session.infos[name] = (time.monotonic() + _INFO_TTL_S, info)
        return info

    def forget(self, name: str) -> None:
        """Drop what this app read about queue `name` (after a change made here)."""
        self.session.infos.pop(name, None)

"""SQS queues: their names, attributes (SQS's rules and defaults) and lifecycle.

    info = create_queue(db, "orders", {"VisibilityTimeout": "60"})
    info.visibility_timeout          # 60
    info.dead_letter                 # DeadLetter("orders-dlq", 5) once a RedrivePolicy is set
    set_queue_attributes(db, "orders", {"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": queue_arn("orders-dlq"), "maxReceiveCount": 5})})
    delete_queue(db, "orders")       # and every message it held

Attributes are kept as SQS spells them (string values, `RedrivePolicy` as its compact JSON text),
only those set; `QueueInfo.attributes` fills in SQS's defaults. A redrive policy names a queue of
the server's own region and account; when that queue is deleted the policy stays (as SQS shows
it) but `QueueInfo.dead_letter` is None, so that nothing moves to a queue that is gone. The messages themselves live in the
durable queue (lambeam.events.queue); lambeam.events.messages gives them SQS's semantics.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lambeam.errors import (
    QueueAttributeError,
    QueueExistsError,
    QueueNameError,
    QueueNotFoundError,
)
from lambeam.events.queue import DeadLetter, MessageQueue
from lambeam.runtime import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.storage import Database, as_utc, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import QueueMessageRow, QueueRow

if TYPE_CHECKING:
    from lambeam.events.service import EventService

__all__ = [
    "DEFAULTS",
    "MAX_MESSAGE_BYTES",
    "RANGES",
    "READ_ONLY",
    "QueueInfo",
    "check_attributes",
    "check_queue_name",
    "create_queue",
    "delete_queue",
    "expire_messages",
    "get_queue",
    "list_queues",
    "queue_arn",
    "queue_name_from_arn",
    "set_queue_attributes",
    "sweep_retention",
]

MAX_MESSAGE_BYTES = 1024 * 1024  # SQS's limit since August 2025 (it was 256 KiB)
# Each settable integer attribute's range, inclusive, and the defaults SQS gives a new queue.
RANGES: Mapping[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
}
DEFAULTS: Mapping[str, str] = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
}
# What GetQueueAttributes also answers, computed rather than set.
READ_ONLY = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
# SQS attributes of FIFO queues, encryption and access policies: lambeam's queues are standard
# queues without them, and says so rather than storing a setting it would not honour.
_UNSUPPORTED = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "Policy",
    "RedriveAllowPolicy",
)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_MAX_RECEIVE_COUNT = (1, 1000)
_DEFAULT_MAX_RECEIVE_COUNT = 10  # botocore's documentation of RedrivePolicy: "Default: 10"


@dataclass(frozen=True)
class QueueInfo:
    """A queue and the attributes set on it (`attributes` adds SQS's defaults)."""

    name: str
    set_attributes: Mapping[str, str]
    origin: str
    created_at: datetime
    updated_at: datetime
    dead_letter_exists: bool = True  # whether the redrive policy's queue exists (when read)

    @property
    def attributes(self) -> dict[str, str]:
        """Every settable attribute, SQS's default where none was set."""
        attributes = {**DEFAULTS, **self.set_attributes}
        if attributes.get("RedrivePolicy"):  # compact, as SQS answers (older rows had spaces)
            policy = json.loads(attributes["RedrivePolicy"])
            attributes["RedrivePolicy"] = json.dumps(policy, separators=(",", ":"))
        return attributes

    def _int(self, name: str) -> int:
        return int(self.set_attributes.get(name, DEFAULTS[name]))

    @property
    def visibility_timeout(self) -> int:
        return self._int("VisibilityTimeout")

    @property
    def retention_period(self) -> int:
        return self._int("MessageRetentionPeriod")

    @property
    def delay_seconds(self) -> int:
        return self._int("DelaySeconds")

    @property
    def maximum_message_size(self) -> int:
        return self._int("MaximumMessageSize")

    @property
    def receive_wait_time(self) -> int:
        return self._int("ReceiveMessageWaitTimeSeconds")

    @property
    def dead_letter(self) -> DeadLetter | None:
        """The redrive policy: where a message goes past `maxReceiveCount` receives, or None
        (also when its dead-letter queue was deleted since: the message stays where it is)."""
        text = self.set_attributes.get("RedrivePolicy")
        if not text or not self.dead_letter_exists:
            return None
        policy = json.loads(text)
        count = policy.get("maxReceiveCount", _DEFAULT_MAX_RECEIVE_COUNT)
        return DeadLetter(queue_name_from_arn(policy["deadLetterTargetArn"]), int(count))

    def arn(self, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
        """The queue's ARN, as SQS writes it and policies name it."""
        return queue_arn(self.name, region, account_id)


def queue_arn(name: str, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """`arn:aws:sqs:{region}:{account}:{name}`."""
    return f"arn:aws:sqs:{region}:{account_id}:{name}"


def queue_name_from_arn(value: str) -> str:
    """The queue an SQS ARN (or a bare queue name) names."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise ValueError(f"{value!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
        return parts[5]
    return value


def check_queue_name(name: str) -> str:
    """`name` if SQS would take it for a standard queue: 1–80 of A-Z a-z 0-9 - _ (else
    QueueNameError, SQS's InvalidParameterValue)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise QueueNameError(
            f"Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in"
            f" length (queue name {name!r})",
            attribute="QueueName",
        )
    return name


def check_attributes(
    attributes: Mapping[str, Any],
    exists: Callable[[str], bool] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, str]:
    """The settable attributes in `attributes`, checked as SQS checks them and normalized
    (strings; RedrivePolicy as compact JSON with an ARN of `region` and `account_id`, the
    only ones its target may name). `exists(name)` says whether a dead-letter queue exists
    (None: not checked). An empty RedrivePolicy removes it."""
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        if name in RANGES:
            low, high = RANGES[name]
            number = _integer(value)
            if number is None or not low <= number <= high:
                raise QueueAttributeError(
                    f"Invalid value for the parameter {name}: {value!r} (an integer from {low}"
                    f" to {high})",
                    attribute=name,
                )
            checked[name] = str(number)
        elif name == "RedrivePolicy":
            checked[name] = _redrive_policy(value, exists, region, account_id)
        elif name in _UNSUPPORTED:
            raise QueueAttributeError(
                f"Attribute {name} is not supported: lambeam's queues are standard queues without"
                " FIFO ordering, KMS encryption or queue policies (access is by key policies)",
                attribute=name,
                unknown=True,
            )
        else:
            raise QueueAttributeError(f"Unknown Attribute {name}.", attribute=name, unknown=True)
    return checked


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
        return int(value)
    return None


def _redrive_policy(
    value: Any, exists: Callable[[str], bool] | None, region: str, account_id: str
) -> str:
    if value in ("", None):
        return ""

    def refuse(reason: str) -> QueueAttributeError:
        return QueueAttributeError(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}",
            attribute="RedrivePolicy",
        )

    try:
        policy = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise refuse("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict) or "deadLetterTargetArn" not in policy:
        raise refuse("Redrive policy needs deadLetterTargetArn.")
    if not set(policy) <= {"deadLetterTargetArn", "maxReceiveCount"}:
        raise refuse("Redrive policy takes exactly deadLetterTargetArn and maxReceiveCount.")
    given = policy.get("maxReceiveCount", _DEFAULT_MAX_RECEIVE_COUNT)
    count = _integer(given)
    low, high = _MAX_RECEIVE_COUNT
    if count is None or not low <= count <= high:
        raise refuse(
            f"Invalid value for maxReceiveCount: {given}, valid values are from {low} to {high}"
            " both inclusive."
        )
    target = policy["deadLetterTargetArn"]
    try:
        name = queue_name_from_arn(target) if isinstance(target, str) else ""
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if not _NAME.fullmatch(name):
        raise refuse(f"{target!r} is not a queue ARN.")
    arn = queue_arn(name, region, account_id)
    if target.startswith("arn:") and target != arn:
        raise refuse(
            f"Dead letter target {target} is not a queue of this server's region and account"
            f" ({region}, {account_id}): SQS's dead-letter queue is in the same account and"
            " region as its source queue."
        )
    if exists is not None and not exists(name):
        raise refuse("Dead letter target does not exist.")
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count}, separators=(",", ":"))


def _info(row: QueueRow, exists: Callable[[str], bool]) -> QueueInfo:
    info = QueueInfo(
        name=row.name,
        set_attributes=dict(row.attributes),
        origin=row.origin,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )
    target = info.dead_letter
    if target is not None and not exists(target.queue):
        info = replace(info, dead_letter_exists=False)
    return info


def _exists(session: Session) -> Callable[[str], bool]:
    def exists(name: str) -> bool:
        return session.get(QueueRow, name) is not None

    return exists


def get_queue(db: Database, name: str) -> QueueInfo:
    """The queue `name`, or QueueNotFoundError."""
    with db.session() as session:
        row = session.get(QueueRow, name)
        if row is None:
            raise _not_found(name)
        return _info(row, _exists(session))


def list_queues(db: Database, prefix: str = "") -> list[QueueInfo]:
    """Every queue whose name starts with `prefix`, by name."""
    with db.session() as session:
        rows = session.scalars(select(QueueRow).order_by(QueueRow.name)).all()
        names = {row.name for row in rows}
        return [_info(row, names.__contains__) for row in rows if row.name.startswith(prefix)]


def create_queue(
    db: Database,
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    origin: str = "api",
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> QueueInfo:
    """Create queue `name` with `attributes` (SQS's names and values; a dead-letter target of
    `region` and `account_id`). As SQS does, creating a queue that exists with the same
    attributes answers it; other attributes: QueueExistsError."""
    check_queue_name(name)
    with db.session() as session:
        exists = _exists(session)
        where = {"region": region, "account_id": account_id}
        checked = check_attributes(attributes or {}, exists, **where)
        checked = {k: v for k, v in checked.items() if v != ""}
        row = session.get(QueueRow, name)
        if row is not None:
            have = _info(row, exists).attributes
            given = {**DEFAULTS, **checked}
            differ = sorted(k for k in set(have) | set(given) if have.get(k) != given.get(k))
            if differ:
                raise QueueExistsError(
                    f"A queue already exists with the same name and a different value for"
                    f" attribute(s) {', '.join(differ)} (queue {name!r})"
                )
            return _info(row, exists)
        now = utcnow()
        row = QueueRow(name=name, attributes=checked, origin=origin, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        record(session, "sqs:CreateQueue", f"queue:{name}", {"attributes": checked})
        return _info(row, exists)


def set_queue_attributes(
    db: Database,
    name: str,
    attributes: Mapping[str, Any],
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> QueueInfo:
    """Change some of queue `name`'s attributes (the others keep theirs; a dead-letter target
    of `region` and `account_id`)."""
    with db.session() as session:
        row = session.get(QueueRow, name)
        if row is None:
            raise _not_found(name)
        exists = _exists(session)
        checked = check_attributes(attributes, exists, region=region, account_id=account_id)
        merged = {**row.attributes, **checked}
        row.attributes = {k: v for k, v in merged.items() if v != ""}
        row.updated_at = utcnow()
        session.flush()
        record(session, "sqs:SetQueueAttributes", f"queue:{name}", {"attributes": checked})
        return _info(row, exists)


def delete_queue(db: Database, name: str) -> int:
    """Delete queue `name` and every message it held (SQS's DeleteQueue); how many messages."""
    with db.session() as session:
        row = session.get(QueueRow, name)
        if row is None:
            raise _not_found(name)
        session.delete(row)
        purged = session.execute(
            delete(QueueMessageRow).where(QueueMessageRow.queue == name)
        ).rowcount  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult
        record(session, "sqs:DeleteQueue", f"queue:{name}", {"messages": purged})
        return int(purged)


def _not_found(name: str) -> QueueNotFoundError:
    return QueueNotFoundError(
        f"The specified queue does not exist: {name!r} (lambeam queues ls lists them)"
    )


def expire_messages(db: Database, queue: MessageQueue) -> int:
    """Delete every queue's messages older than its MessageRetentionPeriod; how many."""
    return sum(queue.expire(info.name, info.retention_period) for info in list_queues(db))


async def sweep_retention(service: EventService) -> None:
    """The retention sweeper (a loop of LOOPS): expires messages every 30 poll intervals (30 s
    by default; SQS's own retention is as coarse)."""
    while True:
        await asyncio.to_thread(expire_messages, service.project.db, service.queue)
        await asyncio.sleep(max(1.0, 30 * service.timings.poll_interval_s))

"""What Lambda allows of an SQS event source mapping, checked in Lambda's words.

BatchSize 1–10,000 (default 10), above 10 only with a MaximumBatchingWindowInSeconds of at least
1 (0–300, default 0); ScalingConfig's MaximumConcurrency 2–1,000; FunctionResponseTypes empty
or ["ReportBatchItemFailures"]; a code function that exists; and a queue that keeps a received
message hidden for at least the function's timeout, since a batch still running would come
back to another consumer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy.orm import Session

from lambeam.errors import ConfigError, QueueNotFoundError, ValidationError
from lambeam.events.queues import get_queue
from lambeam.functions import get_function
from lambeam.storage import Database

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAXIMUM_CONCURRENCY",
    "MAX_BATCHING_WINDOW_S",
    "MAX_BATCH_SIZE",
    "MAX_UNWINDOWED_BATCH_SIZE",
    "REPORT_BATCH_ITEM_FAILURES",
    "check_settings",
    "check_target",
]

DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
MAX_UNWINDOWED_BATCH_SIZE = 10  # above this, Lambda needs a batching window of at least 1 s
MAX_BATCHING_WINDOW_S = 300
MAXIMUM_CONCURRENCY = (2, 1000)
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def check_settings(
    batch_size: object,
    window: object,
    concurrency: object,
    response_types: object,
    enabled: object,
) -> dict[str, Any]:
    """A mapping's settings checked by Lambda's rules (in Lambda's words), as its row keeps
    them: batch_size, batching_window_s, maximum_concurrency, function_response_types,
    enabled."""
    size = _integer("batchSize", batch_size, 1, MAX_BATCH_SIZE)
    seconds = _integer("maximumBatchingWindowInSeconds", window, 0, MAX_BATCHING_WINDOW_S)
    if size > MAX_UNWINDOWED_BATCH_SIZE and seconds < 1:
        raise ConfigError(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is"
            " greater than 10"
        )
    limit = None
    if concurrency is not None:
        limit = _integer("scalingConfig.maximumConcurrency", concurrency, *MAXIMUM_CONCURRENCY)
    if isinstance(response_types, str) or not isinstance(response_types, (list, tuple)):
        raise ConfigError(
            f"FunctionResponseTypes must be a list, e.g. [{REPORT_BATCH_ITEM_FAILURES!r}]"
        )
    types = sorted(set(response_types))
    if any(kind != REPORT_BATCH_ITEM_FAILURES for kind in types):
        raise ValidationError(
            f"1 validation error detected: Value '{list(response_types)}' at"
            " 'functionResponseTypes' failed to satisfy constraint: Member must satisfy"
            f" constraint: [Member must satisfy enum value set: [{REPORT_BATCH_ITEM_FAILURES}]]"
        )
    if not isinstance(enabled, bool):
        raise ConfigError(f"Enabled must be true or false, not {enabled!r}")
    return {
        "batch_size": size,
        "batching_window_s": seconds,
        "maximum_concurrency": limit,
        "function_response_types": types,
        "enabled": enabled,
    }


def _integer(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field} must be a whole number from {low} to {high}, not {value!r}")
    if value < low:
        bound = f"greater than or equal to {low}"
    elif value > high:
        bound = f"less than or equal to {high}"
    else:
        return value
    raise ValidationError(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy"
        f" constraint: Member must have value {bound}"
    )


def check_target(session: Session, function: str, qualifier: str | None, queue: str) -> None:
    """The function (at its qualifier) must exist and run code; the queue must exist and keep
    a received message hidden for at least the function's timeout (as Lambda refuses it)."""
    db = _reading_in(session)
    info = get_function(db, function, qualifier)
    if info.kind != "code":
        raise ConfigError(
            f"function {function!r} serves a model, which reads prediction requests, not queue"
            " batches; map the queue to a code function"
        )
    try:
        visibility = get_queue(db, queue).visibility_timeout
    except QueueNotFoundError:
        raise ConfigError(
            "Error occurred while ReceiveMessage. SQS Error Code:"
            " AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue"
            f" {queue!r} does not exist (lambeam queues ls lists them)"
        ) from None
    timeout = info.config.timeout_s
    if visibility < timeout:
        raise ConfigError(
            f"Queue visibility timeout: {visibility} seconds is less than Function timeout:"
            f" {timeout} seconds"
        )


class _Within:
    """What the functions and queues services read through, inside `session`'s transaction
    (lambeam.toml's apply writes a kind in one session; what it reads must be in it too)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        yield self._session


def _reading_in(session: Session) -> Database:
    return cast(Database, _Within(session))

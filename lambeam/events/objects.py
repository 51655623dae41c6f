"""Object-created triggers: new objects under a local folder or an `s3://bucket/prefix/` invoke
a function asynchronously with S3's event notification.

    trigger = create_object_trigger(db, "ingest", "s3://raw/incoming/", suffix=".csv")
    request_ids = scan(queue, trigger, storage_options)   # what the server's watcher does

A trigger is polled (every `[events] poll_interval` seconds, by the `watch_objects` loop of the
events service). Objects present when the trigger is created never fire: they are its baseline.
Each new object version (its key and ETag) fires exactly once, also across restarts and with
several servers: the `object_seen` row that remembers it and the invocation are written in one
transaction, and that row's primary key lets only one writer through.

The event is S3's (`Records[0]`: eventVersion 2.1, eventSource aws:s3, eventName
ObjectCreated:Put, s3.bucket.name, s3.object.key URL-encoded as S3 encodes it, size, eTag,
sequencer). For a local folder the "bucket" is the watched folder's own name, a key is the path
below it (with `/`), and the eTag is the MD5 of the file's content, as S3's is for a simple PUT.
Files and folders whose name starts with "." are ignored: write a file under a dot-name and
rename it when complete, so that a half-written file never fires. Only regular files are
objects (links, FIFOs and devices are skipped).

A local folder must be under the project root and outside its private paths (its `.lambeam`
state, database and artifact folder), symlinks resolved: lambeam.object_locations.FolderRules.
A trigger on any other folder is refused when created, and skipped by the watcher if it was
stored before.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import Table, delete, select
from sqlalchemy.exc import IntegrityError

from lambeam.errors import (
    ConfigError,
    FunctionNotFoundError,
    ObjectTriggerNotFoundError,
    StorageError,
)
from lambeam.events.asynchronous import enqueue_invocations
from lambeam.events.object_listing import (
    ObjectVersion,
    list_objects,
    list_objects_within,
    object_storage_options,
)
from lambeam.events.object_locations import FolderRules, location_arn
from lambeam.events.queue import MessageQueue
from lambeam.invoke.request import InvocationRequest
from lambeam.runtime.engine import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.runtime.spec import split_function_name
from lambeam.storage import Database
from lambeam.storage.database import utcnow
from lambeam.storage.schema import FunctionRow, ObjectSeenRow, ObjectTriggerRow

__all__ = [
    "SCAN_BUDGET_S",
    "ObjectTrigger",
    "ObjectVersion",
    "create_object_trigger",
    "delete_object_trigger",
    "get_object_trigger",
    "list_object_triggers",
    "list_objects",
    "normalized_location",
    "object_event",
    "object_storage_options",
    "scan",
]

_SEEN: Table = ObjectSeenRow.__table__  # type: ignore[assignment]
# How long one listing of a local folder reads new files before it leaves the rest to the next
# poll (files already read are listed at once): one large folder never holds up the others.
SCAN_BUDGET_S = 5.0


@dataclass(frozen=True)
class ObjectTrigger:
    """A watched location (`location`: an absolute folder, or s3://bucket/prefix/) whose new
    objects ending in `suffix` invoke `function` (at `qualifier`)."""

    id: str
    function: str
    qualifier: str | None
    location: str
    suffix: str
    bucket: str
    origin: str
    created_at: str

    def resource(self, root: Path) -> str:
        """What a key is authorized on for this trigger (a relative folder read against `root`):
        arn:aws:s3:::BUCKET, or arn:lambeam:folder:::/REAL/PATH (object_locations)."""
        return location_arn(self.location, root)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "function": self.function,
            "qualifier": self.qualifier,
            "location": self.location,
            "suffix": self.suffix,
            "bucket": self.bucket,
            "origin": self.origin,
            "created_at": self.created_at,
        }


def create_object_trigger(
    db: Database,
    function: str,
    location: str,
    *,
    suffix: str = "",
    qualifier: str | None = None,
    origin: str = "api",
    settings: Any,
    root: Path | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ObjectTrigger:
    """Watch `location` (a folder, relative to `root` (default: the project root of
    `settings`) when relative, or s3://bucket/prefix/) for new objects ending in `suffix`,
    invoking `function`. What is there now is the baseline and never fires. The same function,
    location and suffix again returns the trigger. ConfigError for a folder outside the project
    root or inside its private paths (`settings`'s; FolderRules)."""
    name, qualifier = split_function_name(function, qualifier)
    location = normalized_location(location, root or settings.root)
    rules = FolderRules.from_settings(settings)
    if not location.startswith("s3://"):
        location = str(rules.check(Path(location)))
    if not isinstance(suffix, str) or len(suffix) > 200:
        raise ConfigError("suffix must be text of at most 200 characters, e.g. .csv")
    with db.session() as session:
        if session.get(FunctionRow, name) is None:
            raise FunctionNotFoundError(f"no function {name!r} for an object trigger")
        for row in session.scalars(
            select(ObjectTriggerRow).where(
                ObjectTriggerRow.function == name, ObjectTriggerRow.location == location
            )
        ):
            if row.suffix == suffix and row.qualifier == qualifier:
                return _trigger(row)
    listing = list_objects_within(
        location, storage_options or {}, hidden=rules.hidden, budget_s=SCAN_BUDGET_S
    )
    now = utcnow()
    row = ObjectTriggerRow(
        id=str(uuid.uuid4()),
        function=name,
        qualifier=qualifier,
        location=location,
        suffix=suffix,
        baseline_done=listing.complete,  # else the watcher's polls take the rest of it
        origin=origin,
        created_at=now,
        updated_at=now,
    )
    with db.session() as session:
        session.add(row)
        session.flush()
        _remember(session, row.id, listing.objects, now.timestamp())
        return _trigger(row)


def get_object_trigger(db: Database, trigger_id: str) -> ObjectTrigger:
    """The trigger `trigger_id`; ObjectTriggerNotFoundError when there is none."""
    with db.session() as session:
        row = session.get(ObjectTriggerRow, trigger_id)
        if row is None:
            raise ObjectTriggerNotFoundError(f"no object trigger {trigger_id!r}")
        return _trigger(row)


def list_object_triggers(db: Database, function: str | None = None) -> list[ObjectTrigger]:
    """Every object trigger (or `function`'s), oldest first."""
    with db.session() as session:
        query = select(ObjectTriggerRow).order_by(ObjectTriggerRow.created_at)
        if function is not None:
            query = query.where(ObjectTriggerRow.function == function)
        return [_trigger(row) for row in session.scalars(query)]


def delete_object_trigger(db: Database, trigger_id: str) -> None:
    """Stop watching (and forget what the trigger saw); ObjectTriggerNotFoundError if unknown."""
    with db.session() as session:
        row = session.get(ObjectTriggerRow, trigger_id)
        if row is None:
            raise ObjectTriggerNotFoundError(f"no object trigger {trigger_id!r}")
        session.execute(delete(ObjectSeenRow).where(ObjectSeenRow.trigger == trigger_id))
        session.delete(row)


def scan(
    queue: MessageQueue,
    trigger: ObjectTrigger,
    storage_options: Mapping[str, Any],
    *,
    digests: dict[tuple[str, int, int], str] | None = None,
    root: Path | None = None,
    settings: Any = None,
    budget_s: float | None = SCAN_BUDGET_S,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> list[str]:
    """Fire `trigger` for each object version under its location (a relative folder read
    against `root`, by default the project root of `settings`) that it has not seen (the
    baseline first, when it has none yet: a trigger lambeam.toml declared takes it at the first
    polls); the request ids of the invocations made. With `settings`, a folder outside the
    project root or inside its private paths is a ConfigError (a trigger stored before they
    were refused), and the listing leaves the private paths out. New files are read for at most
    `budget_s` seconds; the rest are read by the next scan."""
    where = _where(trigger.location, root or (settings.root if settings is not None else None))
    hidden = None
    if settings is not None and not where.startswith("s3://"):
        rules = FolderRules.from_settings(settings)
        where, hidden = str(rules.check(Path(where))), rules.hidden
    listing = list_objects_within(where, storage_options, digests, hidden=hidden, budget_s=budget_s)
    found = [o for o in listing.objects if o.key.endswith(trigger.suffix)]
    with queue.db.session() as session:
        row = session.get(ObjectTriggerRow, trigger.id)
        if row is None:
            return []
        if not row.baseline_done:
            _remember(session, trigger.id, found, queue.clock())
            row.baseline_done = listing.complete
            return []
        seen = _seen(session, trigger.id)
    fired = []
    for version in found:
        if (version.key, version.etag) in seen:
            continue
        request_id = _fire(queue, trigger, version, region, account_id)
        if request_id is not None:
            fired.append(request_id)
    return fired


def object_event(
    trigger: ObjectTrigger,
    version: ObjectVersion,
    request_id: str,
    *,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """S3's event notification for one created object (version 2.1 of its structure)."""
    local = not trigger.location.startswith("s3://")
    when = datetime.fromtimestamp(version.modified, UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{when.microsecond // 1000:03d}Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "lambeam"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1" if local else ""},
                "responseElements": {
                    "x-amz-request-id": request_id.replace("-", "")[:16].upper(),
                    "x-amz-id-2": f"lambeam/{trigger.id}",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": trigger.id,
                    "bucket": {
                        "name": trigger.bucket,
                        "ownerIdentity": {"principalId": "lambeam"},
                        "arn": f"arn:aws:s3:::{trigger.bucket}",
                    },
                    "object": {
                        "key": quote_plus(version.key, safe="/"),
                        "size": version.size,
                        "eTag": version.etag,
                        "sequencer": f"{int(version.modified * 1e9):018X}",
                    },
                },
            }
        ]
    }


def _fire(
    queue: MessageQueue,
    trigger: ObjectTrigger,
    version: ObjectVersion,
    region: str,
    account_id: str,
) -> str | None:
    """One object version's invocation and its `object_seen` row, in one transaction; None
    when another server (or an earlier run) recorded it first."""
    request_id = str(uuid.uuid4())
    event = object_event(trigger, version, request_id, region=region)
    now = queue.clock()
    request = InvocationRequest(
        function=trigger.function,
        payload=json.dumps(event).encode(),
        qualifier=trigger.qualifier,
        invocation_type="Event",
        request_id=request_id,
        source="s3",
        enqueued_at=now,
    )

    def seen(connection: Any) -> None:
        connection.execute(
            _SEEN.insert().values(
                trigger=trigger.id, key=version.key, etag=version.etag, seen_at=now
            )
        )

    try:
        enqueue_invocations(queue, [request], also=seen)
    except StorageError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            return None  # seen already (or the trigger was deleted meanwhile)
        raise
    return request_id


def _remember(session: Any, trigger_id: str, versions: list[ObjectVersion], now: float) -> None:
    known = _seen(session, trigger_id)
    rows = [
        {"trigger": trigger_id, "key": v.key, "etag": v.etag, "seen_at": now}
        for v in {(v.key, v.etag): v for v in versions}.values()
        if (v.key, v.etag) not in known
    ]
    if rows:
        session.execute(_SEEN.insert(), rows)


def _seen(session: Any, trigger_id: str) -> set[tuple[str, str]]:
    query = select(ObjectSeenRow.key, ObjectSeenRow.etag).where(ObjectSeenRow.trigger == trigger_id)
    return {(key, etag) for key, etag in session.execute(query)}


def normalized_location(location: str, root: Path | None) -> str:
    """A trigger's location as stored: s3://bucket/prefix/ (ending in "/"), or a folder made
    absolute against `root` and resolved (or kept relative, to be read against the project's
    root, when `root` is None: lambeam.toml's folders, which must then be relative, without
    `..` or a dot-name). ConfigError when it is neither."""
    if not isinstance(location, str) or not location:
        raise ConfigError("an object trigger needs a folder or an s3://bucket/prefix/ to watch")
    if location.startswith("s3://"):
        bucket = location[5:].split("/", 1)[0]
        if not bucket:
            raise ConfigError(f"{location!r} names no bucket; write s3://bucket/prefix/")
        return location if location.endswith("/") else location + "/"
    if "://" in location and not location.startswith("file://"):
        raise ConfigError(f"{location!r}: an object trigger watches a folder or s3:// only")
    path = Path(location.removeprefix("file://")).expanduser()
    if root is None:
        # lambeam.toml's: under the project root, never in a dot-folder such as .lambeam (the
        # watcher resolves it against the root and checks it again: FolderRules)
        if path.is_absolute() or any(p == ".." or p.startswith(".") for p in path.parts):
            raise ConfigError(
                f"{location!r}: write a folder of the project relative to its root, with no"
                " '..' or dot-folder in it (e.g. data/incoming), or s3://bucket/prefix/"
            )
        return path.as_posix()
    if not path.is_absolute():
        path = root / path
    return str(path.resolve())


def _where(location: str, root: Path | None) -> str:
    if location.startswith("s3://") or root is None or Path(location).is_absolute():
        return location
    return str(root / location)


def _bucket(location: str) -> str:
    if location.startswith("s3://"):
        return location[5:].split("/", 1)[0]
    return Path(location).name


def _trigger(row: ObjectTriggerRow) -> ObjectTrigger:
    return ObjectTrigger(
        id=row.id,
        function=row.function,
        qualifier=row.qualifier,
        location=row.location,
        suffix=row.suffix,
        bucket=_bucket(row.location),
        origin=row.origin,
        created_at=_iso(row.created_at),
    )


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC (SQLite gives the stored UTC time back without its zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()

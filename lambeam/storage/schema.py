"""The metadata tables. Migrations in `migrations/versions/` create and change them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessKeyRow",
    "AliasEvent",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "DatasetVersionRow",
    "EventInvokeConfigRow",
    "EventSourceMappingRow",
    "FunctionAliasRow",
    "FunctionRow",
    "FunctionVersionRow",
    "InvocationRow",
    "KeyPolicyRow",
    "ModelAliasRow",
    "ModelRow",
    "ModelVersionRow",
    "ObjectSeenRow",
    "ObjectTriggerRow",
    "QueueMessageRow",
    "QueueRow",
    "ScheduleRow",
    "ScheduleTickRow",
    "SubscriptionRow",
    "TopicRow",
]


class Base(DeclarativeBase):
    """Declarative base of lambeam's tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class DatasetVersionRow(Base):
    """One immutable output of a pipeline run; its artifacts are listed in its manifest."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("pipeline", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(200), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    spec_hash: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    inputs: Mapped[list[Any]] = mapped_column(JSON)
    # What a listing shows, kept from the manifest (migration 0005; NULL on older rows, whose
    # manifest is read instead).
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    train_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    test_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    input_columns: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    runner: Mapped[str] = mapped_column(String(200))
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class ModelRow(Base):
    """A named model: a series of numbered versions."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelVersionRow(Base):
    """One immutable trained model, with its lineage, metrics and artifacts."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(ForeignKey("models.name"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    task: Mapped[str] = mapped_column(String(40))
    estimator: Mapped[str] = mapped_column(String(400))
    skops: Mapped[str] = mapped_column(String(64))
    onnx: Mapped[str | None] = mapped_column(String(64), nullable=True)
    onnx_status: Mapped[str] = mapped_column(String(40))
    # rows, agreement, max_abs_diff, tolerance, error: how the ONNX graph compared (migration 0002).
    onnx_check: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    trusted_types: Mapped[list[Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class ModelAliasRow(Base):
    """A mutable name (`prod`, `staging`) pointing at one version of a model."""

    __tablename__ = "model_aliases"

    model: Mapped[str] = mapped_column(ForeignKey("models.name"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class AliasEvent(Base):
    """The audit trail of alias moves: every set and removal, never edited."""

    __tablename__ = "alias_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    alias: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(String(200))


class FunctionRow(Base):
    """A function and its `$LATEST`: mutable until a version is published from it."""

    __tablename__ = "functions"

    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "code" or "model"
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # handler, memory, timeout, env, …
    code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_ref: Mapped[str | None] = mapped_column(String(400), nullable=True)
    reserved_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revision_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The highest version number ever published: Lambda never reuses a deleted version's number.
    last_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FunctionVersionRow(Base):
    """An immutable published version of a function (a model function's pins its model version)."""

    __tablename__ = "function_versions"
    __table_args__ = (UniqueConstraint("function", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    function: Mapped[str] = mapped_column(
        ForeignKey("functions.name", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(400), nullable=True)  # "churn:7"
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class FunctionAliasRow(Base):
    """A function alias: a version, optionally sending a weight of traffic to a second one."""

    __tablename__ = "function_aliases"

    function: Mapped[str] = mapped_column(
        ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(20))  # a number, or "$LATEST"
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    revision_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessKeyRow(Base):
    """An API access key. The secret is kept because SigV4 verification recomputes signatures."""

    __tablename__ = "access_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class KeyPolicyRow(Base):
    """The IAM-like policy document attached to an access key (migration 0006)."""

    __tablename__ = "key_policies"

    key_id: Mapped[str] = mapped_column(
        ForeignKey("access_keys.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """One entry of the audit log: never edited; `hash` chains it to the entry before."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80))
    resource: Mapped[str] = mapped_column(String(400))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The audit log's one head row (id 1): the last entry's number and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


# Events (migration 0007). `origin` is "toml" for what `lambeam apply` made, "api" otherwise.


def _function_fk() -> Any:
    return ForeignKey("functions.name", ondelete="CASCADE")


class QueueRow(Base):
    """A named queue (SQS's CreateQueue) and its attributes, in SQS's spelling."""

    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueMessageRow(Base):
    """One message of a queue (an SQS queue's, or the internal queue of async invocations).

    Ready when `visible_at` (epoch seconds) has passed; a receive sets a fresh `lease`.
    """

    __tablename__ = "queue_messages"
    __table_args__ = (Index("ix_queue_messages_ready", "queue", "visible_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[float] = mapped_column(Float)
    visible_at: Mapped[float] = mapped_column(Float)
    receive_count: Mapped[int] = mapped_column(Integer)
    first_received_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease: Mapped[str | None] = mapped_column(String(32), nullable=True)


class InvocationRow(Base):
    """An asynchronous invocation: its status, its attempts (`history`) and its result."""

    __tablename__ = "invocations"
    __table_args__ = (Index("ix_invocations_function", "function", "enqueued_at"),)

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    function: Mapped[str] = mapped_column(String(140))
    qualifier: Mapped[str | None] = mapped_column(String(140), nullable=True)
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    enqueued_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    executed_version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    history: Mapped[list[Any]] = mapped_column(JSON)
    destination: Mapped[str | None] = mapped_column(String(400), nullable=True)


class EventInvokeConfigRow(Base):
    """Lambda's asynchronous-invocation settings of a function (or of one qualifier)."""

    __tablename__ = "event_invoke_configs"

    function: Mapped[str] = mapped_column(String(140), _function_fk(), primary_key=True)
    qualifier: Mapped[str] = mapped_column(String(140), primary_key=True)
    maximum_retry_attempts: Mapped[int] = mapped_column(Integer)
    maximum_event_age_s: Mapped[int] = mapped_column(Integer)
    destinations: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(String(20), server_default="api")  # "toml" | "api"


class EventSourceMappingRow(Base):
    """A queue polled for a function (Lambda's event source mapping)."""

    __tablename__ = "event_source_mappings"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    function: Mapped[str] = mapped_column(String(140), _function_fk(), index=True)
    qualifier: Mapped[str | None] = mapped_column(String(140), nullable=True)
    queue: Mapped[str] = mapped_column(String(80))
    batch_size: Mapped[int] = mapped_column(Integer)
    batching_window_s: Mapped[int] = mapped_column(Integer)
    maximum_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    function_response_types: Mapped[list[Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TopicRow(Base):
    """A topic (SNS's CreateTopic)."""

    __tablename__ = "topics"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SubscriptionRow(Base):
    """A topic's subscriber: a function ("lambda") or a queue ("sqs")."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic: Mapped[str] = mapped_column(
        String(256), ForeignKey("topics.name", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(20))
    endpoint: Mapped[str] = mapped_column(String(400))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleRow(Base):
    """A schedule (EventBridge's cron, rate or at expression) that invokes a function."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    expression: Mapped[str] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64))
    function: Mapped[str] = mapped_column(String(140), _function_fk())
    qualifier: Mapped[str | None] = mapped_column(String(140), nullable=True)
    input: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleTickRow(Base):
    """One fired tick of a schedule: its primary key makes several servers fire it once."""

    __tablename__ = "schedule_ticks"

    schedule: Mapped[str] = mapped_column(
        String(64), ForeignKey("schedules.name", ondelete="CASCADE"), primary_key=True
    )
    tick: Mapped[float] = mapped_column(Float, primary_key=True)
    fired_at: Mapped[float] = mapped_column(Float)
    request_id: Mapped[str] = mapped_column(String(64))


class ObjectTriggerRow(Base):
    """A folder or `s3://` prefix whose new objects invoke a function."""

    __tablename__ = "object_triggers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    function: Mapped[str] = mapped_column(String(140), _function_fk())
    qualifier: Mapped[str | None] = mapped_column(String(140), nullable=True)
    location: Mapped[str] = mapped_column(String(1000))
    suffix: Mapped[str] = mapped_column(String(200))
    baseline_done: Mapped[bool] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ObjectSeenRow(Base):
    """An object version (key and ETag) that has triggered its trigger: never again."""

    __tablename__ = "object_seen"

    trigger: Mapped[str] = mapped_column(
        String(36), ForeignKey("object_triggers.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    etag: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[float] = mapped_column(Float)

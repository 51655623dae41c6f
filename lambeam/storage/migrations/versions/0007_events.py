"""events: queues, asynchronous invocations, triggers

`queue_messages` holds every queued message of every queue, SQS queues and the internal queue of
asynchronous invocations alike: a message is ready when `visible_at` has passed; a receive sets
`lease` (a fresh token, checked on every settle) and moves `visible_at` on by the visibility
timeout. `invocations` keeps each asynchronous invocation's status and attempts.
`event_invoke_configs` are Lambda's per-function async settings (retries, maximum event age,
destinations). `event_source_mappings` connect queues to functions; `topics` and
`subscriptions` are SNS's; `schedules` fire their function at each tick, `schedule_ticks` holding
one row per fired tick so that several servers fire it once; `object_triggers` watch a folder or
bucket prefix, `object_seen` naming each object version that has triggered. `origin` says whether
lambeam.toml (`apply`) or the API made a row: `apply` removes only its own.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _when() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _function(primary: bool = False) -> sa.Column:
    return sa.Column(
        "function",
        sa.String(length=140),
        sa.ForeignKey("functions.name", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary,
    )


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=80), primary_key=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_table(
        "queue_messages",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("visible_at", sa.Float(), nullable=False),
        sa.Column("receive_count", sa.Integer(), nullable=False),
        sa.Column("first_received_at", sa.Float(), nullable=True),
        sa.Column("lease", sa.String(length=32), nullable=True),
    )
    op.create_index("ix_queue_messages_ready", "queue_messages", ["queue", "visible_at"])
    op.create_table(
        "invocations",
        sa.Column("request_id", sa.String(length=64), primary_key=True),
        sa.Column("function", sa.String(length=140), nullable=False),
        sa.Column("qualifier", sa.String(length=140), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("executed_version", sa.String(length=20), nullable=True),
        sa.Column("error_type", sa.String(length=200), nullable=True),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("destination", sa.String(length=400), nullable=True),
    )
    op.create_index("ix_invocations_function", "invocations", ["function", "enqueued_at"])
    op.create_table(
        "event_invoke_configs",
        _function(primary=True),
        sa.Column("qualifier", sa.String(length=140), primary_key=True),
        sa.Column("maximum_retry_attempts", sa.Integer(), nullable=False),
        sa.Column("maximum_event_age_s", sa.Integer(), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(length=36), primary_key=True),
        _function(),
        sa.Column("qualifier", sa.String(length=140), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("batching_window_s", sa.Integer(), nullable=False),
        sa.Column("maximum_concurrency", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("function_response_types", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_index("ix_event_source_mappings_function", "event_source_mappings", ["function"])
    op.create_table(
        "topics",
        sa.Column("name", sa.String(length=256), primary_key=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column(
            "topic",
            sa.String(length=256),
            sa.ForeignKey("topics.name", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("protocol", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=400), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("expression", sa.String(length=256), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        _function(),
        sa.Column("qualifier", sa.String(length=140), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column(
            "schedule",
            sa.String(length=64),
            sa.ForeignKey("schedules.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tick", sa.Float(), primary_key=True),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
    )
    op.create_table(
        "object_triggers",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _function(),
        sa.Column("qualifier", sa.String(length=140), nullable=True),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("suffix", sa.String(length=200), nullable=False),
        sa.Column("baseline_done", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        *_when(),
    )
    op.create_table(
        "object_seen",
        sa.Column(
            "trigger",
            sa.String(length=36),
            sa.ForeignKey("object_triggers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(length=1024), primary_key=True),
        sa.Column("etag", sa.String(length=200), primary_key=True),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "object_seen",
        "object_triggers",
        "schedule_ticks",
        "schedules",
        "subscriptions",
        "topics",
        "event_source_mappings",
        "event_invoke_configs",
        "invocations",
        "queue_messages",
        "queues",
    ):
        op.drop_table(table)

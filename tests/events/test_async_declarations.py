"""`[functions.NAME.async]` in lambeam.toml, through `lambeam apply` (SQLite and PostgreSQL):
settings and destinations by name, the dead-letter queue in the function's configuration, one
clear error before anything is written, and pruning when the table goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.events.declarations import apply_events, check_events, existing
from lambeam.events.invoke_config import (
    Destination,
    event_invoke_config,
    list_event_invoke_configs,
    put_event_invoke_config,
)
from lambeam.functions import apply, get_function, list_functions
from lambeam.project import Project
from lambeam.storage import utcnow
from lambeam.storage.schema import QueueRow, TopicRow

APP = "def handler(event, context):\n    return event\n"
BASE = """
[project]
name = "asyncdecl"

[functions.score]
code = "score"
handler = "app.handler"

[functions.audit]
code = "score"
handler = "app.handler"
"""


def _apply(root: Path, database_url: str, toml: str) -> Project:
    """Write lambeam.toml and apply it as `lambeam apply` does (functions, then events)."""
    (root / "lambeam.toml").write_text(BASE + toml)
    project = Project.open(root, {"LAMBEAM_DATABASE_URL": database_url})
    try:
        declared = check_events(project, set(project.settings.functions), existing(project.db))
        apply(project)
        apply_events(project, declared)
    except BaseException:
        project.close()
        raise
    return project


@pytest.fixture
def root(tmp_path: Path, database_url: str) -> Path:
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "app.py").write_text(APP)
    (tmp_path / "lambeam.toml").write_text(BASE)
    project = Project.open(tmp_path, {"LAMBEAM_DATABASE_URL": database_url})
    now = utcnow()
    with project.db.session() as session:  # made through the API (SQS, SNS) beforehand
        session.add(
            QueueRow(name="failed", attributes={}, origin="api", created_at=now, updated_at=now)
        )
        session.add(
            TopicRow(name="alerts", attributes={}, origin="api", created_at=now, updated_at=now)
        )
    project.close()
    return tmp_path


def test_apply_then_remove(root: Path, database_url: str) -> None:
    project = _apply(
        root,
        database_url,
        """
[functions.score.async]
maximum_retry_attempts = 1
maximum_event_age = 600
on_failure = "arn:aws:lambda:us-east-1:000000000000:function:audit:$LATEST"
on_success = "alerts"
dead_letter_queue = "failed"
""",
    )
    try:
        config = event_invoke_config(project.db, "score", None)
        assert (config.maximum_retry_attempts, config.maximum_event_age_s) == (1, 600)
        assert config.on_success == Destination("topic", "alerts")
        assert config.on_failure == Destination("function", "audit")
        assert config.origin == "toml"
        assert config.dead_letter == Destination("queue", "failed")
        put_event_invoke_config(project.db, "audit", maximum_retry_attempts=0)  # the API's
    finally:
        project.close()

    project = _apply(root, database_url, "")
    try:
        assert [c.function for c in list_event_invoke_configs(project.db, "score")] == []
        assert [c.function for c in list_event_invoke_configs(project.db, "audit")] == ["audit"]
        assert get_function(project.db, "score").config.dead_letter_target is None
    finally:
        project.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("maximum_retry_attempts = 3", "maximum_retry_attempts must be 0 to 2"),
        ("maximum_event_age = 30", "maximum_event_age must be 60 to 21600"),
        ('on_failure = "nowhere"', "names destination 'nowhere', which is neither declared"),
        ('dead_letter_queue = "nowhere"', "names queue 'nowhere'"),
        ('on_success = "arn:aws:s3:::bucket"', "is not the ARN of a function, queue or topic"),
        ("retries = 1", "unknown key 'retries'"),
    ],
)
def test_one_clear_error_and_nothing_written(
    root: Path, database_url: str, table: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        _apply(root, database_url, f"\n[functions.score.async]\n{table}\n")
    assert "[functions.score].async" in str(raised.value)
    project = Project.open(root, {"LAMBEAM_DATABASE_URL": database_url})
    try:
        assert list_functions(project.db) == []
    finally:
        project.close()

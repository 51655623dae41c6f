"""Lambda's event invoke configs, on SQLite and PostgreSQL: validation, Put/Update semantics,
destinations by ARN or name, and the effective config the dispatcher reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.errors import (
    ConfigError,
    EventInvokeConfigNotFoundError,
    FunctionNotFoundError,
    ValidationError,
)
from lambeam.events.invoke_config import (
    Destination,
    delete_event_invoke_config,
    event_invoke_config,
    get_event_invoke_config,
    list_event_invoke_configs,
    put_event_invoke_config,
    update_event_invoke_config,
)
from lambeam.functions import (
    CodeBundle,
    FunctionConfig,
    create_alias,
    create_function,
    publish_version,
    update_function_configuration,
)
from lambeam.project import Project
from lambeam.storage import utcnow
from lambeam.storage.schema import QueueRow, TopicRow
from tests.conftest import make_project
from tests.server.conftest import zip_of

APP = CodeBundle.from_zip(zip_of({"app.py": "def handler(event, context):\n    return event\n"}))


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Project:
    project = make_project(tmp_path / "proj", database_url)
    config = FunctionConfig(kind="code", handler="app.handler")
    for name in ("score", "audit"):
        create_function(project.db, project.store, name, config, code=APP)
    publish_version(project.db, project.store, "score")
    create_alias(project.db, "score", "prod", "1")
    now = utcnow()
    with project.db.session() as session:
        session.add(
            QueueRow(name="failed", attributes={}, origin="api", created_at=now, updated_at=now)
        )
        session.add(
            TopicRow(name="alerts", attributes={}, origin="api", created_at=now, updated_at=now)
        )
        session.add(
            TopicRow(name="audit", attributes={}, origin="api", created_at=now, updated_at=now)
        )
    return project


def test_defaults_without_a_config(project: Project) -> None:
    config = event_invoke_config(project.db, "score", None)
    assert (config.qualifier, config.maximum_retry_attempts, config.maximum_event_age_s) == (
        "$LATEST",
        2,
        21600,
    )
    assert config.on_success is None and config.on_failure is None and config.last_modified is None
    with pytest.raises(EventInvokeConfigNotFoundError, match="doesn't have an EventInvokeConfig"):
        get_event_invoke_config(project.db, "score")
    assert list_event_invoke_configs(project.db, "score") == []


def test_put_replaces_update_merges_and_each_qualifier_has_its_own(project: Project) -> None:
    put = put_event_invoke_config(
        project.db,
        "score",
        maximum_retry_attempts=0,
        on_failure="arn:aws:sqs:eu-west-1:123456789012:failed",
        on_success="audit:$LATEST",
    )
    assert put.on_failure == Destination("queue", "failed")
    assert put.on_success == Destination("function", "audit")
    assert put.maximum_event_age_s == 21600

    again = put_event_invoke_config(project.db, "score", maximum_event_age_s=60)
    assert (again.maximum_retry_attempts, again.on_failure) == (2, None)  # Put: the rest default

    updated = update_event_invoke_config(project.db, "score", on_success="alerts")
    assert updated.on_success == Destination("topic", "alerts")
    assert updated.maximum_event_age_s == 60  # Update: the rest kept
    cleared = update_event_invoke_config(project.db, "score", on_success="")
    assert cleared.on_success is None

    with pytest.raises(EventInvokeConfigNotFoundError):
        update_event_invoke_config(project.db, "score", "prod", maximum_retry_attempts=1)
    put_event_invoke_config(project.db, "score", "prod", maximum_retry_attempts=1)
    put_event_invoke_config(project.db, "score", "1", on_failure="failed")
    assert [c.qualifier for c in list_event_invoke_configs(project.db, "score")] == [
        "$LATEST",
        "1",
        "prod",
    ]
    assert event_invoke_config(project.db, "score", "prod").maximum_retry_attempts == 1
    assert event_invoke_config(project.db, "score", None).maximum_event_age_s == 60

    delete_event_invoke_config(project.db, "score", "prod")
    assert event_invoke_config(project.db, "score", "prod").maximum_retry_attempts == 2
    with pytest.raises(EventInvokeConfigNotFoundError):
        delete_event_invoke_config(project.db, "score", "prod")


def test_lambda_validation(project: Project) -> None:
    with pytest.raises(ValidationError, match="less than or equal to 2"):
        put_event_invoke_config(project.db, "score", maximum_retry_attempts=3)
    with pytest.raises(ValidationError, match="greater than or equal to 60"):
        put_event_invoke_config(project.db, "score", maximum_event_age_s=59)
    with pytest.raises(ValidationError, match="less than or equal to 21600"):
        put_event_invoke_config(project.db, "score", maximum_event_age_s=21601)
    with pytest.raises(ConfigError, match="must be an integer"):
        put_event_invoke_config(project.db, "score", maximum_retry_attempts=True)
    with pytest.raises(ConfigError, match="names no function or queue or topic"):
        put_event_invoke_config(project.db, "score", on_failure="nowhere")
    with pytest.raises(ConfigError, match="names a function and a topic: give its ARN"):
        put_event_invoke_config(project.db, "score", on_failure="audit")
    with pytest.raises(ConfigError, match="must be a function, an SQS queue or an SNS topic"):
        put_event_invoke_config(
            project.db, "score", on_failure="arn:aws:events:us-east-1:000000000000:bus/x"
        )
    with pytest.raises(ConfigError, match="names no queue"):
        put_event_invoke_config(
            project.db, "score", on_failure="arn:aws:sqs:us-east-1:000000000000:gone"
        )
    with pytest.raises(FunctionNotFoundError):
        put_event_invoke_config(project.db, "score", "7", maximum_retry_attempts=1)
    with pytest.raises(FunctionNotFoundError):
        put_event_invoke_config(project.db, "nope", maximum_retry_attempts=1)
    assert list_event_invoke_configs(project.db, "score") == []  # nothing half-written


def test_the_effective_config_carries_the_dead_letter_queue(project: Project) -> None:
    config = FunctionConfig(kind="code", handler="app.handler", dead_letter_target="failed")
    update_function_configuration(project.db, "score", config, store=project.store)
    effective = event_invoke_config(project.db, "score", None)
    assert effective.dead_letter == Destination("queue", "failed")
    assert event_invoke_config(project.db, "score", "prod").dead_letter is None  # version 1's

"""Event source mappings: Lambda's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.errors import (
    ConfigError,
    EventSourceMappingNotFoundError,
    FunctionConflictError,
    FunctionNotFoundError,
    ValidationError,
)
from lambeam.events.mappings import (
    create_event_source_mapping,
    delete_event_source_mapping,
    get_event_source_mapping,
    list_event_source_mappings,
    update_event_source_mapping,
)
from lambeam.events.queues import create_queue
from lambeam.functions import CodeBundle, FunctionConfig, create_function, delete_function
from lambeam.project import Project
from tests.conftest import make_project
from tests.server.conftest import zip_of

_ZIP = zip_of({"app.py": "def handler(event, context):\n    return None\n"})


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj", database_url)
    config = FunctionConfig(kind="code", handler="app.handler", timeout_s=30)
    create_function(proj.db, proj.store, "work", config, code=CodeBundle.from_zip(_ZIP))
    create_queue(proj.db, "jobs")
    yield proj
    proj.close()


def test_defaults_and_the_round_trip(project: Project) -> None:
    db = project.db
    made = create_event_source_mapping(db, "work", "jobs")
    assert (made.batch_size, made.maximum_batching_window_s) == (10, 0)
    assert made.maximum_concurrency is None and made.enabled and made.state == "Enabled"
    assert made.function_response_types == () and made.origin == "api"
    assert get_event_source_mapping(db, made.uuid) == made
    assert list_event_source_mappings(db, function="work") == [made]
    assert list_event_source_mappings(db, queue="other") == []

    changed = update_event_source_mapping(
        db,
        made.uuid,
        batch_size=500,
        maximum_batching_window_s=2,
        maximum_concurrency=4,
        enabled=False,
        function_response_types=["ReportBatchItemFailures"],
    )
    assert changed.batch_size == 500 and changed.maximum_concurrency == 4
    assert changed.state == "Disabled" and changed.reports_batch_item_failures
    assert changed.last_modified >= made.last_modified
    assert list_event_source_mappings(db, enabled_only=True) == []
    # an empty ScalingConfig removes the limit; what is not given stays
    assert update_event_source_mapping(db, made.uuid, maximum_concurrency=None).batch_size == 500
    assert get_event_source_mapping(db, made.uuid).maximum_concurrency is None

    assert delete_event_source_mapping(db, made.uuid).uuid == made.uuid
    with pytest.raises(EventSourceMappingNotFoundError):
        get_event_source_mapping(db, made.uuid)


@pytest.mark.parametrize(
    ("settings", "error", "words"),
    [
        ({"batch_size": 0}, ValidationError, "greater than or equal to 1"),
        ({"batch_size": 10_001, "maximum_batching_window_s": 1}, ValidationError, "10000"),
        ({"batch_size": 11}, ConfigError, "Maximum batch window in seconds must be greater than 0"),
        ({"maximum_batching_window_s": 301}, ValidationError, "less than or equal to 300"),
        ({"maximum_concurrency": 1}, ValidationError, "greater than or equal to 2"),
        ({"maximum_concurrency": 1001}, ValidationError, "less than or equal to 1000"),
        ({"function_response_types": ["Everything"]}, ValidationError, "enum value set"),
    ],
)
def test_lambdas_limits(
    project: Project, settings: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        create_event_source_mapping(project.db, "work", "jobs", **settings)  # type: ignore[arg-type]
    assert list_event_source_mappings(project.db) == []


def test_a_batch_above_ten_needs_a_window(project: Project) -> None:
    made = create_event_source_mapping(
        project.db, "work", "jobs", batch_size=10_000, maximum_batching_window_s=1
    )
    with pytest.raises(ConfigError, match="Maximum batch window"):
        update_event_source_mapping(project.db, made.uuid, maximum_batching_window_s=0)


def test_a_queue_that_hides_a_message_for_less_than_the_function_runs_is_refused(
    project: Project,
) -> None:
    create_queue(project.db, "quick", {"VisibilityTimeout": "10"})
    with pytest.raises(
        ConfigError,
        match="Queue visibility timeout: 10 seconds is less than Function timeout: 30 seconds",
    ):
        create_event_source_mapping(project.db, "work", "quick")


def test_what_must_exist_and_one_mapping_per_queue_and_function(project: Project) -> None:
    db = project.db
    with pytest.raises(FunctionNotFoundError):
        create_event_source_mapping(db, "nobody", "jobs")
    with pytest.raises(ConfigError, match="NonExistentQueue"):
        create_event_source_mapping(db, "work", "nowhere")
    first = create_event_source_mapping(db, "work", "jobs")
    with pytest.raises(FunctionConflictError, match=first.uuid):
        create_event_source_mapping(db, "work", "jobs", batch_size=5)
    with pytest.raises(EventSourceMappingNotFoundError):
        update_event_source_mapping(db, "no-such-uuid", enabled=False)


def test_a_deleted_function_takes_its_mappings_with_it(project: Project) -> None:
    create_event_source_mapping(project.db, "work", "jobs")
    delete_function(project.db, "work")
    assert list_event_source_mappings(project.db) == []

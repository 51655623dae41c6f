"""Schedules as a library, on SQLite and PostgreSQL: create, read, change, enable, delete."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.errors import (
    ConfigError,
    FunctionNotFoundError,
    ScheduleConflictError,
    ScheduleExpressionError,
    ScheduleNotFoundError,
)
from lambeam.events.schedules import (
    create_schedule,
    delete_schedule,
    disable_schedule,
    enable_schedule,
    get_schedule,
    list_schedules,
    update_schedule,
)
from lambeam.functions import CodeBundle, FunctionConfig, create_function, publish_version
from lambeam.project import Project
from lambeam.storage.audit import entries
from lambeam.storage.schema import ScheduleRow
from tests.conftest import make_project

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def add_function(project: Project, name: str) -> None:
    """A code function that returns its event."""
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(project.db, project.store, name, config, CodeBundle.from_zip(_zip()))


@pytest.fixture
def proj(tmp_path: Path, database_url: str) -> Iterator[Project]:
    project = make_project(tmp_path / "proj", database_url)
    add_function(project, "report")
    yield project
    project.close()


def test_create_get_list_update_enable_delete(proj: Project) -> None:
    db = proj.db
    made = create_schedule(
        db,
        "nightly",
        "cron(0 2 * * ? *)",
        "report",
        timezone="Europe/Paris",
        input={"full": True},
        clock=lambda: NOW,
    )
    assert (made.name, made.function, made.qualifier, made.enabled) == (
        "nightly",
        "report",
        None,
        True,
    )
    assert made.created_at.timestamp() == NOW and made.origin == "api"
    shown = get_schedule(db, "nightly").to_dict(NOW)
    assert shown["arn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly"
    assert shown["input"] == {"full": True} and shown["state"] == "ENABLED"
    # 02:00 in Paris in January is 01:00 UTC
    assert shown["next"][:2] == ["2027-01-16T01:00:00Z", "2027-01-17T01:00:00Z"]
    create_schedule(db, "every5", "rate(5 minutes)", "report", clock=lambda: NOW)
    assert [s.name for s in list_schedules(db)] == ["every5", "nightly"]
    assert [s.name for s in list_schedules(db, function="other")] == []

    changed = update_schedule(db, "nightly", expression="cron(0 3 * * ? *)", clock=lambda: NOW + 5)
    assert changed.expression == "cron(0 3 * * ? *)" and changed.input == {"full": True}
    assert changed.updated_at.timestamp() == NOW + 5 and changed.created_at.timestamp() == NOW
    cleared = update_schedule(db, "nightly", input=None)
    assert cleared.input is None
    off = disable_schedule(db, "nightly", clock=lambda: NOW + 10)
    assert not off.enabled and off.next_ticks(NOW) == []
    assert [s.name for s in list_schedules(db, enabled_only=True)] == ["every5"]
    assert enable_schedule(db, "nightly").enabled
    delete_schedule(db, "nightly")
    with pytest.raises(ScheduleNotFoundError):
        get_schedule(db, "nightly")
    with pytest.raises(ScheduleNotFoundError):
        delete_schedule(db, "nightly")
    actions = [e.action for e in entries(db, resource_prefix="schedule:nightly")]
    assert actions == [
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
    ]


def test_targets_a_version_or_alias_named_any_way_lambda_names_it(proj: Project) -> None:
    db = proj.db
    publish_version(db, proj.store, "report")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:report:1"
    assert create_schedule(db, "by-arn", "rate(1 hour)", arn).qualifier == "1"
    assert create_schedule(db, "by-name", "rate(1 hour)", "report:1").qualifier == "1"
    assert (
        create_schedule(db, "latest", "rate(1 hour)", "report", qualifier="$LATEST").qualifier
        is None
    )
    moved = update_schedule(db, "by-name", qualifier=None)
    assert (moved.function, moved.qualifier) == ("report", None)
    with pytest.raises(FunctionNotFoundError, match="report:7"):
        create_schedule(db, "v7", "rate(1 hour)", "report", qualifier="7")
    with pytest.raises(FunctionNotFoundError, match="report:prod"):
        update_schedule(db, "by-arn", qualifier="prod")


@pytest.mark.parametrize(
    ("name", "expression", "function", "extra", "error", "says"),
    [
        ("x", "rate(5 minute)", "report", {}, ScheduleExpressionError, "rate(5 minutes)"),
        ("x", "cron(0 8 * * * *)", "report", {}, ScheduleExpressionError, "exactly one of"),
        (
            "x",
            "rate(1 hour)",
            "report",
            {"timezone": "Nowhere/City"},
            ScheduleExpressionError,
            "IANA",
        ),
        ("x", "rate(1 hour)", "ghost", {}, FunctionNotFoundError, "ghost"),
        ("bad name!", "rate(1 hour)", "report", {}, ConfigError, "1 to 64"),
        ("x" * 65, "rate(1 hour)", "report", {}, ConfigError, "1 to 64"),
        ("x", "rate(1 hour)", "report", {"input": float("nan")}, ConfigError, "JSON"),
        ("x", "rate(1 hour)", "report", {"input": "x" * (1 << 20)}, ConfigError, "bytes"),
        ("x", "rate(1 hour)", "report", {"enabled": "yes"}, ConfigError, "true or false"),
    ],
)
def test_create_refuses_what_scheduler_would(
    proj: Project,
    name: str,
    expression: str,
    function: str,
    extra: dict[str, object],
    error: type[Exception],
    says: str,
) -> None:
    with pytest.raises(error, match=None) as caught:
        create_schedule(proj.db, name, expression, function, **extra)  # type: ignore[arg-type]
    assert says in str(caught.value)
    assert list_schedules(proj.db) == []


def test_a_taken_name_is_a_conflict(proj: Project) -> None:
    create_schedule(proj.db, "x", "rate(1 hour)", "report")
    with pytest.raises(ScheduleConflictError) as caught:
        create_schedule(proj.db, "x", "rate(2 hours)", "report")
    assert caught.value.http_status == 409
    assert get_schedule(proj.db, "x").expression == "rate(1 hour)"


def test_an_expression_that_is_not_a_string_is_a_clear_error(proj: Project) -> None:
    # Review 13, finding 12: PATCH /v1/schedules/x {"expression": 5} was a 500
    create_schedule(proj.db, "x", "rate(1 hour)", "report")
    for changes in ({"expression": 5}, {"expression": None}, {"timezone": 5}):
        with pytest.raises(ScheduleExpressionError) as caught:
            update_schedule(proj.db, "x", **changes)  # type: ignore[arg-type]
        assert caught.value.http_status == 400
    assert get_schedule(proj.db, "x").expression == "rate(1 hour)"


def test_a_huge_rate_is_refused_and_the_largest_lists(proj: Project) -> None:
    # Review 13, finding 6: rate(99999999999999999999 minutes) was stored, then every listing 500d
    with pytest.raises(ScheduleExpressionError) as caught:
        create_schedule(proj.db, "x", "rate(99999999999999999999 minutes)", "report")
    assert caught.value.field == "rate"
    assert list_schedules(proj.db) == []
    create_schedule(proj.db, "slow", "rate(2147483647 days)", "report", clock=lambda: NOW)
    create_schedule(proj.db, "never-again", "at(1999-01-01T00:00:00)", "report")
    (slow,) = list_schedules(proj.db, function="report")[1:]
    # its first tick is its creation; the second falls after year 9999 and is not listed
    assert slow.to_dict(NOW - 1)["next"] == ["2027-01-15T08:00:00Z"]
    assert slow.to_dict(NOW)["next"] == []
    assert [s.to_dict(NOW)["next"] for s in list_schedules(proj.db)] == [[], []]


def test_a_stored_expression_that_never_fires_lists_without_next_times(proj: Project) -> None:
    # stored by an older lambeam (review 13, finding 5): listed, never computed for seconds
    create_schedule(proj.db, "x", "cron(0 8 * * ? *)", "report")
    with proj.db.session() as session:
        row = session.get(ScheduleRow, "x")
        assert row is not None
        row.expression = "cron(* * 30W 2 ? *)"
    (listed,) = list_schedules(proj.db)
    assert listed.to_dict(NOW)["next"] == [] and listed.next_ticks(NOW) == []

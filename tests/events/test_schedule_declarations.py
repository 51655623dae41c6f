"""`events = [{ schedule = ... }]` in lambeam.toml, through `lambeam apply` (SQLite and
PostgreSQL): created, changed, pruned; a malformed expression is one clear error naming the
function and the entry, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.errors import ConfigError, ScheduleExpressionError
from lambeam.events.declarations import apply_events, check_events, existing
from lambeam.events.schedules import create_schedule, get_schedule, list_schedules
from lambeam.functions import apply, list_functions
from lambeam.project import Project

APP = "def handler(event, context):\n    return event\n"
BASE = """
[project]
name = "schedules"

[functions.report]
code = "report"
handler = "app.handler"
"""


def _apply(root: Path, database_url: str, toml: str) -> Project:
    """Write lambeam.toml and apply it as `lambeam apply` does (check all, functions, events)."""
    (root / "lambeam.toml").write_text(BASE + toml)
    project = Project.open(root, {"LAMBEAM_DATABASE_URL": database_url})
    try:
        declared = check_events(project, set(project.settings.functions), existing(project.db))
        apply(project)
        result = apply_events(project, declared)
    except BaseException:
        project.close()
        raise
    project.applied = result.to_dict()  # type: ignore[attr-defined]
    return project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "app.py").write_text(APP)
    return tmp_path


def test_apply_creates_changes_and_prunes(root: Path, database_url: str) -> None:
    project = _apply(
        root,
        database_url,
        """events = [
  { schedule = "cron(0 8 ? * MON-FRI *)", timezone = "Europe/Paris", input = { kind = "daily" } },
]

[functions.poller]
code = "report"
handler = "app.handler"
events = [{ schedule = "rate(5 minutes)", name = "poll", enabled = false }]
""",
    )
    try:
        by_name = {s.name: s for s in list_schedules(project.db)}
        assert sorted(by_name) == ["poll", "report-schedule-1"]
        daily = by_name["report-schedule-1"]
        assert (daily.expression, daily.timezone, daily.input, daily.enabled, daily.origin) == (
            "cron(0 8 ? * MON-FRI *)",
            "Europe/Paris",
            {"kind": "daily"},
            True,
            "toml",
        )
        assert (by_name["poll"].function, by_name["poll"].enabled) == ("poller", False)
        create_schedule(project.db, "by-hand", "rate(1 hour)", "report")
    finally:
        project.close()
    # the same again: nothing changes; then one entry changed, one gone
    again = _apply(
        root,
        database_url,
        """events = [{ schedule = "cron(0 8 ? * MON-FRI *)", timezone = "Europe/Paris", input = { kind = "daily" } }]
[functions.poller]
code = "report"
handler = "app.handler"
events = [{ schedule = "rate(5 minutes)", name = "poll", enabled = false }]
""",
    )
    try:
        actions = {a["where"]: a["action"] for a in again.applied["applied"]}  # type: ignore[attr-defined]
        assert sorted(actions.values()) == ["unchanged", "unchanged"]
    finally:
        again.close()
    changed = _apply(
        root,
        database_url,
        'events = [{ schedule = "cron(0 9 ? * MON-FRI *)", timezone = "Europe/Paris" }]\n',
    )
    try:
        assert [s.name for s in list_schedules(changed.db)] == ["by-hand", "report-schedule-1"]
        daily = get_schedule(changed.db, "report-schedule-1")
        assert (daily.expression, daily.input) == ("cron(0 9 ? * MON-FRI *)", None)
        removed = changed.applied["removed"]  # type: ignore[attr-defined]
        assert [r["what"].split(" ")[1] for r in removed] == ["poll"]
    finally:
        changed.close()


@pytest.mark.parametrize(
    ("entry", "field", "says"),
    [
        ('{ schedule = "cron(0 8 * * MON-FRI *)" }', "day-of-month", "exactly one of"),
        ('{ schedule = "cron(0 8 ? * 0 *)" }', "day-of-week", "1-7"),
        ('{ schedule = "rate(1 minutes)" }', "rate", "rate(1 minute)"),
        ('{ schedule = "rate(5 minutes)", timezone = "Paris" }', "timezone", "IANA"),
    ],
)
def test_a_malformed_expression_is_one_error_and_nothing_is_applied(
    root: Path, database_url: str, entry: str, field: str, says: str
) -> None:
    toml = f'events = [{{ schedule = "rate(1 hour)" }}, {entry}]\n'
    with pytest.raises(ScheduleExpressionError) as caught:
        _apply(root, database_url, toml)
    message = str(caught.value)
    assert message.startswith("lambeam.toml [functions.report] events[1]: ")
    assert says in message and caught.value.field == field
    project = Project.open(root, {"LAMBEAM_DATABASE_URL": database_url})
    try:
        assert list_functions(project.db) == [] and list_schedules(project.db) == []
    finally:
        project.close()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('{ schedule = "rate(1 hour)", every = 2 }', "unknown key 'every'"),
        ('{ schedule = "rate(1 hour)", name = "no spaces" }', "1 to 64"),
        ('{ schedule = "rate(1 hour)", enabled = "yes" }', "true or false"),
        ('{ schedule = "rate(1 hour)", name = "report-schedule-1" }', "as lambeam.toml"),
    ],
)
def test_other_mistakes_name_the_entry(
    root: Path, database_url: str, entry: str, says: str
) -> None:
    toml = f'events = [{{ schedule = "rate(1 hour)" }}, {entry}]\n'
    with pytest.raises(ConfigError, match=r"\[functions\.report\] events\[1\]") as caught:
        _apply(root, database_url, toml)
    assert says in str(caught.value)

"""`events = [{ queue = ... }]` in lambeam.toml, through `lambeam apply` (SQLite and PostgreSQL):
created, changed, taken over from the API, pruned; Lambda's limits are one clear error naming
the function and the entry, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.events.declarations import apply_events, check_events, existing
from lambeam.events.mappings import create_event_source_mapping, list_event_source_mappings
from lambeam.functions import apply, list_functions
from lambeam.project import Project

BASE = """
[project]
name = "mappings"

[queues.orders]
visibility_timeout = 60

[queues.refunds]

[functions.work]
code = "work"
handler = "app.handler"
timeout = 30
"""


def _apply(root: Path, database_url: str, toml: str) -> Project:
    """Write lambeam.toml and apply it as `lambeam apply` does (check all, functions, events)."""
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
def root(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "app.py").write_text("def handler(event, context):\n    return None\n")
    return tmp_path


def _state(project: Project) -> list[tuple[str, str, int, int, int | None, bool, bool, str]]:
    return [
        (
            m.function,
            m.queue,
            m.batch_size,
            m.maximum_batching_window_s,
            m.maximum_concurrency,
            m.reports_batch_item_failures,
            m.enabled,
            m.origin,
        )
        for m in sorted(list_event_source_mappings(project.db), key=lambda m: m.queue)
    ]


def test_apply_creates_changes_takes_over_and_prunes(root: Path, database_url: str) -> None:
    project = _apply(
        root,
        database_url,
        'events = [{ queue = "orders", batch_size = 100, maximum_batching_window = 5,'
        " maximum_concurrency = 4, report_batch_item_failures = true }]\n",
    )
    try:
        assert _state(project) == [("work", "orders", 100, 5, 4, True, True, "toml")]
        made_by_hand = create_event_source_mapping(project.db, "work", "refunds", batch_size=3)
    finally:
        project.close()
    again = _apply(
        root,
        database_url,
        'events = [{ queue = "orders", enabled = false }, { queue = "refunds" }]\n',
    )
    try:
        assert _state(again) == [
            ("work", "orders", 10, 0, None, False, False, "toml"),
            ("work", "refunds", 10, 0, None, False, True, "toml"),
        ]
        refunds = list_event_source_mappings(again.db, queue="refunds")[0]
        assert refunds.uuid == made_by_hand.uuid  # taken over, not made twice
    finally:
        again.close()
    gone = _apply(root, database_url, "")
    try:
        assert _state(gone) == []
        assert [f.name for f in list_functions(gone.db)] == ["work"]
    finally:
        gone.close()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('{ queue = "orders", batch_size = 11 }', "Maximum batch window in seconds"),
        ('{ queue = "orders", maximum_concurrency = 1 }', "greater than or equal to 2"),
        ('{ queue = "orders", batching_window = 5 }', "unknown key 'batching_window'"),
        ('{ queue = "nowhere" }', "names queue 'nowhere'"),
    ],
)
def test_a_bad_entry_is_refused_before_anything_is_written(
    root: Path, database_url: str, entry: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as raised:
        _apply(root, database_url, f"events = [{entry}]\n")
    assert "[functions.work] events[0]" in str(raised.value)
    project = Project.open(root, {"LAMBEAM_DATABASE_URL": database_url})
    try:
        assert list_functions(project.db) == [] and list_event_source_mappings(project.db) == []
    finally:
        project.close()


def test_a_queue_hiding_messages_for_less_than_the_function_runs_is_named(
    root: Path, database_url: str
) -> None:
    slow = '[functions.slow]\ncode = "work"\nhandler = "app.handler"\ntimeout = 45\n'
    with pytest.raises(ConfigError) as raised:
        _apply(root, database_url, slow + 'events = [{ queue = "refunds" }]\n')
    assert str(raised.value).endswith(
        "[functions.slow] events[0]: Queue visibility timeout: 30 seconds is less than Function"
        " timeout: 45 seconds"
    )

"""lambeam.toml's [topics.NAME], { topic = ... } and { objects = ... }: checked whole, applied,
applied again unchanged, and pruned when no longer declared (what the API made is kept)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambeam.errors import ConfigError
from lambeam.events.declarations import apply_events, check_events, existing
from lambeam.events.objects import list_object_triggers, scan
from lambeam.events.queue import MessageQueue
from lambeam.events.queues import create_queue
from lambeam.events.topics import create_topic, list_subscriptions, list_topics, subscribe
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from tests.conftest import make_project


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Project]:
    project = make_project(tmp_path / "proj")
    for name in ("score", "notify"):
        config = FunctionConfig(kind="code", handler="app.handler")
        create_function(project.db, project.store, name, config, CodeBundle.from_zip(_zip()))
    create_queue(project.db, "audit")
    yield project
    project.close()


def _apply(project: Project, topics: dict[str, Any], functions: dict[str, Any]) -> Any:
    project.settings = replace(project.settings, topics=topics, functions=functions)
    declared = check_events(project, set(), existing(project.db))
    return apply_events(project, declared)


TOPICS = {
    "alerts": {
        "display_name": "Alerts",
        "subscriptions": [{"function": "notify"}, {"queue": "audit", "raw_message_delivery": True}],
    }
}
FUNCTIONS = {
    "score": {
        "code": "score",
        "events": [
            {"topic": "alerts", "qualifier": "prod"},
            {"objects": "data/in", "suffix": ".csv"},
        ],
    }
}


def test_topics_and_triggers_are_applied_and_pruned(proj: Project) -> None:
    applied = _apply(proj, TOPICS, FUNCTIONS)
    assert {(k, a) for k, _, a in applied.actions} == {
        ("topics", "created"),
        ("topic", "created"),
        ("objects", "created"),
    }
    (topic,) = list_topics(proj.db)
    assert (topic.name, topic.attributes, topic.origin) == (
        "alerts",
        {"DisplayName": "Alerts"},
        "toml",
    )
    subs = {
        (s.protocol, s.endpoint, s.qualifier, s.raw_message_delivery)
        for s in list_subscriptions(proj.db)
    }
    assert subs == {
        ("lambda", "notify", None, False),
        ("sqs", "audit", None, True),
        ("lambda", "score", "prod", False),
    }
    (trigger,) = list_object_triggers(proj.db)
    assert (trigger.location, trigger.suffix, trigger.bucket) == ("data/in", ".csv", "in")

    # The baseline is taken at the first poll, against the project's root.
    folder = proj.settings.root / "data" / "in"
    folder.mkdir(parents=True)
    (folder / "old.csv").write_text("1\n")
    queue = MessageQueue(proj.db)
    assert scan(queue, trigger, {}, root=proj.settings.root) == []
    (folder / "new.csv").write_text("2\n")
    assert len(scan(queue, trigger, {}, root=proj.settings.root)) == 1

    again = _apply(proj, TOPICS, FUNCTIONS)
    assert {a for _, _, a in again.actions} == {"unchanged"}

    create_topic(proj.db, "manual")
    subscribe(proj.db, "manual", "lambda", "score")
    gone = _apply(proj, {}, {"score": {"code": "score"}})
    assert len(gone.removed) == 4  # the topic, its two subscriptions, the object trigger
    assert [t.name for t in list_topics(proj.db)] == ["manual"]
    assert [(s.topic, s.endpoint) for s in list_subscriptions(proj.db)] == [("manual", "score")]
    assert list_object_triggers(proj.db) == []


@pytest.mark.parametrize(
    ("topics", "functions", "says"),
    [
        ({"alerts": {"subscriptions": [{"queue": "missing"}]}}, {}, "queue 'missing'"),
        ({"alerts": {"subscriptions": [{"function": "nobody"}]}}, {}, "function 'nobody'"),
        ({}, {"score": {"code": "s", "events": [{"topic": "nowhere"}]}}, "topic 'nowhere'"),
        ({"bad name": {}}, {}, "topic name"),
        ({"alerts": {"colour": "red"}}, {}, "unknown key 'colour'"),
        ({}, {"score": {"code": "s", "events": [{"objects": "gs://b/x/"}]}}, "folder or s3://"),
    ],
)
def test_a_bad_declaration_is_one_clear_error(
    proj: Project, topics: dict[str, Any], functions: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        _apply(proj, topics, functions)
    assert list_topics(proj.db) == []

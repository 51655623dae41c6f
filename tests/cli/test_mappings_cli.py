"""`lambeam mappings create | ls | show | disable | enable | rm` on a real project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambeam.cli import main
from lambeam.events.queues import create_queue
from lambeam.project import Project
from tests.events.test_schedules import add_function


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "cli-mappings"\n')
    project = Project.open(tmp_path)
    try:
        add_function(project, "work")
        create_queue(project.db, "jobs")
    finally:
        project.close()
    return tmp_path


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_mapping_from_create_to_rm(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        root, capsys, "mappings", "create", "work", "arn:aws:sqs:us-east-1:000000000000:jobs",
        "--batch-size", "50", "--window", "2", "--max-concurrency", "3", "--report-failures",
        "--json",
    )  # fmt: skip
    assert code == 0
    made = json.loads(out)
    assert (made["function"], made["queue"], made["batch_size"], made["state"]) == (
        "work",
        "jobs",
        50,
        "Enabled",
    )
    assert made["maximum_concurrency"] == 3 and made["report_batch_item_failures"]
    uuid = made["uuid"]
    code, out, _ = run(root, capsys, "mappings", "ls")
    assert code == 0 and uuid in out and "jobs" in out and "Enabled" in out
    code, out, _ = run(root, capsys, "mappings", "disable", uuid)
    assert code == 0 and "disabled mapping" in out and "(disabled;" in out
    code, out, _ = run(root, capsys, "mappings", "ls", "--function", "work", "--json")
    assert [(m["uuid"], m["enabled"]) for m in json.loads(out)] == [(uuid, False)]
    assert run(root, capsys, "mappings", "enable", uuid)[0] == 0
    code, out, _ = run(root, capsys, "mappings", "show", uuid, "--json")
    assert json.loads(out)["enabled"] is True
    code, out, _ = run(root, capsys, "mappings", "rm", uuid)
    assert code == 0 and f"deleted mapping {uuid}" in out
    code, out, _ = run(root, capsys, "mappings", "ls")
    assert code == 0 and "no event source mappings" in out


def test_lambdas_rules_are_one_line_errors(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(root, capsys, "mappings", "create", "work", "jobs", "--batch-size", "11")
    assert code == 2
    assert "Maximum batch window in seconds must be greater than 0" in err
    code, _, err = run(root, capsys, "mappings", "create", "nobody", "jobs")
    assert code != 0 and "nobody" in err
    code, _, err = run(root, capsys, "mappings", "rm", "no-such-uuid")
    assert code != 0 and "no-such-uuid" in err

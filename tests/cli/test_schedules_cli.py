"""`lambeam schedules ls | create | show | rm | enable | disable` on a real project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambeam.cli import main
from lambeam.project import Project
from tests.events.test_schedules import add_function


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "cli-schedules"\n')
    project = Project.open(tmp_path)
    try:
        add_function(project, "report")
    finally:
        project.close()
    return tmp_path


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_schedule_from_create_to_rm(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        root, capsys, "schedules", "create", "weekdays", "cron(0 8 ? * MON-FRI *)", "report",
        "--timezone", "Europe/Paris", "--input", '{"kind": "daily"}', "--json",
    )  # fmt: skip
    assert code == 0
    made = json.loads(out)
    assert (made["expression"], made["timezone"], made["input"]) == (
        "cron(0 8 ? * MON-FRI *)",
        "Europe/Paris",
        {"kind": "daily"},
    )
    assert len(made["next"]) == 3 and made["state"] == "ENABLED"
    code, out, _ = run(root, capsys, "schedules", "ls")
    assert code == 0 and "weekdays" in out and "enabled" in out
    code, out, _ = run(root, capsys, "schedules", "disable", "weekdays")
    assert code == 0 and "(disabled)" in out and "next: -" in out
    code, out, _ = run(root, capsys, "schedules", "ls", "--json")
    assert [(s["name"], s["enabled"]) for s in json.loads(out)] == [("weekdays", False)]
    code, out, _ = run(root, capsys, "schedules", "enable", "weekdays", "--json")
    assert json.loads(out)["enabled"] is True
    code, out, _ = run(root, capsys, "schedules", "show", "weekdays")
    assert code == 0 and "cron(0 8 ? * MON-FRI *) in Europe/Paris -> report" in out
    assert run(root, capsys, "schedules", "rm", "weekdays")[0] == 0
    code, out, _ = run(root, capsys, "schedules", "ls")
    assert "no schedules" in out


def test_a_malformed_expression_names_its_field(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(root, capsys, "schedules", "create", "bad", "cron(0 8 ? * 0 *)", "report")
    assert code == 2 and "day-of-week '0' is not 1-7" in err
    code, _, err = run(root, capsys, "schedules", "show", "bad")
    assert code == 1 and "Schedule not found: bad" in err

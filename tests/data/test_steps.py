"""Filter and derive steps: a filter must be a condition, and messages show only user columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.data import parse_pipeline_spec
from lambeam.errors import ColumnError, ConfigError
from lambeam.project import Project
from tests.data.test_errors import ROWS, run_fails


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    ROWS.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("expression", ["x - 30", "x * 2 + 1", "3", "-x"])
def test_an_arithmetic_filter_is_refused_at_declaration(expression: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline_spec("demo", {"source": "a.csv", "steps": [{"filter": expression}]})
    message = str(caught.value)
    assert "steps[0]" in message and repr(expression) in message and "true/false" in message


def test_a_filter_that_gives_numbers_is_refused_when_it_runs(
    project: Project, source: Path
) -> None:
    spec = {"source": str(source), "steps": [{"filter": "x.fillna(0)"}]}
    run_fails(project, spec, ColumnError, "steps[0] (filter)", "'x.fillna(0)'", "float64")


def test_conditions_are_kept(project: Project, source: Path) -> None:
    for expression in ("x > 2", "x > 2 and city == 'a'", "~(x > 2)", "city.isin(['a'])"):
        parse_pipeline_spec("demo", {"source": "a.csv", "steps": [{"filter": expression}]})


@pytest.mark.parametrize(
    "step", [{"filter": "nosuch > 1"}, {"derive": {"y": "nosuch * 2"}}], ids=["filter", "derive"]
)
def test_errors_list_only_the_users_columns(project: Project, source: Path, step: dict) -> None:
    message = run_fails(project, {"source": str(source), "steps": [step]}, ColumnError, "'nosuch'")
    assert "id, x, city, label" in message and "__lambeam" not in message

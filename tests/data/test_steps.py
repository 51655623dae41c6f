"""Filter and derive steps: a filter must be a condition, and messages show only user columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lambeam.data import parse_pipeline_spec, run_pipeline
from lambeam.data.frames import canonical_frame
from lambeam.data.steps import apply_steps
from lambeam.errors import ColumnError, ConfigError
from lambeam.project import Project
from tests.data.conftest import with_pipelines
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


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("x > 2", [4, 5, 6]),
        ("x > 2 and city == 'a'", [6]),
        ("~(x > 2)", [1, 2, 3]),
        ("city.isin(['a'])", [1, 3, 6]),
        ("flag", [1, 3, 5]),
        ("~flag", [2, 4]),
        ("not flag", [2, 4]),
        ("~flag & (x > 3)", [4]),
    ],
)
def test_conditions_are_kept_and_select_their_rows(expression: str, kept: list[int]) -> None:
    # Accepted at declaration, then run on a canonical frame (booleans are 0/1 there, and ~ on
    # them failed with "ufunc 'invert' not supported").
    spec = parse_pipeline_spec("demo", {"source": "a.csv", "steps": [{"filter": expression}]})
    flags = pd.array([True, False, True, False, True, None], dtype="boolean")
    frame = canonical_frame(ROWS.assign(flag=flags))  # a missing flag is neither kept nor negated
    selected = apply_steps(frame, spec.to_dict()["steps"])
    assert selected["id"].tolist() == kept


@pytest.mark.parametrize("expression", ["~flag", "not flag"])
def test_a_negated_boolean_filter_runs(project: Project, tmp_path: Path, expression: str) -> None:
    path = tmp_path / "flags.csv"
    ROWS.assign(flag=["true", "false", "true", "false", "false", "false"]).to_csv(path, index=False)
    spec = {"source": str(path), "steps": [{"filter": expression}]}
    version = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version
    assert version.rows == 4


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ({"flag": [1.0, 0.0, 1.0], "count": [1.0, 1.0, 0.0]}, [1.0, 2.0, 0.0]),
        ({"flag": [1.0, 0.0, 1.0], "count": [2.0, 1.0, 0.0]}, [2.0, 2.0, 0.0]),
        ({"flag": [0.0], "count": [3.0]}, [4.0]),
    ],
)
def test_a_negated_flag_beside_a_number_does_not_depend_on_the_rows(
    rows: dict[str, list[float]], expected: list[float]
) -> None:
    """Only the negated flag is read as true/false: a number column of 0s and 1s in one batch
    (or request) stays a number, so `~flag + count` adds it in every batch (it was an 'or' in
    a batch whose counts were 0 and 1, and an error in the next)."""
    derived = apply_steps(pd.DataFrame(rows), [{"derive": {"s": "~flag + count"}}])
    assert derived["s"].tolist() == expected


def test_a_negated_flag_that_is_missing_in_every_row_stays_missing() -> None:
    nan = float("nan")
    derived = apply_steps(pd.DataFrame({"flag": [nan]}), [{"derive": {"off": "~flag"}}])
    assert derived["off"].isna().all()
    kept = apply_steps(pd.DataFrame({"flag": [nan], "x": [2.0]}), [{"filter": "~flag"}])
    assert kept.empty  # a missing flag is neither true nor its negation
    with pytest.raises(ColumnError, match="ufunc 'invert' not supported"):
        apply_steps(pd.DataFrame({"count": [2.0, 3.0]}), [{"filter": "~count"}])


@pytest.mark.parametrize(
    "step", [{"filter": "nosuch > 1"}, {"derive": {"y": "nosuch * 2"}}], ids=["filter", "derive"]
)
def test_errors_list_only_the_users_columns(project: Project, source: Path, step: dict) -> None:
    message = run_fails(project, {"source": str(source), "steps": [step]}, ColumnError, "'nosuch'")
    assert "id, x, city, label" in message and "__lambeam" not in message

"""Bad pipelines and bad data: one-line errors naming the problem and its place, nothing recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lambeam.data import parse_pipeline_spec, run_pipeline
from lambeam.errors import (
    ColumnError,
    ConfigError,
    DataError,
    EmptyDatasetError,
    LambeamError,
    PipelineError,
    SourceNotFoundError,
)
from lambeam.project import Project
from tests.data.conftest import version_count, with_pipelines

ROWS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "x": [1.0, 2.0, None, 4.0, 5.0, 6.0],
        "city": ["a", "b", "a", None, "c", "a"],
        "label": ["y", "n", "y", "n", "y", "n"],
    }
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    ROWS.to_csv(path, index=False)
    return path


def run_fails(
    project: Project, spec: dict[str, Any], error: type[LambeamError], *needles: str
) -> str:
    with pytest.raises(error) as caught:
        run_pipeline(with_pipelines(project, bad=spec), "bad")
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and "<<lambeam" not in message
    for needle in needles:
        assert needle in message
    assert version_count(project) == 0
    return message


def test_missing_file(project: Project, tmp_path: Path) -> None:
    run_fails(
        project, {"source": str(tmp_path / "nope" / "*.csv")}, SourceNotFoundError, "nope/*.csv"
    )


def test_unknown_column_in_columns(project: Project, source: Path) -> None:
    run_fails(
        project,
        {"source": str(source), "columns": {"colour": ["standardize"]}},
        ColumnError,
        "[pipelines.bad] columns.colour",
        "'colour'",
    )


def test_unknown_column_in_a_step(project: Project, source: Path) -> None:
    spec = {"source": str(source), "steps": [{"derive": {"y": "x * 2"}}, {"filter": "colour > 1"}]}
    run_fails(project, spec, ColumnError, "steps[1] (filter)", "'colour'")


def test_missing_label_column(project: Project, source: Path) -> None:
    run_fails(project, {"source": str(source), "label": "target"}, ColumnError, "label", "'target'")


def test_missing_label_values(project: Project, source: Path) -> None:
    run_fails(project, {"source": str(source), "label": "city"}, DataError, "1 row(s)", "filter")


def test_text_in_a_numeric_column(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    ROWS.assign(x=["1", "2", "abc", "4", "5", "6"]).to_csv(path, index=False)
    spec = {"source": {"path": str(path), "schema": {"x": "number"}}}
    run_fails(project, spec, ColumnError, "'x'", "text.csv", "'abc'", "text in a numeric column")


def test_wrong_type_for_an_operation(project: Project, source: Path) -> None:
    run_fails(
        project,
        {"source": str(source), "columns": {"city": ["standardize"]}},
        ColumnError,
        "columns.city",
        "standardize",
    )
    run_fails(
        project,
        {"source": str(source), "columns": {"x": ["tfidf"]}},
        ColumnError,
        "columns.x",
        "tfidf",
    )


def test_empty_dataset(project: Project, source: Path, tmp_path: Path) -> None:
    run_fails(
        project,
        {"source": str(source), "steps": [{"filter": "x > 100"}]},
        EmptyDatasetError,
        "no rows",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    run_fails(project, {"source": str(empty)}, EmptyDatasetError, "no rows")


def test_function_that_changes_the_row_count(project: Project, source: Path) -> None:
    spec = {"source": str(source), "steps": [{"function": "tests.data.functions:drop_half"}]}
    run_fails(project, spec, PipelineError, "tests.data.functions:drop_half", "3 rows for 6")


def test_unknown_operation(project: Project, source: Path) -> None:
    message = run_fails(
        project,
        {"source": str(source), "columns": {"x": ["standardise"]}},
        ConfigError,
        "lambeam.toml [pipelines.bad] columns.x: unknown operation 'standardise'; expected one of",
    )
    assert "standardize" in message


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({}, "no `source`"),
        ({"source": "a.csv", "steps": [{"sort": "x"}]}, "steps[0]: unknown step 'sort'"),
        ({"source": "a.csv", "split": {"test": 1.5}}, "split.test"),
        ({"source": "a.csv", "columns": {"x": [{"clip": [3, 1]}]}}, "columns.x: clip"),
        ({"source": "a.csv", "columns": {"x": ["standardize", "log"]}}, "must come last"),
        ({"source": "a.csv", "columns": {"x": [{"onehot": {"top": 3}}]}}, "no parameter 'top'"),
        ({"source": {"path": "a.csv", "schema": {"x": "int"}}}, "source.schema.x"),
        ({"source": "a.csv", "label": "y", "columns": {"y": ["standardize"]}}, "columns.y"),
    ],
)
def test_spec_errors_name_their_place(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline_spec("demo", raw)
    assert str(caught.value).startswith("lambeam.toml [pipelines.demo]")
    assert needle in str(caught.value)


def test_unknown_pipeline(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"no \[pipelines.ghost\]"):
        run_pipeline(project, "ghost")


def test_log_of_values_at_or_below_minus_one(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "negative.csv"
    ROWS.assign(x=[1.0, -3.0, 2.0, 4.0, 5.0, 6.0]).to_csv(path, index=False)
    run_fails(
        project, {"source": str(path), "columns": {"x": ["log"]}}, ColumnError, "columns.x", "-3.0"
    )


def test_text_after_the_rows_a_csv_type_was_inferred_from(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    with path.open("w") as handle:  # the first 8 MB block is all numbers, then a word
        handle.write("n,x\n" + "1,2\n" * 2_300_000 + "2,oops\n")
    run_fails(
        project, {"source": str(path)}, ColumnError, "'x'", "late.csv", "'oops'", "source.schema"
    )


def test_a_beam_failure_is_a_pipeline_error(project: Project, source: Path) -> None:
    runner = "--runner=tests.data.functions.BrokenRunner"
    with pytest.raises(
        PipelineError, match=r"pipeline bad: Beam failed: .*the job service went away"
    ) as caught:
        run_pipeline(with_pipelines(project, bad={"source": str(source)}), "bad", [runner])
    assert "\n" not in str(caught.value)
    assert version_count(project) == 0


def test_numbers_in_one_file_and_text_in_another(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    ROWS.to_csv(folder / "a.csv", index=False)
    ROWS.assign(x=["one", "two", "three", "four", "five", "six"]).to_csv(
        folder / "b.csv", index=False
    )
    run_fails(project, {"source": str(folder / "*.csv")}, ColumnError, "'x'", "source.schema")


def test_integers_too_large_for_a_float(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    ROWS.assign(id=[278308122500661248 + i for i in range(6)]).to_csv(path, index=False)
    run_fails(
        project,
        {"source": str(path)},
        ColumnError,
        "'id'",
        "ids.csv",
        "278308122500661248",
        'schema = { id = "string" }',
    )
    run = run_pipeline(
        with_pipelines(project, ok={"source": {"path": str(path), "schema": {"id": "string"}}}),
        "ok",
    )
    assert run.dataset_version.rows == 6


def test_infinite_values_are_named(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "inf.csv"
    ROWS.assign(x=[1.0, float("inf"), 2.0, 3.0, 4.0, 5.0]).to_csv(path, index=False)
    run_fails(project, {"source": str(path)}, ColumnError, "'x'", "inf.csv", "infinite")


def test_impute_of_a_column_without_values(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "empty_col.csv"
    ROWS.assign(x=[None] * 6, b=[1.0] * 6).to_csv(path, index=False)
    spec = {
        "source": {"path": str(path), "schema": {"x": "number"}},
        "columns": {"x": ["impute:mean"]},
    }
    run_fails(project, spec, ColumnError, "columns.x", "no values")


def test_a_column_empty_in_one_file_needs_and_takes_a_declared_type(
    project: Project, tmp_path: Path
) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    ROWS.iloc[:3].to_csv(folder / "a.csv", index=False)
    ROWS.iloc[3:].assign(city=None).to_csv(folder / "b.csv", index=False)
    glob = str(folder / "*.csv")
    run_fails(project, {"source": glob}, ColumnError, "'city'", 'city = "string"')
    spec = {"source": {"path": glob, "schema": {"city": "string"}}, "label": "label"}
    run = run_pipeline(with_pipelines(project, ok=spec), "ok")
    assert run.dataset_version.rows == 6
    assert run.dataset_version.profile["city"]["missing"] == 3

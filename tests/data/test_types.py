"""Column types that do not depend on where a bad value sits: numbers with a typo are an error
naming the column, values and lines (or coerced to null when declared so, with a count); numbers
past 2**53 are refused whatever their spelling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lambeam.data import parse_pipeline_spec, run_pipeline
from lambeam.errors import ColumnError, ConfigError
from lambeam.project import Project
from tests.data.conftest import with_pipelines
from tests.data.test_errors import run_fails


def ages(rows: int, bad: dict[int, str]) -> pd.DataFrame:
    """`rows` rows of a numeric `age` column (and a text `city`), with `bad` values put in."""
    age = [str(20 + i % 50) for i in range(rows)]
    for index, value in bad.items():
        age[index] = value
    return pd.DataFrame({"age": age, "city": [f"c{i % 3}" for i in range(rows)]})


def test_a_typo_in_a_small_numeric_column_is_an_error_naming_it(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    ages(500, {7: "abc"}).to_csv(path, index=False)
    message = run_fails(
        project, {"source": str(path)}, ColumnError, "'age'", "people.csv", "'abc'", "line 9"
    )
    assert 'errors = "coerce"' in message and '"string"' in message and "90%" in message


def test_a_typo_past_the_first_block_gives_the_same_error(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 1_200_000  # past pyarrow's first 8 MB block
    ages(rows, {rows - 3: "abc"}).to_csv(path, index=False)
    message = run_fails(
        project, {"source": str(path)}, ColumnError, "'age'", "big.csv", "'abc'", f"line {rows - 1}"
    )
    assert 'errors = "coerce"' in message


def test_a_text_column_stays_text(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    frame = ages(500, {})
    frame["code"] = [str(i) if i % 2 else f"x{i}" for i in range(500)]
    frame.to_csv(path, index=False)
    run = run_pipeline(with_pipelines(project, ok={"source": str(path)}), "ok")
    assert run.dataset_version.profile["code"]["type"] == "string"


def test_coerce_makes_bad_values_null_and_counts_them(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    ages(500, {7: "abc", 9: "n/a?", 11: ""}).to_csv(path, index=False)
    spec = {
        "source": {"path": str(path), "schema": {"age": {"type": "number", "errors": "coerce"}}},
        "columns": {"age": ["impute:median"]},
    }
    version = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version
    entry = version.profile["age"]
    assert entry["type"] == "number" and entry["coerced"] == 2 and entry["missing"] == 3


def test_a_declared_number_names_bad_values_and_lines(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    ages(20, {3: "ten", 5: "eleven"}).to_csv(path, index=False)
    spec = {"source": {"path": str(path), "schema": {"age": "number"}}}
    run_fails(project, spec, ColumnError, "'age'", "'ten'", "'eleven'", "line 5", "line 7")


@pytest.mark.parametrize(
    "schema",
    [{"age": {"type": "number", "errors": "ignore"}}, {"age": {"type": "int"}}, {"age": {}}],
)
def test_a_bad_declared_type_names_its_place(schema: dict) -> None:
    with pytest.raises(ConfigError, match=r"source\.schema\.age"):
        parse_pipeline_spec("demo", {"source": {"path": "a.csv", "schema": schema}})


@pytest.mark.parametrize("value", ["9223372036854775807", "1e26", "9007199254740993.0"])
def test_numbers_past_2_53_are_refused_whatever_their_spelling(
    project: Project, tmp_path: Path, value: str
) -> None:
    path = tmp_path / "ids.csv"
    frame = ages(10, {})
    frame["id"] = [str(i) for i in range(10)]
    frame.loc[4, "id"] = value
    frame.to_csv(path, index=False)
    message = run_fails(
        project, {"source": str(path)}, ColumnError, "'id'", "ids.csv", "line 6", "2**53"
    )
    assert 'id = "string"' in message
    spec = {"source": {"path": str(path), "schema": {"id": "string"}}, "drop": ["id"]}
    assert run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version.rows == 10


def test_whole_numbers_then_a_fraction_past_the_first_block(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "counts.csv"
    with path.open("w") as handle:
        handle.write("n,x\n" + "1,2\n" * 2_300_000 + "2,2.5\n")
    run_fails(project, {"source": str(path)}, ColumnError, "'x'", "'2.5'", 'x = "number"')
    spec = {"source": {"path": str(path), "schema": {"x": "number"}}}
    assert run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version.rows == 2_300_001

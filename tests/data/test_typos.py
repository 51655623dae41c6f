"""A column of numbers with a few typos is an error whatever their share of a batch, wherever they
sit in the file and in however many files; true/false count as numbers (lambeam stores them as
1/0); a column declared "string" that is empty in a file stays text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambeam.data import run_pipeline
from lambeam.errors import ColumnError
from lambeam.project import Project
from tests.data.conftest import with_pipelines
from tests.data.test_errors import run_fails
from tests.data.test_types import ages


def _floats(rows: int, bad: dict[int, str]) -> pd.DataFrame:
    values = [f"{10 + (i * 7) % 80}.5" for i in range(rows)]
    for index, value in bad.items():
        values[index] = value
    return pd.DataFrame({"temp": values, "city": [f"c{i % 3}" for i in range(rows)]})


def test_two_typos_among_148_floats_are_an_error(project: Project, tmp_path: Path) -> None:
    # It was a 20-category one-hot text column, with no word said.
    path = tmp_path / "temps.csv"
    _floats(150, {40: "4O.5", 90: "7l.2"}).to_csv(path, index=False)
    message = run_fails(
        project,
        {"source": str(path)},
        ColumnError,
        "'temp'",
        "temps.csv",
        "2 value(s)",
        "'4O.5' (line 42)",
        "'7l.2' (line 92)",
    )
    assert '"string"' in message and 'errors = "coerce"' in message and "90%" in message


@pytest.mark.parametrize(("numbers", "typo"), [(100, "?"), (296, "x")])
def test_three_of_one_typo_are_an_error(
    project: Project, tmp_path: Path, numbers: int, typo: str
) -> None:
    path = tmp_path / "ages.csv"
    rows = numbers + 3
    ages(rows, {5: typo, 50: typo, rows - 1: typo}).to_csv(path, index=False)
    run_fails(
        project,
        {"source": str(path)},
        ColumnError,
        "'age'",
        "3 value(s)",
        f"{typo!r} (line 7)",
        f"(line {rows + 1})",
    )


def test_a_column_with_more_text_stays_text(project: Project, tmp_path: Path) -> None:
    # 85% numbers: below the rule's 90%, so the one non-number is a category, not a typo.
    path = tmp_path / "codes.csv"
    frame = ages(100, {})
    frame["code"] = ["none" if i % 100 < 15 else str(i) for i in range(100)]
    frame.to_csv(path, index=False)
    version = run_pipeline(with_pipelines(project, ok={"source": str(path)}), "ok").dataset_version
    assert version.profile["code"]["type"] == "string"


def _big(path: Path, bad: list[int], rows: int = 200_000) -> None:
    """A CSV of `rows` rows (over three 65,536-row batches) with "abc" in column `age` at `bad`."""
    ages(rows, {i: "abc" for i in bad}).to_csv(path, index=False)


def test_typos_spread_over_batches_are_counted_over_the_whole_file(
    project: Project, tmp_path: Path
) -> None:
    # The error counted only the first batch's one.
    path = tmp_path / "spread.csv"
    _big(path, [10, 70_000, 140_000, 190_000])
    run_fails(
        project,
        {"source": str(path)},
        ColumnError,
        "'age'",
        "4 value(s)",
        "'abc' (line 12)",
        "(line 70002)",
        "(line 190002)",
    )


def test_typos_at_the_top_of_a_file_are_an_error(project: Project, tmp_path: Path) -> None:
    # 2,000 typos are 3% of the first batch (text under the old per-batch 1%) but 1% of the file.
    path = tmp_path / "top.csv"
    _big(path, list(range(2_000)))
    run_fails(
        project, {"source": str(path)}, ColumnError, "'age'", "2000 value(s)", "'abc' (line 2)"
    )


def test_typos_in_one_file_of_several_are_named_with_their_file(
    project: Project, tmp_path: Path
) -> None:
    # The file with typos read as text, the other as numbers: it said only "numbers in some
    # files and text in others".
    folder = tmp_path / "parts"
    folder.mkdir()
    ages(50, {3: "abc", 30: "abc"}).to_csv(folder / "a.csv", index=False)
    ages(500, {}).to_csv(folder / "b.csv", index=False)
    run_fails(
        project,
        {"source": str(folder / "*.csv")},
        ColumnError,
        "'age'",
        "a.csv",
        "2 value(s)",
        "'abc' (line 5)",
        "(line 32)",
    )


def _flags(rows: int, bad: dict[int, str]) -> pd.DataFrame:
    spellings = ["true", "false", "True", "FALSE", "TRUE", "False"]
    flag = [spellings[i % 6] for i in range(rows)]
    for index, value in bad.items():
        flag[index] = value
    return pd.DataFrame({"flag": flag, "x": [float(i) for i in range(rows)]})


def test_one_typo_among_booleans_is_an_error(project: Project, tmp_path: Path) -> None:
    # pyarrow reads true/false as booleans (stored as 1/0); with one "maybe" the column was text.
    path = tmp_path / "flags.csv"
    _flags(101, {20: "maybe"}).to_csv(path, index=False)
    run_fails(
        project, {"source": str(path)}, ColumnError, "'flag'", "1 value(s)", "'maybe' (line 22)"
    )


def test_coerce_reads_booleans_as_one_and_zero(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    _flags(101, {20: "maybe"}).to_csv(path, index=False)
    schema = {"flag": {"type": "number", "errors": "coerce"}}
    spec = {"source": {"path": str(path), "schema": schema}, "columns": {"flag": ["impute:mean"]}}
    entry = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version.profile["flag"]
    assert entry["type"] == "number" and entry["coerced"] == 1 and entry["missing"] == 1
    assert entry["min"] == 0.0 and entry["max"] == 1.0 and entry["mean"] == 0.5


def _notes(path: Path, fmt: str, notes: list[str | None]) -> None:
    table = pa.table(
        {
            "x": pa.array([float(i) for i in range(len(notes))]),
            "note": pa.array(notes, type=pa.string() if any(notes) else pa.null()),
        }
    )
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_declared_string_column_that_is_empty_stays_text(
    project: Project, tmp_path: Path, fmt: str
) -> None:
    # Its null-typed column became float NaN, a number, whatever the declaration said.
    path = tmp_path / f"a.{fmt}"
    _notes(path, fmt, [None] * 20)
    spec = {"source": {"path": str(path), "schema": {"note": "string"}}, "drop": ["note"]}
    version = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version
    assert version.profile["note"]["type"] == "string"
    assert version.profile["note"]["missing"] == 20


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_declared_string_column_empty_in_one_file_of_two(
    project: Project, tmp_path: Path, fmt: str
) -> None:
    # It asked to declare the type that was declared already.
    folder = tmp_path / "notes"
    folder.mkdir()
    _notes(folder / f"a.{fmt}", fmt, [None] * 20)
    _notes(folder / f"b.{fmt}", fmt, ["hi", None, "there"] * 7)
    spec = {"source": {"path": str(folder / f"*.{fmt}"), "schema": {"note": "string"}}}
    version = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version
    assert version.profile["note"]["type"] == "string" and version.profile["note"]["count"] == 14

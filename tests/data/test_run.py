"""run_pipeline end to end on the default runner (in-process FnApiRunner): sources, steps, operations, split, determinism."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambeam.data import DatasetVersion, get_dataset_version, list_dataset_versions, run_pipeline
from lambeam.data.frames import row_hashes, split_of
from lambeam.project import Project
from tests.conftest import make_project
from tests.data.conftest import version_count, with_pipelines
from tests.data.reference import assert_transform_reproduces, read_raw

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def sample_frame(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows)
    amount[rng.random(rows) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + rows),
            "amount": amount,
            "age": rng.integers(18, 90, rows).astype(float),
            "score": rng.normal(0, 1, rows),
            "city": rng.choice(
                ["paris", "oslo", "rome", "lima", "kyiv"], rows, p=[0.4, 0.3, 0.2, 0.07, 0.03]
            ),
            "member": rng.random(rows) < 0.5,
            "note": [" ".join(rng.choice(WORDS, 4)) for _ in range(rows)],
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


ALL_OPS = {
    "amount": ["impute:median", "log", "standardize"],
    "age": [{"clip": [20, 80]}, "minmax"],
    "score": [{"impute": {"constant": 0}}, {"buckets": 4}],
    "city": [{"onehot": {"top_k": 3, "min_frequency": 2, "oov": True}}],
    "note": [{"tfidf": {"max_features": 8, "ngram": [1, 2], "min_df": 2}}],
}


def test_every_operation_and_the_transform_reproduces_the_features(
    project: Project, tmp_path: Path
) -> None:
    frame = sample_frame()
    source = write_csv(tmp_path / "in" / "data.csv", frame)
    spec = {
        "source": str(source),
        "label": "label",
        "split": {"test": 0.3, "key": "id"},
        "steps": [
            {"filter": "age >= 25"},
            {"derive": {"per_year": "amount / age"}},
            {"function": "tests.data.functions:add_flag"},
        ],
        "columns": {**ALL_OPS, "per_year": ["impute:mean", "standardize"]},
    }
    run = run_pipeline(with_pipelines(project, demo=spec), "demo")
    version = run.dataset_version
    assert run.created and version.ref == "demo:1"
    kinds = {b["name"]: b for b in version.manifest.features}
    assert kinds["note"]["kind"] == "sparse" and kinds["note"]["width"] == 8
    assert kinds["city"]["columns"] == [
        "city_oslo",
        "city_paris",
        "city_rome",
        "city_infrequent_sklearn",
    ]
    assert kinds["member"]["columns"] == ["member"]  # booleans pass through as 0.0/1.0
    assert "flag" in kinds and "id" not in kinds and "label" not in kinds
    # The key test: the stored transform applied to the raw rows gives exactly what was written.
    raw = read_raw(source)
    raw = raw[raw["age"] >= 25]
    assert_transform_reproduces(version, raw, "id")

    stats = version.stats()["columns"]
    kept = raw["amount"].fillna(raw["amount"].median())
    assert stats["amount"]["mean"] == pytest.approx(np.log1p(kept).mean(), rel=1e-2)
    assert stats["age"]["min"] == raw["age"].min() and stats["age"]["max"] == 80
    assert len(stats["score"]["edges"]) == 5
    profile = version.profile
    assert profile["amount"]["missing"] == int(raw["amount"].isna().sum())
    assert set(profile["amount"]) >= {"mean", "std", "min", "max", "p01", "p50", "p99"}
    assert profile["city"]["top"][0][0] == "paris"
    inputs = {c.name: c.to_dict() for c in version.input_columns}
    assert inputs["city"]["categories"] == ["paris", "oslo", "rome"]
    # impute:median fills a missing amount, so a served request may leave it out
    # (its log's bound is not claimed: a function step, user code, runs before the operations)
    assert inputs["amount"] == {
        "name": "amount",
        "type": "number",
        "categories": None,
        "nullable": True,
    }
    assert "nullable" not in inputs["city"] and "greater_than" not in inputs["age"]
    assert "label" not in inputs


def test_split_is_deterministic_by_key_and_respects_the_ratio(
    make: Callable[..., Project], tmp_path: Path
) -> None:
    frame = sample_frame(rows=2000)
    source = write_csv(tmp_path / "data.csv", frame)
    spec = {
        "source": str(source),
        "label": "label",
        "split": {"test": 0.25, "key": "id"},
        "columns": {"note": ["tfidf"]},
    }
    splits = []
    for name in ("one", "two"):
        version = run_pipeline(with_pipelines(make(name), demo=spec), "demo").dataset_version
        stored = version.frame()
        splits.append(dict(zip(stored["id"], stored["__split"], strict=True)))
    assert splits[0] == splits[1]
    test_share = sum(v == "test" for v in splits[0].values()) / len(splits[0])
    assert 0.2 < test_share < 0.3
    expected = split_of(row_hashes(read_raw(source), "id", []), 0.25)
    assert [splits[0][i] == "test" for i in frame["id"].astype(float)] == expected.tolist()
    version = get_dataset_version(make("one").db, make("one").store, "demo")
    sample = version.raw_sample()
    assert sample is not None and set(sample["id"]) <= {
        i for i, s in splits[0].items() if s == "test"
    }


def test_running_twice_gives_the_same_content_and_no_new_version(
    project: Project, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "data.csv", sample_frame())
    with_pipelines(project, demo={"source": str(source), "label": "label", "columns": ALL_OPS})
    first = run_pipeline(project, "demo")
    # The second run in two worker processes: the same content however the work is spread.
    workers = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    second = run_pipeline(project, "demo", beam_args=workers)
    assert first.created and not second.created
    assert second.dataset_version.content_hash == first.dataset_version.content_hash
    assert second.dataset_version.number == 1
    assert first.dataset_version.stats() == second.dataset_version.stats()
    assert [v.ref for v in list_dataset_versions(project.db, project.store, "demo")] == ["demo:1"]
    write_csv(tmp_path / "data.csv", sample_frame(seed=5))
    third = run_pipeline(project, "demo")
    assert third.created and third.dataset_version.number == 2
    assert third.dataset_version.content_hash != first.dataset_version.content_hash


def test_jsonl_parquet_glob_and_schema_override(project: Project, tmp_path: Path) -> None:
    frame = sample_frame(rows=90)
    parts = [frame.iloc[:30], frame.iloc[30:60], frame.iloc[60:]]
    folder = tmp_path / "mixed"
    folder.mkdir()
    parts[0].to_json(folder / "a.jsonl", orient="records", lines=True)
    pq.write_table(pa.Table.from_pandas(parts[1], preserve_index=False), folder / "b.parquet")
    write_csv(folder / "c.csv", parts[2])
    for fmt, ext in (("jsonl", "jsonl"), ("parquet", "parquet"), ("csv", "csv")):
        spec = {
            "source": {"path": str(folder / f"*.{ext}"), "format": fmt, "schema": {"id": "string"}},
            "label": "label",
            "split": {"key": "id"},
        }
        version = run_pipeline(with_pipelines(project, **{fmt: spec}), fmt).dataset_version
        assert version.rows == 30
        assert version.frame()["id"].map(type).eq(str).all()
        assert {c.name: c.type for c in version.input_columns}["member"] == "number"
    # A relative glob over several files of one format, as lambeam.toml would declare it.
    for i, part in enumerate(parts):
        write_csv(project.settings.root / "data" / f"part-{i}.csv", part)
    with_pipelines(
        project, many={"source": "data/part-*.csv", "label": "label", "split": {"key": "id"}}
    )
    run = run_pipeline(project, "many")
    assert run.dataset_version.rows == 90 and len(run.dataset_version.inputs) == 3
    assert version_count(project) == 4


def test_unlabelled_dataset_without_key_hashes_whole_rows(project: Project, tmp_path: Path) -> None:
    frame = sample_frame(rows=120).drop(columns=["label", "note"])
    source = write_csv(tmp_path / "data.csv", frame)
    spec = {"source": str(source), "drop": ["id"], "split": {"test": 0.5}}
    version = run_pipeline(with_pipelines(project, plain=spec), "plain").dataset_version
    assert version.label is None
    X, y = version.features()
    assert y is None and X.shape[0] == 120
    raw = read_raw(source)
    expected = split_of(row_hashes(raw, None, list(raw.columns)), 0.5)
    stored = version.frame()
    assert sorted(stored["__split"].eq("test")) == sorted(expected)
    assert "id" not in {c.name for c in version.input_columns}
    manifest_text = json.dumps(version.manifest.to_dict())
    assert "tfidf" not in manifest_text


def test_missing_strings_go_to_the_out_of_vocabulary_column_or_to_zeros(
    project: Project, tmp_path: Path
) -> None:
    frame = sample_frame(rows=60)
    frame["town"] = frame["city"]
    frame.loc[::4, ["city", "town", "note"]] = np.nan
    source = write_csv(tmp_path / "data.csv", frame)
    spec = {
        "source": str(source),
        "split": {"key": "id"},
        "columns": {
            "city": [{"onehot": {"oov": True}}],
            "town": ["onehot"],
            "member": ["standardize"],
            "note": ["tfidf"],
            "label": [{"impute": {"constant": "none"}}, {"onehot": {"oov": False}}],
        },
    }
    version = run_pipeline(with_pipelines(project, holes=spec), "holes").dataset_version
    assert_transform_reproduces(version, read_raw(source), "id")
    stored = version.frame().set_index("id")
    missing = frame.loc[frame["city"].isna(), "id"].astype(float)
    assert (stored.loc[missing, "city_infrequent_sklearn"] == 1.0).all()
    town = [c for c in stored.columns if c.startswith("town_")]
    assert town and (stored.loc[missing, town] == 0.0).all().all()
    assert (stored.drop(index=missing)[town].sum(axis=1) == 1.0).all()
    assert stored.loc[missing, "note.indices"].map(len).eq(0).all()


class RecordingReporter:
    """A reporter that remembers the stages it was shown."""

    def __init__(self) -> None:
        self.stages: list[str] = []

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Any]:
        self.stages.append(description)
        yield SimpleNamespace(advance=lambda amount=1: None)


def test_stages_are_reported(project: Project, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "data.csv", sample_frame(rows=30))
    reporter = RecordingReporter()
    run_pipeline(with_pipelines(project, demo={"source": str(source)}), "demo", reporter=reporter)
    assert reporter.stages == ["hashing inputs", "running Beam pipeline", "storing dataset version"]


def test_concurrent_runs_of_one_pipeline_get_distinct_numbers(
    project: Project, tmp_path: Path
) -> None:
    import threading

    sources = []
    for i in range(3):
        frame = sample_frame(rows=30, seed=i)  # different content: a new version each
        sources.append(write_csv(tmp_path / f"data{i}.csv", frame))
    runs: list[Any] = []
    errors: list[BaseException] = []

    # One Project per writer (as separate processes would have), one database and store.
    writers = [
        make_project(
            project.settings.root,
            project.settings.database_url,
            artifacts=project.settings.artifacts,
        )
        for _ in sources
    ]

    def run(i: int) -> None:
        try:
            spec = {"source": str(sources[i]), "split": {"key": "id"}}
            runs.append(run_pipeline(with_pipelines(writers[i], same=spec), "same"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert sorted(r.dataset_version.number for r in runs) == [1, 2, 3]
    for writer in writers:
        writer.close()


def _with_steps(
    project: Project,
    tmp_path: Path,
    steps: list[dict[str, Any]],
    drop: list[str],
    columns: dict[str, Any] | None = None,
) -> tuple[DatasetVersion, Path]:
    """A dataset version of the sample frame (without its text column) prepared by `steps`."""
    source = write_csv(tmp_path / "data.csv", sample_frame(rows=120).drop(columns=["note"]))
    spec = {"source": str(source), "label": "label", "steps": steps, "drop": drop}
    if columns is not None:
        spec["columns"] = columns
    run = run_pipeline(with_pipelines(project, stepped=spec), "stepped")
    return run.dataset_version, source


def test_a_dropped_column_no_derive_step_names_is_not_a_served_input(
    project: Project, tmp_path: Path
) -> None:
    version, source = _with_steps(
        project,
        tmp_path,
        [{"derive": {"ratio": "amount / age", "amount": "amount + 5"}}],
        ["score", "age", "id"],  # age feeds the derive step: still an input
        {"amount": ["impute:median", "log"]},
    )
    inputs = [c.name for c in version.input_columns]
    assert "score" not in inputs and "id" not in inputs and "age" in inputs
    # amount's log sees amount + 5, not the raw value: no bound on what a request sends
    amount = next(c for c in version.input_columns if c.name == "amount")
    assert amount.greater_than is None and "greater_than" not in amount.to_dict()
    # The served transform takes the inputs alone: what a model function passes it.
    raw = read_raw(source)
    served = version.transform().transform(raw[inputs])
    assert served.shape[0] == len(raw)
    assert np.allclose(served, version.transform().transform(raw), equal_nan=True)


def test_with_a_function_step_every_column_stays_a_served_input(
    project: Project, tmp_path: Path
) -> None:
    version, _ = _with_steps(
        project,
        tmp_path,
        [{"function": "tests.data.test_run:_double_amount"}],
        ["score"],  # user code may read it: kept
        {"amount": ["impute:median", "log"]},
    )
    assert "score" in [c.name for c in version.input_columns]
    # what user code does to a column is unknown: no bound is claimed for its raw value
    assert not any(c.greater_than is not None for c in version.input_columns)


def test_a_raw_column_whose_log_would_refuse_a_value_records_its_bound(
    project: Project, tmp_path: Path
) -> None:
    version, _ = _with_steps(
        project, tmp_path, [], ["score"], {"amount": ["impute:median", "log", "standardize"]}
    )
    inputs = {c.name: c for c in version.input_columns}
    assert inputs["amount"].greater_than == -1.0 and inputs["amount"].nullable is True
    assert inputs["age"].greater_than is None
    assert "greater_than" not in inputs["age"].to_dict()


@pytest.mark.parametrize(
    ("ops", "bound"),
    [
        (["log"], -1.0),
        (["impute:median", "log", "standardize"], -1.0),
        (["log", "log"], math.expm1(-1.0)),  # the second log needs the first's output > -1
        ([{"clip": [0, 10]}, "log"], None),  # clipped above -1 first: any value goes
        ([{"clip": [-5, 5]}, "log"], -1.0),  # a clip that lets -3 through does not help
        (["log", {"clip": [0, 10]}], -1.0),
        (["standardize"], None),
    ],
)
def test_the_bound_a_served_value_is_held_to_follows_the_operations(ops, bound) -> None:
    from lambeam.data.inputs import lower_bound
    from lambeam.data.spec import parse_pipeline_spec

    spec = parse_pipeline_spec("p", {"source": "x.csv", "columns": {"x": ops}})
    assert lower_bound(spec.columns["x"]) == bound


def _double_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(amount=frame["amount"] * 2)

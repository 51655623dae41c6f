"""errors = "coerce" counts the values read as null, whatever a filter keeps afterwards, and
pipeline run says so only when there were some."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lambeam.data import run_pipeline
from lambeam.project import Project
from tests.data.conftest import with_pipelines
from tests.data.test_types import ages

_COERCE = {"age": {"type": "number", "errors": "coerce"}}


def _coerced(project: Project, source: str, filter_: str) -> int:
    spec = {"source": {"path": source, "schema": _COERCE}, "steps": [{"filter": filter_}]}
    version = run_pipeline(with_pipelines(project, ok=spec), "ok").dataset_version
    return int(version.profile["age"]["coerced"])


def test_a_batch_a_filter_empties_keeps_its_count(project: Project, tmp_path: Path) -> None:
    # The emptied batch was dropped with its count: 0 said for 2 values read as null.
    folder = tmp_path / "parts"
    folder.mkdir()
    ages(30, {3: "abc", 7: "?"}).assign(city="a").to_csv(folder / "a.csv", index=False)
    ages(30, {}).assign(city="b").to_csv(folder / "b.csv", index=False)
    assert _coerced(project, str(folder / "*.csv"), "city == 'b'") == 2


def test_the_count_is_of_values_read(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    ages(30, {3: "abc", 7: "?"}).to_csv(path, index=False)
    assert _coerced(project, str(path), "age.notna()") == 2


def test_pipeline_run_says_read_as_null_only_when_some_were(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    ages(30, {3: "abc"}).to_csv(root / "data" / "bad.csv", index=False)
    ages(30, {}).to_csv(root / "data" / "good.csv", index=False)
    schema = '{ age = { type = "number", errors = "coerce" } }'
    (root / "lambeam.toml").write_text(
        '[project]\nname = "t"\n\n'
        f'[pipelines.bad]\nsource = {{ path = "data/bad.csv", schema = {schema} }}\n\n'
        f'[pipelines.good]\nsource = {{ path = "data/good.csv", schema = {schema} }}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBEAM_")}
    env["COLUMNS"] = "200"

    def run(name: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "lambeam", "pipeline", "run", name],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return " ".join(proc.stdout.split())

    assert "age: 1 value(s) read as null" in run("bad")
    good = run("good")
    assert "wrote dataset version" in good and "null" not in good

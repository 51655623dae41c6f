"""Dataset versions as listed: timestamps carry their time zone on every backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from lambeam.data import list_dataset_versions, run_pipeline
from lambeam.project import Project
from lambeam.storage.jsonable import jsonable
from tests.data.conftest import with_pipelines
from tests.data.test_errors import ROWS


def test_created_at_is_utc(make: Callable[..., Project], database_url: str, tmp_path: Path) -> None:
    project = make(database_url=database_url)
    path = tmp_path / "rows.csv"
    ROWS.to_csv(path, index=False)
    run_pipeline(with_pipelines(project, rows={"source": str(path)}), "rows")
    (version,) = list_dataset_versions(project.db, project.store)
    assert version.created_at.utcoffset() is not None
    assert version.created_at.tzinfo is not None and version.created_at.astimezone(UTC)
    assert jsonable(version.created_at).endswith("+00:00")


def test_datasets_ls_json_and_pipeline_run_say_what_was_coerced(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    rows = ROWS.assign(x=["1", "2", "abc", "4", "5", "6"])
    rows.to_csv(root / "data" / "rows.csv", index=False)
    (root / "lambeam.toml").write_text(
        '[project]\nname = "t"\n\n[pipelines.rows]\n'
        'source = { path = "data/rows.csv", schema = { x = { type = "number", errors = "coerce" } } }\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBEAM_")}
    env["COLUMNS"] = "200"

    def lambeam(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "lambeam", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out = lambeam("pipeline", "run", "rows")
    assert "x: 1 value(s) read as null" in " ".join(out.split())
    (listed,) = json.loads(lambeam("datasets", "ls", "--json"))
    assert listed["created_at"].endswith("+00:00")

"""The same pipeline with its source and artifacts on S3 (moto), and with PostgreSQL metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lambeam.data import get_dataset_version, run_pipeline
from lambeam.project import Project
from tests.data.conftest import with_pipelines
from tests.data.reference import assert_transform_reproduces, read_raw
from tests.data.test_run import ALL_OPS, sample_frame, write_csv
from tests.services import S3Server, postgres_schema


def test_source_and_artifacts_on_s3(
    s3_server: S3Server, make: Callable[..., Project], tmp_path: Path
) -> None:
    bucket = s3_server.bucket()
    client = s3_server.client()
    locals_ = []
    for i in range(2):
        part = sample_frame(rows=150, seed=i).assign(id=lambda f, i=i: f["id"] + 1000 * i)
        locals_.append(write_csv(tmp_path / f"part-{i}.csv", part))
        client.put_object(Bucket=bucket, Key=f"raw/part-{i}.csv", Body=locals_[-1].read_bytes())
    project = make(artifacts=f"s3://{bucket}/x", s3_endpoint_url=s3_server.endpoint_url)
    spec = {
        "source": f"s3://{bucket}/raw/*.csv",
        "label": "label",
        "split": {"key": "id"},
        "columns": ALL_OPS,
    }
    run = run_pipeline(with_pipelines(project, remote=spec), "remote")
    version = run.dataset_version
    assert version.rows == 300 and [i["path"] for i in version.inputs] == [
        f"s3://{bucket}/raw/part-0.csv",
        f"s3://{bucket}/raw/part-1.csv",
    ]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="x/objects/")["Contents"]
    assert any(o["Key"].endswith(version.manifest.transform) for o in listed)
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="x/runs/")
    raw = pd.concat([read_raw(p) for p in locals_], ignore_index=True)
    assert_transform_reproduces(version, raw, "id")
    assert not run_pipeline(project, "remote").created


def test_postgresql_metadata(make: Callable[..., Project], tmp_path: Path) -> None:
    source = write_csv(tmp_path / "data.csv", sample_frame(rows=150))
    with postgres_schema() as url:
        project = make(database_url=url)
        spec = {"source": str(source), "label": "label", "split": {"key": "id"}, "columns": ALL_OPS}
        first = run_pipeline(with_pipelines(project, pg=spec), "pg")
        again = get_dataset_version(project.db, project.store, "pg:1")
        assert first.created and again.content_hash == first.dataset_version.content_hash
        assert_transform_reproduces(again, read_raw(source), "id")
        project.close()

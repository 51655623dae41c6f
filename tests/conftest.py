"""Fixtures that build real things: SQLite files, PostgreSQL schemas, a moto S3 endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.config import Settings
from lambeam.project import Project
from tests.services import S3Server, postgres_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the session; credentials for it set in this process."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture(params=["local", "s3"])
def artifact_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str | None]:
    """Artifact store settings of each kind: a local folder, or a fresh bucket on moto."""
    if request.param == "local":
        return {"artifacts": str(tmp_path / "artifacts"), "s3_endpoint_url": None}
    server: S3Server = request.getfixturevalue("s3_server")
    return {"artifacts": f"s3://{server.bucket()}/lambeam", "s3_endpoint_url": server.endpoint_url}


def make_project(root: Path, database_url: str | None = None, **storage: str | None) -> Project:
    """A Project rooted at `root` with the given storage (SQLite and a folder by default)."""
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        root=root,
        name=root.name,
        database_url=database_url or f"sqlite:///{root / '.lambeam' / 'lambeam.db'}",
        artifacts=storage.get("artifacts") or str(root / ".lambeam" / "artifacts"),
        s3_endpoint_url=storage.get("s3_endpoint_url"),
    )
    return Project.from_settings(settings)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A project on the embedded defaults: SQLite and a local folder."""
    proj = make_project(tmp_path / "proj")
    yield proj
    proj.close()

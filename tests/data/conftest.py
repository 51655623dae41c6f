"""Fixtures for the data stage: projects whose lambeam.toml declares pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lambeam.project import Project
from lambeam.storage.schema import DatasetVersionRow
from tests.conftest import make_project


def with_pipelines(project: Project, **pipelines: Mapping[str, Any]) -> Project:
    """`project` with these [pipelines.NAME] tables, as load_settings would have read them."""
    project.settings = replace(
        project.settings, pipelines={**project.settings.pipelines, **pipelines}
    )
    return project


def version_count(project: Project) -> int:
    with project.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(DatasetVersionRow)) or 0)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Project]]:
    """Build projects (SQLite and a folder unless storage is given), closed after the test."""
    made: list[Project] = []

    def build(name: str = "proj", database_url: str | None = None, **storage: Any) -> Project:
        proj = make_project(tmp_path / name, database_url, **storage)
        made.append(proj)
        return proj

    yield build
    for proj in made:
        proj.close()

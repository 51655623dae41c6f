"""A project per backend for the registry's tests: SQLite and PostgreSQL, each with a folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.project import Project
from tests.conftest import make_project


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[Project]:
    """A project whose metadata is on each database backend in turn."""
    project = make_project(tmp_path / "proj", database_url)
    yield project
    project.close()

"""Projects on each database backend, and small code directories, for the functions' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.functions import FunctionConfig
from lambeam.project import Project
from tests.conftest import make_project

HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


@pytest.fixture
def proj(database_url: str, tmp_path: Path) -> Iterator[Project]:
    """A project whose metadata is on each database backend in turn, artifacts in a folder."""
    project = make_project(tmp_path / "proj", database_url)
    yield project
    project.close()


def write_code(root: Path, files: dict[str, str] | None = None) -> Path:
    """A function's code directory: app.py with a handler, plus `files`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in {"app.py": HANDLER, **(files or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def code_config(**changes: object) -> FunctionConfig:
    return FunctionConfig(kind="code", handler="app.handler", **changes)  # type: ignore[arg-type]

"""Opening the project a command works on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from lambeam.project import Project

__all__ = ["open_project"]


@contextmanager
def open_project(ctx: typer.Context) -> Iterator[Project]:
    """The project named by --project (or found upwards from the cwd), closed afterwards."""
    root = (ctx.find_root().obj or {}).get("root")
    project = Project.open(root)
    try:
        yield project
    finally:
        project.close()

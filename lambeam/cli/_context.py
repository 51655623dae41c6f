"""Opening the project a command works on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # imported by the commands that open a project, not by --help
    from lambeam.project import Project

__all__ = ["open_project"]


@contextmanager
def open_project(ctx: typer.Context) -> Iterator[Project]:
    """The project named by --project (or found upwards from the cwd), closed afterwards."""
    from lambeam.project import Project

    root = (ctx.find_root().obj or {}).get("root")
    project = Project.open(root)
    try:
        yield project
    finally:
        project.close()

"""`lambeam init` and `lambeam quickstart`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lambeam.cli._console import RichReporter, console
from lambeam.cli._training import metrics_table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("quickstart")(quickstart)


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder (created if missing).")] = Path(
        "."
    ),
    name: Annotated[
        str | None, typer.Option(help="Project name (default: the folder's name).")
    ] = None,
) -> None:
    """Make a project: lambeam.toml and the .lambeam/ state folder (metadata, artifacts)."""
    from lambeam.project import init_project

    project = init_project(directory, name)
    console.print(f"project [bold]{project.settings.name}[/] in {project.settings.root}")
    console.print(f"  config:    {project.settings.config_path}")
    console.print(f"  metadata:  {project.settings.database_url}")
    console.print(f"  artifacts: {project.settings.artifacts}")
    key = project.db.sealer.key
    console.print(f"  master key: {key.path or key.origin} (it seals secrets: back it up)")
    project.close()


def quickstart(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to make the demo project.")
    ] = Path("lambeam-quickstart"),
) -> None:
    """The whole flow on data shipped with lambeam: pipelines, training, comparison, an alias."""
    from lambeam.quickstart import run_quickstart

    summary = run_quickstart(directory, RichReporter())
    for line in summary.lines:
        console.print(line, markup=False, soft_wrap=True)  # whole lines: a pipe is 80 wide
    console.print(metrics_table(summary.metrics))
    console.print(f"[bold green]prod[/]: {summary.prod}")
    for answer in summary.answers:
        out = answer["output"]
        console.print(
            f"  {answer['input']['island']}, bill {answer['input']['bill_length_mm']} mm → "
            f"{out['predictions'][0]} (runner {out.get('runner')})",
            markup=False,
        )
    console.print("call it yourself:")
    for line in summary.how_to_call:
        console.print(f"  {line}", markup=False, soft_wrap=True)

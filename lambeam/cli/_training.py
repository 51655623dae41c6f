"""`lambeam train NAME`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lambeam.cli._console import (
    Column,
    RichReporter,
    cell,
    command_seconds,
    console,
    listing,
    print_json,
)
from lambeam.cli._context import open_project

__all__ = ["metrics_table", "register"]


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A training job declared as [train.NAME].")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the model version as JSON.")
    ] = False,
) -> None:
    """Fit [train.NAME] on its dataset version, score it on the test split, register it."""
    started = time.perf_counter()
    from lambeam.training import run_training

    with open_project(ctx) as project:
        result = run_training(project, name, RichReporter(quiet=as_json))
    version = result.model_version
    if as_json:
        print_json(version.to_dict())
        return
    # The whole command: the run's parts plus what came before them ("start-up": the interpreter,
    # the imports, opening the project).
    total = command_seconds(started)
    parts = f"start-up {total - result.timings.total:.1f}s, {result.timings.describe()}"
    console.print(
        f"registered [bold]{version.ref}[/] ({version.task}, {version.estimator}) "
        f"in {total:.1f}s ({parts}); ONNX {escape(version.onnx_summary)}",
        soft_wrap=True,
    )
    if result.search is not None:
        best = result.search.best
        console.print(
            f"search: {len(result.search.candidates)} candidates, best {result.search.scoring}="
            f"{best.mean_score:.4f} with {best.params}",
            markup=False,
        )
    console.print(metrics_table({version.ref: version.metrics}))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def metrics_table(by_ref: dict[str, dict]) -> Table:
    """A table of scalar metrics, one column per model version."""
    names = sorted(
        {k for m in by_ref.values() for k, v in m.items() if isinstance(v, (int, float))}
    )
    columns = [Column("metric", key=True), *(Column(ref, key=True) for ref in by_ref)]
    return listing(
        columns, [[name, *(cell(m.get(name)) for m in by_ref.values())] for name in names]
    )

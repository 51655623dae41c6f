"""`lambeam pipeline run` and `lambeam datasets ls|show`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lambeam.cli._console import RichReporter, cell, console, print_json
from lambeam.cli._context import open_project

if TYPE_CHECKING:
    from lambeam.data import DatasetVersion

__all__ = ["datasets_app", "pipeline_app"]

pipeline_app = typer.Typer(
    help="Run Beam pipelines declared as [pipelines.NAME].",
    no_args_is_help=True,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(
    help="Dataset versions written by pipelines.", no_args_is_help=True, rich_markup_mode=None
)


@pipeline_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A pipeline declared as [pipelines.NAME].")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the dataset version as JSON.")
    ] = False,
) -> None:
    """Run a pipeline on Beam and store a dataset version.

    Beam pipeline options follow `--` and pass through unchanged, e.g.
    `lambeam pipeline run NAME -- --runner FlinkRunner --flink_master host:8081`.
    """
    from lambeam.data import run_pipeline

    with open_project(ctx) as project:
        result = run_pipeline(
            project, name, beam_args=list(ctx.args), reporter=RichReporter(quiet=as_json)
        )
    version = result.dataset_version
    coerced = {c: e["coerced"] for c, e in version.profile.items() if "coerced" in e}
    if as_json:
        print_json({**_summary(version), "created": result.created, "coerced": coerced})
        return
    verb = "wrote" if result.created else "unchanged; same content as"
    console.print(
        f"{verb} dataset version [bold]{version.ref}[/]: {version.rows} rows, "
        f"content {version.content_hash[:12]}"
    )
    for column, count in coerced.items():
        if count:
            console.print(
                f"  {escape(column)}: {count} value(s) read as null (not numbers; declared "
                'errors = "coerce")',
                soft_wrap=True,
            )


@datasets_app.command("ls")
def ls(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline's versions.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List dataset versions."""
    from lambeam.data import list_dataset_versions

    with open_project(ctx) as project:
        versions = list_dataset_versions(project.db, project.store, pipeline)
    if as_json:
        print_json([_summary(v) for v in versions])
        return
    table = Table("version", "rows", "content", "created", "by")
    for v in versions:
        table.add_row(
            v.ref, str(v.rows), v.content_hash[:12], f"{v.created_at:%Y-%m-%d %H:%M}", v.created_by
        )
    console.print(table)


@datasets_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="PIPELINE (newest) or PIPELINE:N.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a dataset version: inputs, split sizes and the column profile."""
    from lambeam.data import get_dataset_version

    with open_project(ctx) as project:
        version = get_dataset_version(project.db, project.store, ref)
    detail = {
        **_summary(version),
        "inputs": version.inputs,
        "profile": version.profile,
        "input_columns": [column.to_dict() for column in version.input_columns],
        "features": len(version.feature_names()),
    }
    if as_json:
        print_json(detail)
        return
    console.print(
        f"[bold]{escape(version.ref)}[/] {version.rows} rows ({detail['train_rows']} train,"
        f" {detail['test_rows']} test), content {version.content_hash}"
    )
    for item in version.inputs:
        console.print(
            f"  input {escape(str(item.get('path')))} sha256 {str(item.get('sha256'))[:12]}"
        )
    table = Table("column", "type", "count", "missing", "mean", "std", "min", "max", "top")
    types = {c.name: c.type for c in version.input_columns}
    for column, stats in version.profile.items():
        top = stats.get("top") or []
        table.add_row(
            escape(column),
            stats.get("type") or types.get(column, ""),
            *(cell(stats.get(k), ".4g") for k in ("count", "missing", "mean", "std", "min", "max")),
            escape(", ".join(str(t[0] if isinstance(t, (list, tuple)) else t) for t in top[:3])),
        )
    console.print(table)


def _summary(version: DatasetVersion) -> dict:
    return {
        "ref": version.ref,
        "id": version.id,
        "rows": version.rows,
        "train_rows": version.train_rows,
        "test_rows": version.test_rows,
        "content_hash": version.content_hash,
        "spec_hash": version.spec_hash,
        "label": version.label,
        "runner": version.runner,
        "duration_s": version.duration_s,
        "created_at": version.created_at,
        "created_by": version.created_by,
    }

"""The `lambeam` command: thin commands that parse, call one library function, and print."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape

from lambeam.cli import (
    _audit,
    _datasets,
    _function_admin,
    _functions,
    _invocations,
    _keys,
    _mappings,
    _models,
    _project,
    _queues,
    _schedules,
    _server,
    _topics,
    _training,
)
from lambeam.cli._console import err_console
from lambeam.errors import LambeamError

__all__ = ["app", "main", "run"]


class _QuietBeamImports(logging.Filter):
    """Drop Beam's import-time notice about Google Cloud clients that lambeam does not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_QuietBeamImports())

app = typer.Typer(
    name="lambeam",
    help=(
        "Self-hosted serverless machine learning: Beam pipelines, training, a model registry, "
        "and Lambda-style functions."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", help="Project folder (default: found upwards from here)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Beam's and the libraries' own logs.")
    ] = False,
) -> None:
    # Beam logs a failing step's traceback itself; the CLI shows the one-line error instead.
    logging.getLogger("apache_beam").setLevel(logging.INFO if verbose else logging.CRITICAL)
    # What lambeam logs (an ONNX check that disagrees, say) the commands print in their summary.
    logging.getLogger("lambeam").setLevel(logging.INFO if verbose else logging.ERROR)
    ctx.obj = {"root": project}


_project.register(app)
_training.register(app)
_functions.register(app)
_server.register(app)
app.add_typer(_datasets.pipeline_app, name="pipeline")
app.add_typer(_datasets.datasets_app, name="datasets")
app.add_typer(_models.models_app, name="models")
app.add_typer(_function_admin.functions_app, name="functions")
app.add_typer(_audit.audit_app, name="audit")
app.add_typer(_keys.keys_app, name="keys")
app.add_typer(_invocations.invocations_app, name="invocations")
app.add_typer(_invocations.dlq_app, name="dlq")
app.add_typer(_queues.queues_app, name="queues")
app.add_typer(_mappings.mappings_app, name="mappings")
app.add_typer(_topics.topics_app, name="topics")
app.add_typer(_topics.objects_app, name="objects")
app.add_typer(_schedules.schedules_app, name="schedules")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; lambeam errors become one line on stderr and their exit code."""
    try:
        app(args=argv, prog_name="lambeam", standalone_mode=False)
    except LambeamError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return exc.exit_code
    except _EXITS as exc:
        return int(exc.exit_code or 0)
    except _USAGE_ERRORS as exc:  # a missing argument, an unknown option or command: exit 2
        exc.show()
        return int(exc.exit_code)
    except _ABORTS:
        err_console.print("aborted")
        return 130
    return 0


# typer 0.2x raises its own copy of click's exceptions; older ones raise click's.
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_USAGE_ERRORS: tuple[type[Any], ...] = (
    click.ClickException,
    getattr(typer, "TyperException", click.ClickException),
)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

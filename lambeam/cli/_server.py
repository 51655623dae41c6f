"""`lambeam server`."""

from __future__ import annotations

from typing import Annotated

import typer

from lambeam.cli._context import open_project

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("server")(server)


def server(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 exposes it beyond this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Print a line per HTTP request (off by default: invocations are logged per "
            "function, see `lambeam logs`)."
        ),
    ] = False,
) -> None:
    """Run the gateway: the REST API under /v1 and the Lambda API, with the function runtime."""
    from lambeam.server import serve

    with open_project(ctx) as project:
        serve(project, host=host, port=port, access_log=access_log)

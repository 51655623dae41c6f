"""`lambeam audit ls | verify`: the record of every change, and the check that it is whole."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import Column, console, err_console, listing, print_json
from lambeam.cli._context import open_project
from lambeam.errors import StorageError

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The audit log: who changed what and when, hash-chained so that edits are detected.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]


@audit_app.command("ls")
def ls(
    ctx: typer.Context,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. lambda:PublishVersion.")
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option("--resource", help="Only resources starting with this, e.g. function:hello."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="The newest N entries.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List the newest entries of the audit log, oldest first."""
    from lambeam.storage.audit import entries

    with open_project(ctx) as project:
        found = entries(project.db, action=action, resource_prefix=resource, limit=limit)
    if as_json:
        print_json(
            [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "resource": e.resource,
                    "details": e.details,
                    "hash": e.hash,
                }
                for e in found
            ]
        )
        return
    if not found:
        console.print("no audit entries" + (" match" if action or resource else " yet"))
        return
    columns = [
        Column("#", key=True),
        Column("at (UTC)", drop=2),
        Column("actor", drop=1),
        Column("action", key=True),
        Column("resource", key=True),
    ]
    rows = [[str(e.seq), f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.resource] for e in found]
    console.print(listing(columns, rows))


@audit_app.command("verify")
def verify(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check the whole chain; exit 1 naming every entry that was edited, removed or inserted."""
    from lambeam.storage.audit import verify as verify_chain

    with open_project(ctx) as project:
        report = verify_chain(project.db)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "problems": list(report.problems),
            }
        )
    elif report.ok:
        console.print(
            f"audit log intact: {report.entries} entries, head {report.head_hash[:16]}…",
            highlight=False,
        )
    else:
        for problem in report.problems:
            err_console.print(f"[bold red]audit:[/] {escape(problem)}", highlight=False)
    if not report.ok:
        # An error, not typer.Exit(1): the CLI's main returns 0 for an Exit it catches.
        raise StorageError(
            f"audit log NOT intact: {len(report.problems)} problem(s) in {report.entries} entries;"
            " the entries named above were edited, removed or inserted outside lambeam"
        )

"""`lambeam deploy`, `lambeam apply`, `lambeam invoke` and `lambeam logs`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import console, err_console, print_json
from lambeam.cli._context import open_project
from lambeam.cli._function_admin import source_of
from lambeam.errors import LambeamError

__all__ = ["register"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("apply")(apply_)
    app.command("invoke")(invoke)
    app.command("logs")(logs)


def deploy(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Functions to deploy (default: all declared).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Deploy lambeam.toml's [functions.NAME] tables to $LATEST (all, or the NAMES given).

    With no NAMES, deployed functions lambeam.toml does not declare are listed as undeclared.
    """
    _apply(ctx, names or None, as_json)


def apply_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Make lambeam.toml true: every [functions.NAME] (created, updated or unchanged), its
    events and async settings, [queues.NAME] and [topics.NAME].

    Everything is checked before anything is written. Deployed functions that lambeam.toml does
    not declare are listed as undeclared and left as they are (delete one with `lambeam
    functions rm NAME`); queues, topics and triggers an earlier apply made that are no longer
    declared are removed (those made through the API or CLI never are).
    """
    _apply(ctx, None, as_json)


def _apply(ctx: typer.Context, names: list[str] | None, as_json: bool) -> None:
    from lambeam.events.declarations import apply_events, check_events, existing
    from lambeam.functions import apply

    with open_project(ctx) as project:
        # Events (queues, topics, triggers, async settings) are checked whole before anything
        # is applied, so that a bad schedule or a missing queue leaves everything as it was.
        events = None
        if names is None:
            events = check_events(project, set(project.settings.functions), existing(project.db))
        results = apply(project, names)
        applied = apply_events(project, events) if events is not None else None
    if as_json:
        listed = [result.to_dict() for result in results]
        if applied is not None:
            listed += [
                {"kind": kind, "name": where, "action": action}
                for kind, where, action in applied.actions
            ] + [
                {"kind": kind, "name": what, "action": "removed"} for kind, what in applied.removed
            ]
        print_json(listed)
        return
    if all(result.action == "undeclared" for result in results):
        console.print("no functions declared in lambeam.toml")
    for result in results:
        info = result.function
        line = f"{result.action:10} {escape(result.name)}  {info.kind} {source_of(info)}"
        if result.action == "undeclared":
            line += (
                f"  (not in lambeam.toml; `lambeam functions rm {escape(result.name)}` deletes it)"
            )
        console.print(line)
    if applied is not None:
        for kind, where, action in applied.actions:
            console.print(f"{action:10} {kind} {escape(where)}")
        for kind, what in applied.removed:
            console.print(f"{'removed':10} {kind} {escape(what)}  (no longer in lambeam.toml)")


def invoke(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The function to invoke: NAME, NAME:QUALIFIER or its ARN.")
    ],
    payload: Annotated[
        str, typer.Option("--payload", "-p", help="The event as JSON; '-' reads it from stdin.")
    ] = "{}",
    qualifier: Annotated[
        str | None, typer.Option("--qualifier", "-q", help="A version number or an alias.")
    ] = None,
    log: Annotated[
        bool, typer.Option("--log", help="Show the invocation's log on stderr.")
    ] = False,
    event: Annotated[
        bool,
        typer.Option(
            "--event",
            help="Invoke asynchronously (Lambda's InvocationType Event): print the request id"
            " once the event is queued; `lambeam invocations show ID` follows it.",
        ),
    ] = False,
) -> None:
    """Invoke a function once and print its answer: through the project's running `lambeam
    server` when there is one (said on stderr), else in this process. With --event the event
    is queued (through the server, or straight into the project's queue) and a server runs it."""
    from lambeam.config import load_settings
    from lambeam.invoke import invoke_running_server
    from lambeam.runtime.spec import split_function_name

    name, qualifier = split_function_name(name, qualifier)  # hello:prod, as Lambda takes it
    data = sys.stdin.buffer.read() if payload == "-" else payload.encode()
    log_type = "Tail" if log else None
    settings = load_settings((ctx.find_root().obj or {}).get("root"))
    if event:
        _queue_event(ctx, settings.state_dir, name, data, qualifier)
        return
    attempt = invoke_running_server(settings.state_dir, name, data, qualifier, log_type)
    if attempt.note:
        err_console.print(escape(attempt.note), highlight=False, soft_wrap=True)
    result = attempt.invocation
    if result is None:
        from lambeam.invoke import invoke_in_process

        with open_project(ctx) as project:
            result = invoke_in_process(project, name, data, qualifier, log_type=log_type)
    if log and result.log_result_tail:
        sys.stderr.write(result.log_result_tail)  # as written: a console would wrap its lines
    sys.stdout.write(result.payload.decode("utf-8", errors="replace") + "\n")
    if result.function_error:
        kind = result.error_type or result.function_error
        raise LambeamError(f"{name} failed ({kind}){_error_message(result.payload)}")


def _queue_event(
    ctx: typer.Context, state_dir: Path, name: str, data: bytes, qualifier: str | None
) -> None:
    from lambeam.invoke import invoke_running_server

    attempt = invoke_running_server(state_dir, name, data, qualifier, invocation_type="Event")
    if attempt.note:
        err_console.print(escape(attempt.note), highlight=False, soft_wrap=True)
    if attempt.invocation is not None:
        request_id = attempt.invocation.request_id
    else:
        from lambeam.events.asynchronous import queue_event

        with open_project(ctx) as project:
            request_id = queue_event(project, name, data, qualifier)
        err_console.print("queued: the project's running `lambeam server` runs it")
    sys.stdout.write(request_id + "\n")


def _error_message(payload: bytes) -> str:
    """': <errorMessage>' of a function error's document (first line), or nothing."""
    try:
        document = json.loads(payload)
    except ValueError:
        return ""
    message = document.get("errorMessage") if isinstance(document, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    return ": " + message.strip().splitlines()[0][:300]


def logs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The function whose logs to show.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
) -> None:
    """Show a function's invocation logs (START, output, END, REPORT), oldest first.

    Each function's log is rotated past 64 MiB; the 3 newest rotated files are kept.
    """
    from lambeam.functions import check_function_name, get_function
    from lambeam.invoke import logs_folder
    from lambeam.runtime import FileLogSink

    check_function_name(name)
    with open_project(ctx) as project:
        sink = FileLogSink(logs_folder(project))
        if not sink.path(name).exists() and not sink.rotated(name):
            get_function(project.db, name)  # a deleted function's logs are still shown
            err_console.print(f"{escape(name)} has no invocations logged yet")
    for line in sink.read(name, follow=follow):
        sys.stdout.write(line)
        sys.stdout.flush()

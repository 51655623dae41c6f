"""`lambeam invocations ls | show` and `lambeam dlq ls | show | replay`: asynchronous events.

An asynchronous invocation (an Event invoke, a topic's, a schedule's, an object trigger's) is
recorded with each attempt's error and log lines; `invocations` reads those records. `dlq`
reads a function's failed events where they went (its dead-letter queue, or its failure
destination's queue) and sends them to the function again.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import Column, cell, console, listing, print_json
from lambeam.cli._context import open_project

__all__ = ["dlq_app", "invocations_app"]

invocations_app = typer.Typer(
    help="Asynchronous invocations: status, attempts, errors and log lines.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
dlq_app = typer.Typer(
    help="A function's failed asynchronous events (dead-letter or failure queue): list, replay.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Function = Annotated[str, typer.Argument(help="The function's name.")]


def _when(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_s))


@invocations_app.command("ls")
def invocations_ls(
    ctx: typer.Context,
    function: Function,
    status: Annotated[
        str | None,
        typer.Option(help="Only those queued, retrying, succeeded or failed."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List a function's asynchronous invocations, newest first."""
    from lambeam.events.invocations import list_invocations

    with open_project(ctx) as project:
        records = list_invocations(project.db, function, status=status, limit=limit)
    if as_json:
        print_json([record.to_dict(history=False) for record in records])
        return
    columns = [
        Column("request id", key=True),
        Column("status"),
        Column("attempts"),
        Column("error", drop=2),
        Column("source", drop=3),
        Column("accepted", drop=1),
    ]
    rows = [
        [
            r.request_id,
            r.status,
            str(r.attempts),
            cell(r.error_type),
            r.source,
            _when(r.enqueued_at),
        ]
        for r in records
    ]
    console.print(listing(columns, rows))


@invocations_app.command("show")
def invocations_show(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The invocation's request id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one asynchronous invocation: each attempt's error and log lines, and the result."""
    from lambeam.events.invocations import get_invocation

    with open_project(ctx) as project:
        record = get_invocation(project.db, request_id)
    if as_json:
        print_json(record.to_dict())
        return
    qualified = f"{record.function}:{record.qualifier}" if record.qualifier else record.function
    console.print(f"request {record.request_id}  {escape(qualified)}", highlight=False)
    console.print(
        f"status {record.status} after {record.attempts} attempt(s); accepted"
        f" {_when(record.enqueued_at)} from {record.source}",
        highlight=False,
    )
    for attempt in record.history:
        number = f"attempt {attempt.number}" if attempt.number is not None else attempt.status
        took = f", {attempt.duration_ms:.0f} ms" if attempt.duration_ms is not None else ""
        console.print(f"\n{number}: {attempt.status}{took} at {_when(attempt.started_at)}")
        if attempt.error_type or attempt.error_message:
            error = f"{attempt.error_type or ''}: {attempt.error_message or ''}"
            console.print(f"  error: {escape(error)}", highlight=False)
        for line in attempt.log_lines:
            console.print(f"  | {escape(line)}", highlight=False, soft_wrap=True)
    if record.result_text is not None:
        console.print(f"\nresult: {escape(record.result_text)}", highlight=False, soft_wrap=True)
    if record.destination:
        console.print(f"sent to: {escape(record.destination)}", highlight=False)


@dlq_app.command("ls")
def dlq_ls(
    ctx: typer.Context,
    function: Function,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List a function's failed events in its dead-letter queue and failure queue."""
    from lambeam.events.failed_events import failed_event_queues, list_failed_events

    with open_project(ctx) as project:
        queues = failed_event_queues(project.db, function)
        events = list_failed_events(project.db, function, limit)
    if as_json:
        print_json([event.to_dict() for event in events])
        return
    if not queues:
        console.print(
            f"function {escape(function)} has no dead-letter queue and no failure destination"
            " queue (set one with [functions.NAME.async] or the Lambda API)",
            highlight=False,
        )
        return
    columns = [
        Column("message id", key=True),
        Column("request id", drop=3),
        Column("queue", drop=2),
        Column("error"),
        Column("sent", drop=1),
    ]
    rows = [
        [e.message_id, cell(e.request_id), e.queue, cell(e.error), _when(e.sent_at)] for e in events
    ]
    console.print(listing(columns, rows))


@dlq_app.command("show")
def dlq_show(
    ctx: typer.Context,
    function: Function,
    message_id: Annotated[str, typer.Argument(help="The message's id (dlq ls shows them).")],
) -> None:
    """Show one failed event: where it is, why it failed, and the event itself (JSON)."""
    from lambeam.events.failed_events import get_failed_event

    with open_project(ctx) as project:
        event = get_failed_event(project.db, function, message_id)
    print_json(event.to_dict())


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    function: Function,
    message_ids: Annotated[
        list[str] | None, typer.Argument(help="The messages to replay (default: --all).")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every failed event.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send failed events to the function again as new asynchronous events (a running server
    runs them), removing them from their queue."""
    from lambeam.errors import ConfigError
    from lambeam.events.failed_events import replay_failed_events
    from lambeam.events.queue import MessageQueue

    if bool(message_ids) == replay_all:
        raise ConfigError("name the messages to replay, or give --all")
    with open_project(ctx) as project:
        replayed = replay_failed_events(
            MessageQueue(project.db), function, None if replay_all else message_ids
        )
    if as_json:
        print_json([{"message_id": m, "request_id": r} for m, r in replayed])
        return
    for message_id, request_id in replayed:
        console.print(f"replayed {message_id} as request {request_id}", highlight=False)
    if not replayed:
        console.print("nothing to replay", highlight=False)

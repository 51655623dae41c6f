"""`lambeam mappings ls | show | create | rm | enable | disable`: queues mapped to functions
(Lambda's event source mappings). A running server picks a change up within its poll interval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import Column, console, listing, print_json
from lambeam.cli._context import open_project

if TYPE_CHECKING:
    from lambeam.events.mappings import EventSourceMapping

__all__ = ["mappings_app"]

mappings_app = typer.Typer(
    help="Queues mapped to functions: each message batch invokes the function (SQS's triggers).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Uuid = Annotated[str, typer.Argument(help="The mapping's UUID (lambeam mappings ls).")]


def _function(mapping: EventSourceMapping) -> str:
    return f"{mapping.function}:{mapping.qualifier}" if mapping.qualifier else mapping.function


def _summary(mapping: EventSourceMapping) -> str:
    window = mapping.maximum_batching_window_s
    parts = [f"batches of up to {mapping.batch_size}"]
    if window:
        parts.append(f"gathered for up to {window} s")
    if mapping.maximum_concurrency:
        parts.append(f"at most {mapping.maximum_concurrency} at once")
    if mapping.reports_batch_item_failures:
        parts.append("reports batch item failures")
    return ", ".join(parts)


def _said(verb: str, mapping: EventSourceMapping) -> None:
    console.print(
        f"{verb} mapping {mapping.uuid}: queue {escape(mapping.queue)} ->"
        f" {escape(_function(mapping))} ({mapping.state.lower()}; {_summary(mapping)})",
        highlight=False,
    )


@mappings_app.command("ls")
def ls(
    ctx: typer.Context,
    function: Annotated[
        str | None, typer.Option("--function", "-f", help="Only this function's mappings.")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the mappings, oldest first."""
    from lambeam.events.mappings import list_event_source_mappings

    with open_project(ctx) as project:
        mappings = list_event_source_mappings(project.db, function=function, queue=queue)
    if as_json:
        print_json([mapping.to_dict() for mapping in mappings])
        return
    if not mappings:
        console.print("no event source mappings (lambeam mappings create FUNCTION QUEUE)")
        return
    columns = [
        Column("uuid", key=True),
        Column("queue", key=True),
        Column("function", key=True),
        Column("state"),
        Column("batch", drop=3),
        Column("window (s)", drop=2),
        Column("concurrency", drop=1),
        Column("from", drop=4),
    ]
    rows = [
        [
            m.uuid,
            m.queue,
            _function(m),
            m.state,
            str(m.batch_size),
            str(m.maximum_batching_window_s),
            str(m.maximum_concurrency or "-"),
            m.origin,
        ]
        for m in mappings
    ]
    console.print(listing(columns, rows))


@mappings_app.command("show")
def show(ctx: typer.Context, uuid: Uuid, as_json: JsonFlag = False) -> None:
    """Show one mapping."""
    from lambeam.events.mappings import get_event_source_mapping

    with open_project(ctx) as project:
        mapping = get_event_source_mapping(project.db, uuid)
    if as_json:
        print_json(mapping.to_dict())
        return
    _said("event source", mapping)


@mappings_app.command("create")
def create(
    ctx: typer.Context,
    function: Annotated[str, typer.Argument(help="The function (name or name:qualifier).")],
    queue: Annotated[str, typer.Argument(help="The queue (its name or ARN).")],
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Most messages per invocation: 1-10000 (default 10)."),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            help="Seconds to gather a batch: 0-300 (at least 1 for a batch size above 10).",
        ),
    ] = None,
    maximum_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", help="Most batches running at once: 2-1000."),
    ] = None,
    report_failures: Annotated[
        bool,
        typer.Option(
            "--report-failures",
            help='The function answers {"batchItemFailures": [...]}: only those come back.',
        ),
    ] = False,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it disabled (nothing is polled).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Map a queue to a function: its messages invoke the function in batches."""
    from lambeam.events.mapping_rules import REPORT_BATCH_ITEM_FAILURES
    from lambeam.events.mappings import create_event_source_mapping
    from lambeam.events.queues import queue_name_from_arn
    from lambeam.runtime.spec import split_function_name

    name, qualifier = split_function_name(function)
    try:
        queue_name = queue_name_from_arn(queue)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="QUEUE") from None
    with open_project(ctx) as project:
        mapping = create_event_source_mapping(
            project.db,
            name,
            queue_name,
            qualifier=qualifier,
            batch_size=batch_size,
            maximum_batching_window_s=window,
            maximum_concurrency=maximum_concurrency,
            enabled=not disabled,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES] if report_failures else [],
        )
    if as_json:
        print_json(mapping.to_dict())
        return
    _said("created", mapping)


@mappings_app.command("rm")
def rm(ctx: typer.Context, uuid: Uuid) -> None:
    """Delete a mapping (batches running finish; nothing more is polled)."""
    from lambeam.events.mappings import delete_event_source_mapping

    with open_project(ctx) as project:
        mapping = delete_event_source_mapping(project.db, uuid)
    _said("deleted", mapping)


def _enable(ctx: typer.Context, uuid: str, enabled: bool) -> None:
    from lambeam.events.mappings import update_event_source_mapping

    with open_project(ctx) as project:
        mapping = update_event_source_mapping(project.db, uuid, enabled=enabled)
    _said("enabled" if enabled else "disabled", mapping)


@mappings_app.command("enable")
def enable(ctx: typer.Context, uuid: Uuid) -> None:
    """Poll a disabled mapping's queue again."""
    _enable(ctx, uuid, True)


@mappings_app.command("disable")
def disable(ctx: typer.Context, uuid: Uuid) -> None:
    """Stop polling a mapping's queue (its messages wait there)."""
    _enable(ctx, uuid, False)

"""`lambeam queues create | ls | show | rm | send | receive | purge`: SQS queues of the project.

The same queues the SQS API serves (boto3's `sqs` client with `endpoint_url`); these commands
work on the project's database directly, with or without a running server.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lambeam.cli._console import Column, console, listing, print_json
from lambeam.cli._context import open_project

if TYPE_CHECKING:
    from lambeam.events.queues import QueueInfo
    from lambeam.project import Project

__all__ = ["queues_app"]

queues_app = typer.Typer(
    help="SQS queues: create them, send and receive messages (boto3's sqs client works too).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Name = Annotated[str, typer.Argument(help="The queue's name.")]


def _attributes(values: list[str]) -> dict[str, str]:
    from lambeam.errors import ConfigError

    pairs: dict[str, str] = {}
    for value in values:
        name, equals, setting = value.partition("=")
        if not equals or not name:
            raise ConfigError(
                f"--attribute {value!r} must be Name=value, e.g. VisibilityTimeout=60"
            )
        pairs[name] = setting
    return pairs


def _queue_json(project: Project, info: QueueInfo) -> dict[str, Any]:
    from lambeam.events import MessageQueue

    counts = MessageQueue(project.db).counts(info.name)
    dead_letter = info.dead_letter
    return {
        "name": info.name,
        "arn": info.arn(),
        "attributes": info.attributes,
        "dead_letter_queue": dead_letter.queue if dead_letter else None,
        "max_receive_count": dead_letter.max_receive_count if dead_letter else None,
        "messages": {
            "visible": counts.visible,
            "in_flight": counts.in_flight,
            "delayed": counts.delayed,
        },
        "origin": info.origin,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
    }


@queues_app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    attribute: Annotated[
        list[str],
        typer.Option(
            "--attribute",
            "-a",
            help="An SQS attribute, Name=value (VisibilityTimeout=60, DelaySeconds=5,"
            " MessageRetentionPeriod=3600, RedrivePolicy='{...}'); repeat for more.",
        ),
    ] = [],  # noqa: B006 - typer's way to take a repeated option
    as_json: JsonFlag = False,
) -> None:
    """Create a queue (SQS's CreateQueue: the same name and attributes again is no change)."""
    from lambeam.events.queues import create_queue

    with open_project(ctx) as project:
        info = create_queue(project.db, name, _attributes(attribute))
        if as_json:
            print_json(_queue_json(project, info))
        else:
            console.print(f"queue {info.name} ({info.arn()})", markup=False)


@queues_app.command("ls")
def ls(ctx: typer.Context, prefix: str = "", as_json: JsonFlag = False) -> None:
    """The project's queues, with their messages (visible, in flight, delayed)."""
    from lambeam.events.queues import list_queues

    with open_project(ctx) as project:
        shown = [_queue_json(project, info) for info in list_queues(project.db, prefix)]
    if as_json:
        print_json(shown)
        return
    columns = [
        Column("queue", key=True),
        Column("visible"),
        Column("in flight"),
        Column("delayed", drop=2),
        Column("visibility timeout", drop=3),
        Column("dead-letter queue", drop=1),
    ]
    rows = [
        [
            q["name"],
            str(q["messages"]["visible"]),
            str(q["messages"]["in_flight"]),
            str(q["messages"]["delayed"]),
            q["attributes"]["VisibilityTimeout"] + " s",
            f"{q['dead_letter_queue']} (after {q['max_receive_count']})"
            if q["dead_letter_queue"]
            else "",
        ]
        for q in shown
    ]
    console.print(listing(columns, rows))


@queues_app.command("show")
def show(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """A queue's attributes (SQS's defaults filled in) and message counts."""
    from lambeam.events.queues import get_queue

    with open_project(ctx) as project:
        shown = _queue_json(project, get_queue(project.db, name))
    if as_json:
        print_json(shown)
        return
    console.print(f"queue {shown['name']} ({shown['arn']})", markup=False)
    for key, value in sorted(shown["attributes"].items()):
        console.print(f"  {key}: {value}", markup=False)
    counts = shown["messages"]
    console.print(
        f"  messages: {counts['visible']} visible, {counts['in_flight']} in flight,"
        f" {counts['delayed']} delayed",
        markup=False,
    )


@queues_app.command("rm")
def rm(ctx: typer.Context, name: Name) -> None:
    """Delete a queue and every message it holds."""
    from lambeam.events.queues import delete_queue

    with open_project(ctx) as project:
        purged = delete_queue(project.db, name)
    console.print(f"deleted queue {name} and its {purged} message(s)", markup=False)


@queues_app.command("send")
def send(
    ctx: typer.Context,
    name: Name,
    body: Annotated[str, typer.Argument(help="The message body (text, JSON, XML).")],
    delay: Annotated[
        int | None, typer.Option("--delay", help="Seconds before it can be received (0-900).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send one message (SQS's SendMessage); prints its id."""
    from lambeam.events import MessageQueue
    from lambeam.events.messages import prepare
    from lambeam.events.queues import get_queue

    with open_project(ctx) as project:
        prepared = prepare(get_queue(project.db, name), body, delay_seconds=delay)
        MessageQueue(project.db).send(name, [prepared.outgoing])
    if as_json:
        print_json({"MessageId": prepared.message_id, "MD5OfMessageBody": prepared.md5_of_body})
    else:
        console.print(f"sent {prepared.message_id}", markup=False)


@queues_app.command("receive")
def receive(
    ctx: typer.Context,
    name: Name,
    max_messages: Annotated[int, typer.Option("--max", help="At most this many (1-10).")] = 1,
    visibility_timeout: Annotated[
        int | None,
        typer.Option("--visibility-timeout", help="Seconds they stay hidden (queue's default)."),
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete them once received (else they come back).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Receive messages (SQS's ReceiveMessage, without waiting), with all their attributes."""
    from lambeam.errors import ConfigError
    from lambeam.events import MessageQueue
    from lambeam.events.messages import parse_receipt_handle
    from lambeam.events.messages import receive as receive_messages
    from lambeam.events.queues import get_queue

    if not 1 <= max_messages <= 10:
        raise ConfigError(f"--max must be from 1 to 10, not {max_messages}")
    with open_project(ctx) as project:
        info = get_queue(project.db, name)
        queue = MessageQueue(project.db)
        got = receive_messages(
            queue,
            info,
            max_messages,
            visibility_timeout=visibility_timeout,
            attribute_names=["All"],
            message_attribute_names=["All"],
        )
        if delete:
            queue.delete([parse_receipt_handle(name, m.receipt_handle) for m in got])
    if as_json:
        print_json([m.to_dict() for m in got])
        return
    for message in got:
        console.print(f"{message.message_id}: {message.body}", markup=False)
        if message.message_attributes:
            console.print(f"  attributes: {json.dumps(message.message_attributes)}", markup=False)
    if not got:
        console.print("no message visible now", markup=False)


@queues_app.command("purge")
def purge(ctx: typer.Context, name: Name) -> None:
    """Delete every message of a queue (SQS's PurgeQueue); the queue stays."""
    from lambeam.events import MessageQueue
    from lambeam.events.queues import get_queue

    with open_project(ctx) as project:
        get_queue(project.db, name)
        purged = MessageQueue(project.db).purge(name)
    console.print(f"purged {purged} message(s) from {name}", markup=False)

"""`lambeam topics create | ls | rm | publish | subscribe | unsubscribe | subscriptions` and
`lambeam objects ls | watch | rm`: topics (SNS) and object-created triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import Column, console, listing, print_json
from lambeam.cli._context import open_project
from lambeam.errors import ConfigError

__all__ = ["objects_app", "topics_app"]

topics_app = typer.Typer(
    help="Topics (SNS): publish a message to every function and queue subscribed.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
objects_app = typer.Typer(
    help="Object-created triggers: new files in a folder or s3:// prefix invoke a function.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Topic = Annotated[str, typer.Argument(help="The topic's name (or ARN).")]


@topics_app.command("create")
def create(ctx: typer.Context, topic: Topic, as_json: JsonFlag = False) -> None:
    """Create a topic (one that exists is left as it is)."""
    from lambeam.events.topics import create_topic

    with open_project(ctx) as project:
        made = create_topic(project.db, topic)
    if as_json:
        print_json(made.to_dict())
        return
    console.print(f"topic {escape(made.name)}: {made.arn}", highlight=False)


@topics_app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the topics."""
    from lambeam.events.topics import list_topics

    with open_project(ctx) as project:
        topics = list_topics(project.db)
    if as_json:
        print_json([t.to_dict() for t in topics])
        return
    if not topics:
        console.print("no topics (lambeam topics create NAME)")
        return
    columns = [Column("name", key=True), Column("subscriptions"), Column("origin", drop=1)]
    rows = [[t.name, str(t.subscriptions), t.origin] for t in topics]
    console.print(listing(columns, rows))


@topics_app.command("rm")
def rm(ctx: typer.Context, topic: Topic) -> None:
    """Delete a topic and its subscriptions."""
    from lambeam.events.topics import delete_topic

    with open_project(ctx) as project:
        delete_topic(project.db, topic)
    console.print(f"deleted topic {escape(topic)}")


@topics_app.command("publish")
def publish(
    ctx: typer.Context,
    topic: Topic,
    message: Annotated[str, typer.Argument(help="The message (text; often JSON).")],
    subject: Annotated[str | None, typer.Option("--subject", help="SNS's Subject.")] = None,
    attribute: Annotated[
        list[str] | None,
        typer.Option("--attribute", "-a", help="A String message attribute, NAME=VALUE."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish a message: each subscriber gets it on its own (a running server delivers it)."""
    from lambeam.events.topics import publish_message

    attributes: dict[str, str] = {}
    for item in attribute or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--attribute {item!r} must be NAME=VALUE")
        attributes[name] = value
    with open_project(ctx) as project:
        published = publish_message(project.db, topic, message, subject, attributes or None)
    if as_json:
        print_json(
            {
                "message_id": published.message_id,
                "request_ids": published.request_ids,
                "queues": published.queues,
            }
        )
        return
    console.print(
        f"published {published.message_id}: {len(published.request_ids)} function(s),"
        f" {len(published.queues)} queue(s)",
        highlight=False,
    )


@topics_app.command("subscribe")
def subscribe(
    ctx: typer.Context,
    topic: Topic,
    function: Annotated[
        str | None, typer.Option("--function", help="A function (name, name:qualifier or ARN).")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="A queue (name or ARN).")] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Queue only: the bare message, not SNS's envelope.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Subscribe a function or a queue to a topic."""
    from lambeam.events.topics import subscribe as subscribe_to

    if (function is None) == (queue is None):
        raise ConfigError("give exactly one of --function NAME or --queue NAME")
    protocol, endpoint = ("lambda", function) if function is not None else ("sqs", queue or "")
    with open_project(ctx) as project:
        made = subscribe_to(project.db, topic, protocol, endpoint, raw_message_delivery=raw)
    if as_json:
        print_json(made.to_dict())
        return
    console.print(f"subscribed {made.endpoint_arn}: {made.arn}", highlight=False)


@topics_app.command("unsubscribe")
def unsubscribe(
    ctx: typer.Context,
    subscription: Annotated[str, typer.Argument(help="The subscription's id or ARN.")],
) -> None:
    """Remove a subscription."""
    from lambeam.events.topics import unsubscribe as remove

    with open_project(ctx) as project:
        remove(project.db, subscription)
    console.print(f"unsubscribed {escape(subscription)}")


@topics_app.command("subscriptions")
def subscriptions(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Argument(help="Only this topic's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List subscriptions (every topic's, or one's)."""
    from lambeam.events.topics import list_subscriptions

    with open_project(ctx) as project:
        found = list_subscriptions(project.db, topic)
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    if not found:
        console.print("no subscriptions (lambeam topics subscribe TOPIC --function NAME)")
        return
    columns = [
        Column("id", key=True),
        Column("topic"),
        Column("protocol"),
        Column("endpoint"),
        Column("raw", drop=1),
    ]
    rows = [
        [
            s.id,
            s.topic,
            s.protocol,
            s.endpoint + (f":{s.qualifier}" if s.qualifier else ""),
            "yes" if s.raw_message_delivery else "",
        ]
        for s in found
    ]
    console.print(listing(columns, rows))


@objects_app.command("watch")
def watch(
    ctx: typer.Context,
    function: Annotated[str, typer.Argument(help="The function to invoke (name[:qualifier]).")],
    location: Annotated[str, typer.Argument(help="A folder, or s3://bucket/prefix/.")],
    suffix: Annotated[str, typer.Option("--suffix", help="Only keys ending so, e.g. .csv")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Invoke FUNCTION for each new object under LOCATION (what is there now never fires)."""
    from lambeam.events.objects import create_object_trigger, object_storage_options

    with open_project(ctx) as project:
        trigger = create_object_trigger(
            project.db,
            function,
            location,
            suffix=suffix,
            settings=project.settings,
            root=Path.cwd(),
            storage_options=object_storage_options(project.settings),
        )
    if as_json:
        print_json(trigger.to_dict())
        return
    console.print(
        f"object trigger {trigger.id}: new objects in {trigger.location} invoke {function}",
        highlight=False,
    )


@objects_app.command("ls")
def objects_ls(
    ctx: typer.Context,
    function: Annotated[str | None, typer.Argument(help="Only this function's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the object triggers."""
    from lambeam.events.objects import list_object_triggers

    with open_project(ctx) as project:
        triggers = list_object_triggers(project.db, function)
    if as_json:
        print_json([t.to_dict() for t in triggers])
        return
    if not triggers:
        console.print("no object triggers (lambeam objects watch FUNCTION LOCATION)")
        return
    columns = [
        Column("id", key=True),
        Column("function"),
        Column("location", drop=3),  # a long path folds the ids (rm needs them whole)
        Column("suffix", drop=2),
        Column("origin", drop=1),
    ]
    rows = [[t.id, t.function, t.location, t.suffix, t.origin] for t in triggers]
    console.print(listing(columns, rows))


@objects_app.command("rm")
def objects_rm(
    ctx: typer.Context, trigger: Annotated[str, typer.Argument(help="The trigger's id.")]
) -> None:
    """Stop watching (the trigger's memory of seen objects goes with it)."""
    from lambeam.events.objects import delete_object_trigger

    with open_project(ctx) as project:
        delete_object_trigger(project.db, trigger)
    console.print(f"deleted object trigger {escape(trigger)}")

"""`lambeam schedules ls | create | show | rm | enable | disable`: schedules (EventBridge
Scheduler's cron, rate and at expressions) that invoke a function."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lambeam.cli._console import Column, console, listing, print_json
from lambeam.cli._context import open_project
from lambeam.errors import ConfigError

if TYPE_CHECKING:
    from lambeam.events.schedules import ScheduleInfo

__all__ = ["schedules_app"]

schedules_app = typer.Typer(
    help="Schedules: cron(...), rate(...) or at(...) expressions that invoke a function.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Name = Annotated[str, typer.Argument(help="The schedule's name.")]


@schedules_app.command("ls")
def ls(
    ctx: typer.Context,
    function: Annotated[
        str | None, typer.Option("--function", help="Only the schedules of this function.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the schedules, with when each fires next."""
    from lambeam.events.schedules import list_schedules

    with open_project(ctx) as project:
        schedules = list_schedules(project.db, function=function)
    now = time.time()
    if as_json:
        print_json([s.to_dict(now) for s in schedules])
        return
    if not schedules:
        console.print('no schedules (lambeam schedules create NAME "rate(5 minutes)" FUNCTION)')
        return
    columns = [
        Column("name", key=True),
        Column("expression", key=True),
        Column("timezone", drop=3),
        Column("function", key=True),
        Column("state"),
        Column("next (UTC)", drop=2),
        Column("origin", drop=1),
    ]
    rows = [
        [
            s.name,
            s.expression,
            s.timezone,
            f"{s.function}:{s.qualifier}" if s.qualifier else s.function,
            "enabled" if s.enabled else "disabled",
            (s.to_dict(now)["next"] or ["-"])[0],
            s.origin,
        ]
        for s in schedules
    ]
    console.print(listing(columns, rows))


@schedules_app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    expression: Annotated[
        str,
        typer.Argument(
            help="cron(0 8 ? * MON-FRI *), rate(5 minutes) or at(2030-01-31T09:00:00): quote it."
        ),
    ],
    function: Annotated[str, typer.Argument(help="The function: a name, name:qualifier or ARN.")],
    timezone: Annotated[
        str, typer.Option("--timezone", "-z", help="IANA time zone, e.g. Europe/Paris.")
    ] = "UTC",
    qualifier: Annotated[
        str | None, typer.Option("--qualifier", "-q", help="A version or alias to invoke.")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option("--input", help="JSON sent as the event instead of the Scheduled Event."),
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a schedule that invokes FUNCTION asynchronously at each tick of EXPRESSION."""
    from lambeam.events.schedules import create_schedule

    with open_project(ctx) as project:
        made = create_schedule(
            project.db,
            name,
            expression,
            function,
            qualifier=qualifier,
            timezone=timezone,
            input=_json(input),
            enabled=not disabled,
        )
    _show(made, as_json)


@schedules_app.command("show")
def show(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Show a schedule: its expression, target, input, last and next fire times."""
    from lambeam.events.schedules import get_schedule

    with open_project(ctx) as project:
        found = get_schedule(project.db, name)
    _show(found, as_json)


@schedules_app.command("rm")
def rm(ctx: typer.Context, name: Name) -> None:
    """Delete a schedule."""
    from lambeam.events.schedules import delete_schedule

    with open_project(ctx) as project:
        delete_schedule(project.db, name)
    console.print(f"deleted schedule {escape(name)}", highlight=False)


@schedules_app.command("enable")
def enable(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Let a schedule fire again, from its next tick on."""
    from lambeam.events.schedules import enable_schedule

    with open_project(ctx) as project:
        _show(enable_schedule(project.db, name), as_json)


@schedules_app.command("disable")
def disable(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Stop a schedule firing (it is kept)."""
    from lambeam.events.schedules import disable_schedule

    with open_project(ctx) as project:
        _show(disable_schedule(project.db, name), as_json)


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--input is not JSON: {exc}") from None


def _show(schedule: ScheduleInfo, as_json: bool) -> None:
    shown = schedule.to_dict(time.time())
    if as_json:
        print_json(shown)
        return
    target = shown["function"] + (f":{shown['qualifier']}" if shown["qualifier"] else "")
    lines = [
        f"schedule {shown['name']} ({shown['state'].lower()}): {shown['arn']}",
        f"  {shown['expression']} in {shown['timezone']} -> {target}",
        f"  input: {json.dumps(shown['input']) if shown['input'] is not None else 'Scheduled Event'}",
        f"  last fired: {shown['last_fired'] or '-'}",
        f"  next: {', '.join(shown['next']) or '-'}",
    ]
    console.print(escape("\n".join(lines)), highlight=False)

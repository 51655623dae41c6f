"""`lambeam functions ls | show | publish | rm | alias set | alias rm`: deployed functions.

`deploy` and `apply` (in _functions.py) make `$LATEST` what lambeam.toml declares; these commands
do what Lambda's console and `aws lambda` do with what is deployed: list it, look at one version,
publish an immutable version, point aliases (with a weighted second version), and delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lambeam.cli._console import cell, console, print_json
from lambeam.cli._context import open_project
from lambeam.errors import ConfigError, NotFoundError

if TYPE_CHECKING:  # the functions service is imported by the commands that use it
    from lambeam.functions import AliasInfo, FunctionInfo

__all__ = ["functions_app"]

functions_app = typer.Typer(
    help="Deployed functions: list, show, publish versions, aliases, delete.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
alias_app = typer.Typer(
    help="Point a function's aliases at versions (optionally sending a weight to a second one).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
functions_app.add_typer(alias_app, name="alias")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
Name = Annotated[str, typer.Argument(help="The function's name.")]


@functions_app.command("ls")
def ls(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="List this function's versions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List deployed functions, or one function's versions ($LATEST first)."""
    from lambeam.functions import list_aliases, list_functions, list_versions

    with open_project(ctx) as project:
        if name is not None:
            versions = list_versions(project.db, name)
            aliases = list_aliases(project.db, name)
        else:
            functions = list_functions(project.db)
            aliases, published = [], {}
            for f in list(functions):
                try:  # one deleted meanwhile (by a server, say) is left out
                    aliases += list_aliases(project.db, f.name)
                    published[f.name] = len(list_versions(project.db, f.name)) - 1
                except NotFoundError:
                    functions.remove(f)
    if name is not None:
        if as_json:
            print_json([v.to_dict() for v in versions])
            return
        table = Table("version", "source", "description", "aliases", "created")
        for v in versions:
            table.add_row(
                v.version,
                source_of(v),
                escape(v.description) or "-",
                _aliases_of(aliases, v.name, v.version),
                f"{v.created_at:%Y-%m-%d %H:%M}",
            )
        console.print(table)
        return
    if as_json:
        print_json(
            [
                {
                    **f.to_dict(),
                    "published_versions": published[f.name],
                    "aliases": [a.to_dict() for a in aliases if a.function == f.name],
                }
                for f in functions
            ]
        )
        return
    if not functions:
        console.print("no functions deployed: declare them in lambeam.toml, then `lambeam apply`")
        return
    table = Table("function", "kind", "source", "published", "aliases", "updated")
    for f in functions:
        table.add_row(
            f.name,
            f.kind,
            source_of(f),
            str(published[f.name]),
            _aliases_of(aliases, f.name),
            f"{f.updated_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@functions_app.command("show")
def show(
    ctx: typer.Context,
    name: Name,
    qualifier: Annotated[
        str | None, typer.Option("--qualifier", "-q", help="A version number or an alias.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one version of a function ($LATEST by default): its source and configuration."""
    from lambeam.functions import get_function, list_aliases
    from lambeam.registry import get_model_version, parse_model_ref

    with open_project(ctx) as project:
        info = get_function(project.db, name, qualifier)
        aliases = list_aliases(project.db, name)
        serves = None
        # A model named by alias (or by name alone: its newest) is resolved at each call.
        if info.model is not None and parse_model_ref(info.model).number is None:
            try:
                serves = get_model_version(project.db, project.store, info.model).ref
            except NotFoundError as exc:
                serves = f"nothing: {exc}"
    if as_json:
        print_json({**info.to_dict(), "serves": serves, "aliases": [a.to_dict() for a in aliases]})
        return
    config = info.config
    batching = config.batching
    rows = [
        ("function", f"{info.name}:{info.version}"),
        ("kind", info.kind),
        ("model" if info.kind == "model" else "code sha256", info.model or info.code_sha256),
        *([("serves now", serves)] if serves is not None else []),
        ("handler", config.handler),
        ("description", info.description or None),
        ("memory", f"{config.memory_mb} MB"),
        ("timeout", f"{config.timeout_s} s"),
        ("reserved concurrency", config.reserved_concurrency),
        ("warm minimum", config.warm_minimum),
        (
            "batching",
            f"up to {batching.max_batch_size}, wait {batching.max_wait_ms} ms"
            if batching.enabled
            else "off",
        ),
        ("environment", ", ".join(sorted(config.environment)) or None),
        ("revision", info.revision_id),
        ("aliases", _aliases_of(aliases, info.name, info.version)),
        ("updated", f"{info.updated_at:%Y-%m-%d %H:%M:%S}"),
    ]
    table = Table("field", "value", show_header=False)
    for field, value in rows:
        table.add_row(field, escape(cell(value)))
    console.print(table)


@functions_app.command("publish")
def publish(
    ctx: typer.Context,
    name: Name,
    description: Annotated[
        str, typer.Option("--description", "-d", help="What this version is.")
    ] = "",
    as_json: JsonFlag = False,
) -> None:
    """Publish $LATEST as an immutable version (the last one again if nothing changed).

    A model function's version pins the model version its alias resolves to now.
    """
    from lambeam.functions import list_versions, publish_version

    with open_project(ctx) as project:
        before = {v.version for v in list_versions(project.db, name)}
        info = publish_version(project.db, project.store, name, description=description)
    new = info.version not in before
    if as_json:
        print_json({**info.to_dict(), "published": new})
        return
    if new:
        console.print(f"published {info.name}:{info.version}  {source_of(info)}", markup=False)
        return
    kept = f" (its description stays {info.description!r})" if description else ""
    console.print(
        f"{info.name}:{info.version} already has $LATEST's code and configuration: nothing new"
        f" published{kept}",
        markup=False,
    )


@functions_app.command("rm")
def rm(
    ctx: typer.Context,
    name: Name,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Delete only this published version (not one an alias uses)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a function with all its versions and aliases, or one published version.

    Its logs and unpacked code go with it (code another function shares stays). A function
    still declared in lambeam.toml comes back with the next `lambeam apply`.
    """
    from lambeam.functions import delete_function

    with open_project(ctx) as project:
        delete_function(project.db, name, version, state_dir=project.settings.state_dir)
    if as_json:
        print_json({"function": name, "version": version, "deleted": True})
        return
    console.print(f"deleted {name}" + (f":{version}" if version else ""), markup=False)


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    name: Name,
    alias: Annotated[str, typer.Argument(help="The alias, e.g. prod.")],
    version: Annotated[str, typer.Argument(help="A published version number, or $LATEST.")],
    weight: Annotated[
        str | None,
        typer.Option(
            "--weight",
            help="Send a share of traffic to a second version: VERSION=WEIGHT, e.g. 3=0.1.",
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What the alias is for.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create ALIAS of function NAME, or move it, to VERSION (with --weight, to two versions).

    The alias becomes what is given: moving it without --weight ends any weighted routing.
    """
    from lambeam.functions import create_alias, get_alias, update_alias

    routing = _routing(weight)
    with open_project(ctx) as project:
        try:
            get_alias(project.db, name, alias)
        except NotFoundError:
            info = create_alias(project.db, name, alias, version, routing, description or "")
            action = "created"
        else:
            info = update_alias(project.db, name, alias, version, routing or {}, description)
            action = "moved"
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"{action} {info.function}:{info.name} → {_targets(info)}", markup=False)


@alias_app.command("rm")
def alias_rm(
    ctx: typer.Context,
    name: Name,
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove ALIAS of function NAME (its versions stay)."""
    from lambeam.functions import delete_alias

    with open_project(ctx) as project:
        delete_alias(project.db, name, alias)
    if as_json:
        print_json({"function": name, "alias": alias, "removed": True})
        return
    console.print(f"removed {name}:{alias}", markup=False)


def _routing(weight: str | None) -> dict[str, object] | None:
    """`--weight VERSION=WEIGHT` as an alias's routing."""
    if weight is None:
        return None
    version, sep, share = weight.partition("=")
    try:
        value = float(share) if sep else None
    except ValueError:
        value = None
    if value is None or not version.strip():
        raise ConfigError(
            f"--weight must be VERSION=WEIGHT (a published version and a share from 0.0 to"
            f" 1.0, e.g. 3=0.1), not {weight!r}"
        )
    return {"additional_version": version.strip(), "weight": value}


def source_of(info: FunctionInfo) -> str:
    """What a function version runs, in a listing: its model reference or its code's digest."""
    return info.model or (info.code_sha256 or "")[:12] or "-"


def _aliases_of(aliases: list[AliasInfo], function: str, version: str | None = None) -> str:
    """The aliases of `function` (those routing to `version`, when given), as `name→target`."""
    shown = [
        f"{a.name}→{_targets(a)}"
        for a in aliases
        if a.function == function and (version is None or version in a.versions)
    ]
    return ", ".join(shown) or "-"


def _targets(alias: AliasInfo) -> str:
    if not alias.routing:
        return alias.version
    weight = float(alias.routing["weight"])
    return (
        f"{alias.version} ({1 - weight:.0%}), {alias.routing['additional_version']} ({weight:.0%})"
    )

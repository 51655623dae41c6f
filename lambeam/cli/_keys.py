"""`lambeam keys create | ls | rm | policy`: access keys and the policies attached to them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lambeam.cli._console import Column, console, err_console, listing, print_json
from lambeam.cli._context import open_project
from lambeam.errors import ConfigError

if TYPE_CHECKING:
    from lambeam.security import AccessKey, Policy

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Access keys (for boto3 and the REST API) and the IAM-like policies that limit them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
PolicyOption = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="A policy document: JSON text, a file holding it, or - for stdin.",
    ),
]


def _document(value: str) -> str:
    """The policy text `value` stands for: itself when it is JSON, else a file (- is stdin)."""
    if value.lstrip().startswith("{"):
        return value
    if value == "-":
        return sys.stdin.read()
    path = Path(value)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the policy file {value!r}: {exc.strerror or exc}; give a file or the"
            " policy's JSON itself"
        ) from None


def _key_json(key: AccessKey, policy: Policy | None) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "enabled": key.enabled,
        "created_at": key.created_at.isoformat(),
        "disabled_at": key.disabled_at.isoformat() if key.disabled_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "policy": dict(policy.document) if policy is not None else None,
    }


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what will use the key.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="What the key may do without a policy: admin (all) or invoker."
        ),
    ] = "admin",
    policy: PolicyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a key; its secret is printed this once (store it now)."""
    from lambeam.security import create_access_key, parse_policy, put_key_policy

    text = _document(policy) if policy is not None else None
    if text is not None:
        parse_policy(text)  # refuse a bad document before the key exists
    with open_project(ctx) as project:
        key = create_access_key(project.db, name, role)
        attached = put_key_policy(project.db, key.id, text) if text is not None else None
    if as_json:
        print_json({**_key_json(key, attached), "secret": key.secret})
        return
    console.print(f"created access key {key.id} ({escape(key.name)}), role {key.role}")
    console.print(f"aws_access_key_id = {key.id}", highlight=False)
    console.print(f"aws_secret_access_key = {key.secret}", highlight=False)
    err_console.print("the secret is shown this once: store it now", highlight=False)
    if attached is not None:
        console.print("its policy is attached (lambeam keys policy " + key.id + ")")


@keys_app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the keys (never their secrets), disabled ones too."""
    from lambeam.security import get_key_policy, list_access_keys

    with open_project(ctx) as project:
        keys = list_access_keys(project.db)
        policies = {key.id: get_key_policy(project.db, key.id) for key in keys}
    if as_json:
        print_json([_key_json(key, policies[key.id]) for key in keys])
        return
    if not keys:
        console.print("no access keys (lambeam keys create NAME)")
        return
    columns = [
        Column("id", key=True),
        Column("name"),
        Column("role", drop=3),
        Column("policy"),
        Column("state"),
        Column("created (UTC)", drop=2),
        Column("last used (UTC)", drop=1),
    ]
    rows = [
        [
            key.id,
            key.name,
            key.role,
            "own" if policies[key.id] is not None else f"role {key.role}",
            "enabled" if key.enabled else "disabled",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
        ]
        for key in keys
    ]
    console.print(listing(columns, rows))


@keys_app.command("rm")
def rm(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (LBAK…).")]
) -> None:
    """Disable a key: it is refused from now on (within a second on a running server) and
    kept for the record; a key id is never reused."""
    from lambeam.security import disable_access_key

    with open_project(ctx) as project:
        key = disable_access_key(project.db, key_id)
    console.print(f"disabled access key {key.id} ({escape(key.name)})", highlight=False)


@keys_app.command("policy")
def policy(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (LBAK…).")],
    set_to: Annotated[
        str | None,
        typer.Option("--set", help="Attach this policy: JSON text, a file, or - for stdin."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Detach the key's policy: it acts by its role again.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a key's policy, or attach (--set) or detach (--clear) one; changes are audited."""
    from lambeam.security import (
        delete_key_policy,
        effective_policy,
        get_key_policy,
        list_access_keys,
        put_key_policy,
    )

    if set_to is not None and clear:
        raise ConfigError("give --set or --clear, not both")
    text = _document(set_to) if set_to is not None else None
    with open_project(ctx) as project:
        if text is not None:
            put_key_policy(project.db, key_id, text)
        elif clear and not delete_key_policy(project.db, key_id):
            err_console.print(f"{key_id} had no policy of its own", highlight=False)
        own = get_key_policy(project.db, key_id)
        key = next(k for k in list_access_keys(project.db) if k.id == key_id)
        acting = effective_policy(project.db, key)
    if as_json:
        print_json(
            {
                "key_id": key_id,
                "policy": dict(own.document) if own else None,
                "acts_by": acting.source,
                "effective": dict(acting.document),
            }
        )
        return
    if own is None:
        console.print(f"{key_id} has no policy of its own; it acts by its {acting.source}:")
    console.print_json(json.dumps(dict(acting.document)))

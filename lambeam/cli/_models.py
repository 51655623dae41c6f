"""`lambeam models ls | show | alias set | alias rm | compare`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from lambeam.cli._console import Column, cell, console, listing, print_json
from lambeam.cli._context import open_project
from lambeam.cli._training import metrics_table
from lambeam.progress import Timings

__all__ = ["models_app"]

models_app = typer.Typer(
    help="The model registry: versions, aliases, comparisons.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
alias_app = typer.Typer(
    help="Move or remove a model's aliases (every move is audited).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
models_app.add_typer(alias_app, name="alias")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@models_app.command("ls")
def ls(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="List this model's versions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List models, or one model's versions."""
    from lambeam.registry import list_model_versions, list_models

    with open_project(ctx) as project:
        if model is None:
            models = list_models(project.db)
            if as_json:
                print_json([m.to_dict() for m in models])
                return
            columns = [
                Column("model", key=True),
                Column("versions"),
                Column("latest", drop=1),
                Column("aliases"),
                Column("updated", drop=2),
            ]
            rows = [
                [
                    m.name,
                    str(m.versions),
                    str(m.latest),
                    ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items())),
                    f"{m.updated_at:%Y-%m-%d %H:%M}",
                ]
                for m in models
            ]
            console.print(listing(columns, rows))
            return
        versions = list_model_versions(project.db, project.store, model)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    # Dropped first, at 80 columns: who made each version, when, and its task (one model's
    # versions mostly share one); a reference, an estimator or an alias is never shortened.
    columns = [
        Column("version", key=True),
        Column("task", drop=2),
        Column("estimator", key=True),
        Column("dataset", key=True),
        Column("onnx", drop=1),
        Column("aliases"),
        Column("created", drop=3),
        Column("by", drop=4),
    ]
    rows = [
        [
            v.ref,
            v.task,
            v.estimator.rsplit(".", 1)[-1],
            str(v.lineage.get("dataset", {}).get("ref", "-")),
            v.onnx_status,
            ", ".join(v.aliases),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.created_by,
        ]
        for v in versions
    ]
    console.print(listing(columns, rows))


@models_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL (newest), MODEL:N or MODEL@ALIAS.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a model version: lineage, params, metrics, signature, ONNX check."""
    from lambeam.registry import get_model_version

    with open_project(ctx) as project:
        version = get_model_version(project.db, project.store, ref)
    if as_json:
        print_json(version.to_dict())
        return
    console.print(f"[bold]{escape(version.ref)}[/] {version.task} · {escape(version.estimator)}")
    console.print(f"  aliases: {', '.join(version.aliases) or '-'}", markup=False)
    console.print(f"  dataset: {version.lineage.get('dataset', {}).get('ref', '-')}", markup=False)
    console.print(
        f"  created: {version.created_at:%Y-%m-%d %H:%M:%S} by {version.created_by}; "
        f"trained in {version.duration_s:.1f}s{_training_parts(version.lineage)}",
        markup=False,
    )
    console.print(f"  onnx: {version.onnx_summary} {version.onnx_check or ''}", markup=False)
    console.print(f"  params: {version.params}", markup=False)
    inputs = ", ".join(f"{i.name}:{i.type}" for i in version.signature.inputs)
    console.print(f"  inputs: {inputs}", markup=False)
    console.print(metrics_table({version.ref: version.metrics}))
    matrix = version.metrics.get("confusion_matrix")
    if matrix:
        columns = [Column("actual \\ predicted", key=True)]
        columns += [Column(label, key=True) for label in matrix["labels"]]
        rows = [
            [label, *map(str, row)]
            for label, row in zip(matrix["labels"], matrix["matrix"], strict=True)
        ]
        console.print(listing(columns, rows))


@models_app.command("compare")
def compare(
    ctx: typer.Context,
    refs: Annotated[
        list[str], typer.Argument(help="Two or more MODEL:N / MODEL@ALIAS (different versions).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Compare model versions side by side: metrics, params, data, ONNX."""
    from lambeam.registry import compare_model_versions

    with open_project(ctx) as project:
        comparison = compare_model_versions(project.db, project.store, refs)
    if as_json:
        print_json(comparison)
        return
    versions = comparison["versions"]
    refs = [v["ref"] for v in versions]
    # One row per version, as `models ls` lists them: any number of versions fits the width.
    facts = [
        Column("version", key=True),
        Column("task", drop=1),
        Column("estimator", key=True),
        Column("dataset", key=True),
        Column("onnx", drop=2),
        Column("aliases"),
    ]
    rows = [
        [
            v["ref"],
            v["task"],
            v["estimator"].rsplit(".", 1)[-1],
            cell(v.get("dataset")),
            cell(v.get("onnx_status")),
            ", ".join(v["aliases"]) or "-",
        ]
        for v in versions
    ]
    console.print(listing(facts, rows))
    console.print(metrics_table({v["ref"]: v.get("metrics", {}) for v in versions}))
    # Only the params that differ: an estimator has dozens, most of them its defaults.
    differing = {
        name: values
        for name, values in comparison["params"].items()
        if len({repr(values[ref]) for ref in refs}) > 1
    }
    if differing:
        params = [
            [name, *(_param(values[ref]) for ref in refs)] for name, values in differing.items()
        ]
        by_version = [Column(ref, key=True) for ref in refs]
        console.print(listing([Column("param", key=True), *by_version], params))
    same = len(comparison["params"]) - len(differing)
    if same:
        console.print(f"{same} params are the same in every version (--json lists them)")
    if comparison.get("unranked"):
        console.print(f"unranked: {comparison['unranked']}", markup=False)
    tied = comparison.get("tied", {})
    for metric, ref in sorted(comparison.get("best", {}).items()):
        if metric in tied:
            console.print(f"best {metric}: {', '.join(tied[metric])} (tied)", markup=False)
        else:
            console.print(f"best {metric}: {ref}", markup=False)


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. prod.")],
    version: Annotated[int, typer.Argument(help="Version number it should point at.")],
    as_json: JsonFlag = False,
) -> None:
    """Point ALIAS of MODEL at VERSION."""
    from lambeam.registry import set_alias

    with open_project(ctx) as project:
        set_alias(project.db, model, alias, version)
    if as_json:
        print_json({"model": model, "alias": alias, "version": version})
    else:
        console.print(f"{model}@{alias} → {model}:{version}", markup=False)


@alias_app.command("rm")
def alias_rm(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove ALIAS from MODEL."""
    from lambeam.registry import remove_alias

    with open_project(ctx) as project:
        remove_alias(project.db, model, alias)
    if as_json:
        print_json({"model": model, "alias": alias, "removed": True})
    else:
        console.print(f"removed {model}@{alias}", markup=False)


def _param(value: object) -> str:
    """A param as given, to its last digit: `cell`'s rounding would show 1e-05 and 1e-06 alike."""
    return "-" if value is None else repr(value) if isinstance(value, float) else str(value)


def _training_parts(lineage: dict) -> str:
    """What a version's duration_s covers, from its lineage (older versions did not record it)."""
    parts = lineage.get("timings_s")
    if not parts:
        return ""
    timings = Timings()
    for name, seconds in parts.items():
        timings.add(name, seconds)
    return f" ({timings.describe()}; registering not included)"

"""A pipeline's declaration in lambeam.toml, parsed and validated into a `PipelineSpec`.

    [pipelines.penguins]
    source = "data/penguins.csv"            # or {path=…, format="csv", schema={col="number"}}
    # schema: col = "number" | "string" | { type = "number", errors = "coerce" } (text -> null)
    steps = [{filter = "year >= 2008"}, {derive = {ratio = "bill_length_mm / bill_depth_mm"}}]
    label = "species"
    split = {test = 0.2, key = "id"}
    columns = {bill_length_mm = ["impute:median", "standardize"], island = [{onehot = {top_k = 5}}]}
    drop = ["year"]

Column operations, in order: value operations first ("impute:mean|median|most_frequent" or
{impute={constant=…}} (first), "log" (log1p: values must be > -1), {clip=[lo, hi]}), then at most one
encoder ("standardize", "minmax", {buckets=N} (quantile buckets), {onehot={top_k, min_frequency,
oov}}, {tfidf={max_features, ngram, min_df}}). Columns not named pass through when numeric and get
a default onehot (top 20, unknown values all zeros) when text; the label and the split key are never features.

Every problem is a ConfigError whose one-line message names its place in lambeam.toml.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambeam.data.operations import ENCODERS, OPERATIONS, Operation, parse_operation
from lambeam.errors import ConfigError

__all__ = [
    "ENCODERS",
    "FORMATS",
    "OPERATIONS",
    "Operation",
    "PipelineSpec",
    "SourceSpec",
    "SplitSpec",
    "Step",
    "parse_pipeline_spec",
]

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TYPES = ("number", "string")
_KEYS = {"source", "steps", "label", "split", "columns", "drop", "description"}


@dataclass(frozen=True)
class SourceSpec:
    """Where the raw rows come from: a path or glob, its format, and type overrides."""

    path: str
    format: str | None = None
    schema: Mapping[str, str] = field(default_factory=dict)
    # Columns declared { type = "number", errors = "coerce" }: text in them becomes null, counted.
    coerce: frozenset[str] = frozenset()

    def format_of(self, path: str) -> str:
        """The declared format, else the one `path`'s extension names."""
        if self.format:
            return self.format
        name = path.lower().removesuffix(".gz")
        for ext, fmt in _EXTENSIONS.items():
            if name.endswith(ext):
                return fmt
        return "csv"


@dataclass(frozen=True)
class Step:
    """One preparation step: `filter` (an expression), `derive` (new columns) or `function`."""

    kind: str
    index: int
    expression: str = ""
    derive: Mapping[str, str] = field(default_factory=dict)
    function: str = ""

    @property
    def place(self) -> str:
        return f"steps[{self.index}] ({self.kind})"


@dataclass(frozen=True)
class SplitSpec:
    """Deterministic train/test split: a row is "test" when hash(key or row) / 2**64 < test."""

    test: float = 0.2
    key: str | None = None


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline declaration."""

    name: str
    source: SourceSpec
    steps: tuple[Step, ...] = ()
    label: str | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    columns: Mapping[str, tuple[Operation, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    @property
    def place(self) -> str:
        return f"lambeam.toml [pipelines.{self.name}]"

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: what is stored with a dataset version and hashed."""
        return {
            "source": {
                "path": self.source.path,
                "format": self.source.format,
                "schema": {
                    col: {"type": typ, "errors": "coerce"} if col in self.source.coerce else typ
                    for col, typ in sorted(self.source.schema.items())
                },
            },
            "steps": [
                {"filter": s.expression}
                if s.kind == "filter"
                else {"derive": dict(s.derive)}
                if s.kind == "derive"
                else {"function": s.function}
                for s in self.steps
            ],
            "label": self.label,
            "split": {"test": self.split.test, "key": self.split.key},
            "columns": {
                c: [{o.name: dict(o.params)} for o in ops] for c, ops in self.columns.items()
            },
            "drop": list(self.drop),
        }

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of `to_dict()`."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def transform_steps(self) -> tuple[Step, ...]:
        """The steps a served model re-applies: derive and function (filters are pipeline-only)."""
        return tuple(s for s in self.steps if s.kind != "filter")


def parse_pipeline_spec(name: str, raw: Mapping[str, Any]) -> PipelineSpec:
    """Validate `[pipelines.NAME]` (the raw table from Settings.pipelines) into a PipelineSpec."""
    place = f"lambeam.toml [pipelines.{name}]"

    def fail(where: str, problem: str) -> ConfigError:
        return ConfigError(f"{place} {where}: {problem}" if where else f"{place}: {problem}")

    if not isinstance(raw, Mapping):
        raise fail("", "must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; expected one of {', '.join(sorted(_KEYS))}")
    if "source" not in raw:
        raise fail("", "has no `source` (a path or glob of csv, jsonl or parquet files)")
    source = _source(raw["source"], fail)
    steps = _steps(raw.get("steps", []), fail)
    label = raw.get("label")
    if label is not None and (not isinstance(label, str) or not label):
        raise fail("label", "must be a column name")
    split = _split(raw.get("split", {}), fail)
    columns = _columns(raw.get("columns", {}), fail)
    drop = raw.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
        raise fail("drop", "must be a list of column names")
    for col in (label, split.key):
        if col is not None and col in columns:
            raise fail(f"columns.{col}", "is the label or split key, which is never a feature")
    return PipelineSpec(name, source, steps, label, split, columns, tuple(drop))


def _source(value: Any, fail: Any) -> SourceSpec:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, Mapping):
        raise fail("source", "must be a path string or a table {path=…, format=…, schema=…}")
    bad = sorted(set(value) - {"path", "format", "schema"})
    if bad:
        raise fail(f"source.{bad[0]}", "unknown key; expected path, format or schema")
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise fail("source.path", "must be a non-empty path or glob")
    fmt = value.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise fail("source.format", f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    schema = value.get("schema", {})
    if not isinstance(schema, Mapping):
        raise fail("source.schema", 'must be a table {column = "number"|"string"}')
    types: dict[str, str] = {}
    coerce = set()
    for col, declared in schema.items():
        where = f"source.schema.{col}"
        typ, errors = (declared, "raise") if isinstance(declared, str) else (None, None)
        if isinstance(declared, Mapping):
            bad = sorted(set(declared) - {"type", "errors"})
            if bad:
                raise fail(f"{where}.{bad[0]}", "unknown key; expected type or errors")
            typ, errors = declared.get("type"), declared.get("errors", "raise")
        if typ not in _TYPES:
            raise fail(
                where,
                f'unknown type {typ!r}; expected "number", "string" or '
                '{ type = "number", errors = "coerce" }',
            )
        if errors not in ("raise", "coerce") or (errors == "coerce" and typ != "number"):
            raise fail(
                f"{where}.errors",
                f'{errors!r}: expected "raise" (text in the column is an error) or, with '
                'type = "number", "coerce" (text becomes null, counted)',
            )
        types[str(col)] = str(typ)
        if errors == "coerce":
            coerce.add(str(col))
    return SourceSpec(path, fmt, types, frozenset(coerce))


def _steps(value: Any, fail: Any) -> tuple[Step, ...]:
    if not isinstance(value, list):
        raise fail("steps", "must be a list of tables ({filter=…}, {derive={…}}, {function=…})")
    steps = []
    for i, item in enumerate(value):
        where = f"steps[{i}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            raise fail(where, "must be a table with one key: filter, derive or function")
        ((kind, arg),) = item.items()
        if kind == "filter":
            if not isinstance(arg, str) or not arg.strip():
                raise fail(where, "filter must be a pandas expression string")
            if not _may_be_condition(arg):
                raise fail(
                    where,
                    f"filter {arg!r} is not a condition: a filter keeps the rows "
                    'where it is true/false, e.g. "Age > 30"',
                )
            steps.append(Step("filter", i, expression=arg))
        elif kind == "derive":
            if (
                not isinstance(arg, Mapping)
                or not arg
                or not all(isinstance(v, str) for v in arg.values())
            ):
                raise fail(where, 'derive must be a table {new_column = "expression"}')
            steps.append(Step("derive", i, derive=dict(arg)))
        elif kind == "function":
            if not isinstance(arg, str) or ":" not in arg:
                raise fail(where, 'function must be "module:function"')
            steps.append(Step("function", i, function=arg))
        else:
            raise fail(where, f"unknown step {kind!r}; expected filter, derive or function")
    return tuple(steps)


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)


def _may_be_condition(expression: str) -> bool:
    """False only when `expression` is plainly not true/false: arithmetic, a number or a string
    at its top. pandas syntax Python does not parse (backticks) gets the benefit of the doubt;
    the first batch checks what it really gives."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return True
    if isinstance(node, ast.BinOp):
        return not isinstance(node.op, _ARITHMETIC)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not | ast.Invert)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    return not isinstance(node, ast.JoinedStr | ast.List | ast.Tuple | ast.Dict | ast.Set)


def _split(value: Any, fail: Any) -> SplitSpec:
    if not isinstance(value, Mapping):
        raise fail("split", 'must be a table {test = 0.2, key = "column"}')
    bad = sorted(set(value) - {"test", "key"})
    if bad:
        raise fail(f"split.{bad[0]}", "unknown key; expected test or key")
    test = value.get("test", 0.2)
    if isinstance(test, bool) or not isinstance(test, int | float) or not 0 <= test < 1:
        raise fail("split.test", f"must be a fraction in [0, 1), not {test!r}")
    key = value.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise fail("split.key", "must be a column name")
    return SplitSpec(float(test), key)


def _columns(value: Any, fail: Any) -> dict[str, tuple[Operation, ...]]:
    if not isinstance(value, Mapping):
        raise fail("columns", "must be a table {column = [operations…]}")
    columns: dict[str, tuple[Operation, ...]] = {}
    for col, ops in value.items():
        where = f"columns.{col}"
        if isinstance(ops, str | Mapping):
            ops = [ops]
        if not isinstance(ops, list):
            raise fail(where, "must be a list of operations")
        parsed = tuple(parse_operation(op, functools.partial(fail, where)) for op in ops)
        names = [o.name for o in parsed]
        encoders = [n for n in names if n in ENCODERS]
        if len(encoders) > 1 or (encoders and names[-1] not in ENCODERS):
            raise fail(
                where, "at most one encoder (" + ", ".join(ENCODERS) + ") and it must come last"
            )
        if "impute" in names and names.index("impute") != 0:
            raise fail(where, "impute must be the first operation")
        if names.count("impute") > 1:
            raise fail(where, "impute given twice")
        columns[str(col)] = parsed
    return columns

"""Full-pass statistics, as mergeable partials: one per batch (vectorised), merged by a CombineFn.

Pass 1 (`profile_batch`) profiles every column and gathers what imputation needs; `plan_columns`
then decides each feature column's operations and imputation value. Pass 2 (`encoder_batch`)
gathers, on values after imputation/log/clip, what each encoder needs.

Determinism: counts are integers and sketches integer-bucketed, so they merge in any order; float
sums are kept as per-batch partials and combined in sorted order with math.fsum, so two runs on
the same inputs give bit-identical statistics however Beam groups the batches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lambeam.data.frames import column_type
from lambeam.data.sketch import QuantileSketch
from lambeam.data.spec import ENCODERS, ONEHOT_DEFAULTS, OP_TYPES, Op, PipelineSpec
from lambeam.data.terms import term_counts, tfidf_vocabulary
from lambeam.errors import ColumnError, DataError

__all__ = [
    "PROFILE_QUANTILES",
    "ColumnPlan",
    "Moments",
    "Partial",
    "encoder_batch",
    "finish_encoders",
    "finish_profile",
    "plan_columns",
    "profile_batch",
    "value_ops",
]

PROFILE_QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
_TOP = 10
_MIXED = (
    "column {name!r} holds numbers in some rows or files and text in others (a file where it "
    'is empty reads as numbers); declare its type, e.g. source.schema = {{ {name} = "string" }}'
)


@dataclass
class Moments:
    """Per-batch (n, sum, sum of squared deviations from the batch mean), combined exactly once."""

    parts: list[tuple[int, float, float]] = field(default_factory=list)

    def add(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        if len(values):
            mean = float(values.mean())
            self.parts.append(
                (len(values), float(values.sum()), float(((values - mean) ** 2).sum()))
            )

    def merge(self, other: Moments) -> None:
        self.parts.extend(other.parts)

    def result(self) -> tuple[int, float, float]:
        """(count, mean, population variance), independent of the order of the parts."""
        parts = sorted(self.parts)
        n = sum(p[0] for p in parts)
        if n == 0:
            return 0, math.nan, math.nan
        mean = math.fsum(p[1] for p in parts) / n
        m2 = math.fsum(p[2] + p[0] * (p[1] / p[0] - mean) ** 2 for p in parts)
        return n, mean, m2 / n


@dataclass
class ColumnPartial:
    """What one column's batches have shown so far."""

    type: str
    count: int = 0
    missing: int = 0
    moments: Moments | None = None
    sketch: QuantileSketch | None = None
    counts: dict[Any, int] | None = None
    minimum: float = math.inf
    maximum: float = -math.inf
    terms: dict[str, list[int]] | None = None
    documents: int = 0

    def merge(self, other: ColumnPartial, name: str) -> None:
        if other.type != self.type:
            raise ColumnError(_MIXED.format(name=name))
        self.count += other.count
        self.missing += other.missing
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.documents += other.documents
        if other.moments is not None:
            self.moments = self.moments or Moments()
            self.moments.merge(other.moments)
        if other.sketch is not None:
            self.sketch = self.sketch or QuantileSketch()
            self.sketch.merge(other.sketch)
        if other.counts is not None:
            self.counts = self.counts if self.counts is not None else {}
            for key, n in other.counts.items():
                self.counts[key] = self.counts.get(key, 0) + n
        if other.terms is not None:
            self.terms = self.terms if self.terms is not None else {}
            for term, (tf, df) in other.terms.items():
                mine = self.terms.setdefault(term, [0, 0])
                mine[0] += tf
                mine[1] += df


@dataclass
class Partial:
    """A mergeable partial of either pass: rows seen, raw column types, and per-column partials."""

    rows: int = 0
    raw_types: dict[str, str] = field(default_factory=dict)
    columns: dict[str, ColumnPartial] = field(default_factory=dict)
    # The column orders batches showed (a set, so merging in any order gives the same result).
    orders: set[tuple[str, ...]] = field(default_factory=set)
    raw_orders: set[tuple[str, ...]] = field(default_factory=set)
    # Per column declared errors = "coerce": how many values were not numbers (made null).
    coerced: dict[str, int] = field(default_factory=dict)

    def column_names(self) -> list[str]:
        """Columns in a canonical order: the fullest order a batch showed, then any others sorted."""
        return _canonical(self.orders, self.columns)

    def raw_names(self) -> list[str]:
        return _canonical(self.raw_orders, self.raw_types)

    def merge(self, other: Partial) -> Partial:
        self.rows += other.rows
        self.orders |= other.orders
        self.raw_orders |= other.raw_orders
        for name, count in other.coerced.items():
            self.coerced[name] = self.coerced.get(name, 0) + count
        for name, typ in other.raw_types.items():
            if self.raw_types.setdefault(name, typ) != typ:
                raise ColumnError(_MIXED.format(name=name))
        for name, part in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(part, name)
            else:
                self.columns[name] = part
        return self


def _canonical(orders: set[tuple[str, ...]], names: Mapping[str, Any]) -> list[str]:
    first = min(orders, key=lambda order: (-len(order), order)) if orders else ()
    return [*first, *sorted(set(names) - set(first))]


def _counts(values: np.ndarray) -> dict[Any, int]:
    series = pd.Series(values, copy=False).dropna()
    counts = series.value_counts(sort=False)
    return dict(zip(counts.index.tolist(), counts.tolist(), strict=True))


def profile_batch(
    frame: pd.DataFrame,
    raw_types: dict[str, str],
    spec: PipelineSpec,
    coerced: Mapping[str, int] | None = None,
) -> Partial:
    """Pass 1 on one prepared batch: profile every column (and what imputation will need), and
    count the values coerced to null as it was read."""
    text_columns = {c for c, ops in spec.columns.items() if any(o.name == "tfidf" for o in ops)}
    most_frequent = {
        c
        for c, ops in spec.columns.items()
        if any(o.name == "impute" and o.params["strategy"] == "most_frequent" for o in ops)
    }
    partial = Partial(
        rows=len(frame),
        raw_types=dict(raw_types),
        raw_orders={tuple(raw_types)},
        coerced=dict(coerced or {}),
    )
    partial.orders.add(tuple(str(c) for c in frame.columns if not str(c).startswith("__lambeam")))
    for name in frame.columns:
        if str(name).startswith("__lambeam"):
            continue
        values = frame[name].to_numpy()
        typ = column_type(frame[name])
        missing = int(pd.isna(values).sum())
        part = ColumnPartial(typ, count=len(values) - missing, missing=missing)
        if typ == "number":
            part.moments = Moments()
            part.moments.add(values)
            part.sketch = QuantileSketch().add(values)
            if part.count:
                part.minimum, part.maximum = float(np.nanmin(values)), float(np.nanmax(values))
            if name in most_frequent:
                part.counts = _counts(values)
        elif name not in text_columns:
            part.counts = _counts(values)
        partial.columns[name] = part
    return partial


def finish_profile(partial: Partial) -> dict[str, Any]:
    """The column profile shown to users and stored in the manifest."""
    profile: dict[str, Any] = {}
    for name in partial.column_names():
        part = partial.columns[name]
        entry: dict[str, Any] = {"type": part.type, "count": part.count, "missing": part.missing}
        if part.type == "number":
            _, mean, var = part.moments.result() if part.moments else (0, math.nan, math.nan)
            entry.update(
                mean=_num(mean),
                std=_num(math.sqrt(var) if not math.isnan(var) else var),
                min=_num(part.minimum),
                max=_num(part.maximum),
            )
            sketch = part.sketch or QuantileSketch()
            for key, q in zip(
                PROFILE_QUANTILES, sketch.quantiles(list(PROFILE_QUANTILES.values())), strict=True
            ):
                entry[key] = _num(q)
        if part.counts is not None:
            entry["distinct"] = len(part.counts)
            entry["top"] = [[v, n] for v, n in _ranked(part.counts)[:_TOP]]
        if name in partial.coerced:
            entry["coerced"] = partial.coerced[name]
        profile[name] = entry
    return profile


@dataclass(frozen=True)
class ColumnPlan:
    """A feature column's type, its operations (explicit or default), and its imputation value."""

    name: str
    type: str
    ops: tuple[Op, ...]
    impute: Any = None

    @property
    def encoder(self) -> Op | None:
        return self.ops[-1] if self.ops and self.ops[-1].name in ENCODERS else None


def plan_columns(spec: PipelineSpec, partial: Partial) -> list[ColumnPlan]:
    """Each feature column's operations, checked against the column types the data showed."""
    columns = partial.columns
    place = spec.place
    known = ", ".join(sorted(map(str, columns)))
    for col in list(spec.columns) + list(spec.drop):
        if col not in columns:
            where = f"columns.{col}" if col in spec.columns else "drop"
            raise ColumnError(f"{place} {where}: unknown column {col!r}; columns are {known}")
    if spec.label is not None:
        if spec.label not in columns:
            raise ColumnError(f"{place} label: unknown column {spec.label!r}; columns are {known}")
        missing = columns[spec.label].missing
        if missing:
            raise DataError(
                f"{place} label: {missing} row(s) have no {spec.label!r} value; drop them with a "
                f'step such as {{filter = "{spec.label}.notna()"}}'
            )
    excluded = {spec.label, spec.split.key, *spec.drop}
    plans = []
    for name in partial.column_names():
        part = columns[name]
        if name in excluded:
            continue
        ops = spec.columns.get(name)
        if ops is None:
            ops = () if part.type == "number" else (Op("onehot", dict(ONEHOT_DEFAULTS)),)
        impute = None
        for op in ops:
            need = OP_TYPES[op.name]
            strategy = op.params.get("strategy")
            if op.name == "impute" and strategy in ("mean", "median"):
                need = "number"
            if op.name == "impute" and strategy == "constant":
                need = "number" if isinstance(op.params["fill_value"], int | float) else "string"
            if need is not None and need != part.type:
                raise ColumnError(
                    f"{place} columns.{name}: {op.describe()} needs a {need} column, but "
                    f"{name!r} holds {'numbers' if part.type == 'number' else 'text'}"
                )
            if op.name == "impute":
                impute = _impute_value(op, part)
                if impute is None:
                    raise ColumnError(
                        f"{place} columns.{name}: {op.describe()} has nothing to compute from: "
                        f"{name!r} has no values; use a constant or drop the column"
                    )
        plans.append(ColumnPlan(name, part.type, tuple(ops), impute))
    return plans


def _impute_value(op: Op, part: ColumnPartial) -> Any:
    strategy = op.params["strategy"]
    if strategy == "constant":
        value = op.params["fill_value"]
        return float(value) if part.type == "number" else value
    if strategy == "mean":
        return _num(part.moments.result()[1]) if part.moments else None
    if strategy == "median":
        return _num(part.sketch.quantile(0.5)) if part.sketch else None
    ranked = _ranked(part.counts or {})
    return ranked[0][0] if ranked else None


def value_ops(values: np.ndarray, plan: ColumnPlan, place: str = "") -> np.ndarray:
    """A column's values after its value operations (impute, log, clip), as the transform does."""
    for op in plan.ops:
        if op.name == "impute" and plan.impute is not None:
            values = np.where(pd.isna(values), plan.impute, values)
            if plan.type == "number":
                values = values.astype(np.float64)
        elif op.name == "log":
            if np.nanmin(values, initial=0.0) <= -1:
                raise ColumnError(
                    f"{place} columns.{plan.name}: log (log1p) needs values > -1, "
                    f"found {np.nanmin(values)}; clip or filter them first"
                )
            values = np.log1p(values)
        elif op.name == "clip":
            values = np.clip(values, op.params["low"], op.params["high"])
    return values


def encoder_batch(frame: pd.DataFrame, plans: list[ColumnPlan], place: str = "") -> Partial:
    """Pass 2 on one prepared batch: what each encoder needs, on values after value operations."""
    partial = Partial(rows=len(frame))
    for plan in plans:
        encoder = plan.encoder
        values = frame[plan.name].to_numpy()
        if encoder is None and not any(op.name == "log" for op in plan.ops):
            continue
        values = value_ops(values, plan, place)
        part = ColumnPartial(plan.type)
        if encoder is None:
            pass
        elif encoder.name == "standardize":
            part.moments = Moments()
            part.moments.add(values)
        elif encoder.name == "minmax":
            if not np.isnan(values).all():
                part.minimum, part.maximum = float(np.nanmin(values)), float(np.nanmax(values))
        elif encoder.name == "buckets":
            part.sketch = QuantileSketch().add(values)
        elif encoder.name == "onehot":
            part.counts = _counts(values)
        elif encoder.name == "tfidf":
            part.terms, part.documents = term_counts(values, encoder.params)
        partial.columns[plan.name] = part
    return partial


def finish_encoders(plans: list[ColumnPlan], partial: Partial, place: str) -> dict[str, Any]:
    """Per feature column: its plan and the fitted values its encoder will carry."""
    out: dict[str, Any] = {}
    for plan in plans:
        entry: dict[str, Any] = {
            "type": plan.type,
            "ops": [{o.name: dict(o.params)} for o in plan.ops],
        }
        if plan.impute is not None:
            entry["impute"] = plan.impute
        part = partial.columns.get(plan.name)
        encoder = plan.encoder
        if encoder is not None and part is not None:
            if encoder.name == "standardize":
                n, mean, var = part.moments.result() if part.moments else (0, math.nan, math.nan)
                entry.update(count=n, mean=_num(mean), var=_num(var))
            elif encoder.name == "minmax":
                entry.update(min=_num(part.minimum), max=_num(part.maximum))
            elif encoder.name == "buckets":
                sketch = part.sketch or QuantileSketch()
                n = encoder.params["n"]
                edges = sketch.quantiles([i / n for i in range(n + 1)])
                entry["edges"] = sorted({float(e) for e in edges if not math.isnan(e)})
            elif encoder.name == "onehot":
                ranked = [
                    (v, c)
                    for v, c in _ranked(part.counts or {})
                    if c >= encoder.params["min_frequency"]
                ]
                entry["vocabulary"] = [[v, c] for v, c in ranked[: encoder.params["top_k"]]]
            elif encoder.name == "tfidf":
                entry.update(
                    tfidf_vocabulary(
                        plan.name, part.terms or {}, part.documents, encoder.params, place
                    )
                )
        elif encoder is not None and encoder.name == "tfidf":
            entry.update(tfidf_vocabulary(plan.name, {}, 0, encoder.params, place))
        out[plan.name] = entry
    return out


def _ranked(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """Values by decreasing count, ties broken by value (as SimpleImputer's most_frequent does)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _num(value: float) -> float | None:
    """JSON-safe float: NaN and infinities become None."""
    return None if value is None or not math.isfinite(value) else float(value)

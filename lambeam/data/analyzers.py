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
from lambeam.data.numbers import ReadCounts
from lambeam.data.operations import Impute, OneHot, Operation
from lambeam.data.partials import (
    MIXED_TYPES,
    ColumnPartial,
    Moments,
    json_number,
    ranked,
    value_counts,
)
from lambeam.data.sketch import QuantileSketch
from lambeam.data.spec import PipelineSpec
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


@dataclass
class Partial:
    """A mergeable partial of either pass: rows seen, raw column types, and per-column partials."""

    rows: int = 0
    raw_types: dict[str, str] = field(default_factory=dict)
    columns: dict[str, ColumnPartial] = field(default_factory=dict)
    # The column orders batches showed (a set, so merging in any order gives the same result).
    orders: set[tuple[str, ...]] = field(default_factory=set)
    raw_orders: set[tuple[str, ...]] = field(default_factory=set)
    # What reading saw: per errors = "coerce" column the values read as null, and Typos.
    read: ReadCounts = field(default_factory=ReadCounts)
    # Columns whose type differed between batches (check_types says so).
    mixed: set[str] = field(default_factory=set)

    def column_names(self) -> list[str]:
        """Columns in a canonical order: the fullest order a batch showed, then any others sorted."""
        return _canonical(self.orders, self.columns)

    def raw_names(self) -> list[str]:
        return _canonical(self.raw_orders, self.raw_types)

    def merge(self, other: Partial) -> Partial:
        self.rows += other.rows
        self.orders |= other.orders
        self.raw_orders |= other.raw_orders
        self.read.merge(other.read)
        self.mixed |= other.mixed
        for name, typ in other.raw_types.items():
            if self.raw_types.setdefault(name, typ) != typ:
                self.mixed.add(name)
        for name, part in other.columns.items():
            if name not in self.columns:
                self.columns[name] = part
            elif self.columns[name].type != part.type:
                self.mixed.add(name)
            else:
                self.columns[name].merge(part, name)
        return self

    def check_types(self) -> None:
        """Raise for a column whose type differs between batches or files: numbers with typos
        first (named with their values and lines), else the column with two types. Merging
        only records those, so the typos' whole counts are known before either is said."""
        self.read.refuse_typos()
        if self.mixed:
            raise ColumnError(MIXED_TYPES.format(name=min(self.mixed)))


def _canonical(orders: set[tuple[str, ...]], names: Mapping[str, Any]) -> list[str]:
    first = min(orders, key=lambda order: (-len(order), order)) if orders else ()
    return [*first, *sorted(set(names) - set(first))]


def profile_batch(
    frame: pd.DataFrame,
    raw_types: dict[str, str],
    spec: PipelineSpec,
    read: ReadCounts | None = None,
) -> Partial:
    """Pass 1 on one prepared batch: profile every column (and what imputation will need), with
    what reading it saw (values read as null, typos)."""
    # Whether a column's values are counted: as its operations need, else text columns only.
    counted = {c: {o.counts_in_profile() for o in ops} - {None} for c, ops in spec.columns.items()}
    partial = Partial(
        rows=len(frame),
        raw_types=dict(raw_types),
        raw_orders={tuple(raw_types)},
        read=ReadCounts().merge(read) if read is not None else ReadCounts(),
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
        wants = counted.get(name, set())
        if (typ == "string" or True in wants) and False not in wants:
            part.counts = value_counts(values)
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
                mean=json_number(mean),
                std=json_number(math.sqrt(var) if not math.isnan(var) else var),
                min=json_number(part.minimum),
                max=json_number(part.maximum),
            )
            sketch = part.sketch or QuantileSketch()
            for key, q in zip(
                PROFILE_QUANTILES, sketch.quantiles(list(PROFILE_QUANTILES.values())), strict=True
            ):
                entry[key] = json_number(q)
        if part.counts is not None:
            entry["distinct"] = len(part.counts)
            entry["top"] = [[v, n] for v, n in ranked(part.counts)[:_TOP]]
        if name in partial.read.coerced:
            entry["coerced"] = partial.read.coerced[name]
        profile[name] = entry
    return profile


@dataclass(frozen=True)
class ColumnPlan:
    """A feature column's type, its operations (explicit or default), and its imputation value."""

    name: str
    type: str
    ops: tuple[Operation, ...]
    impute: Any = None

    @property
    def encoder(self) -> Operation | None:
        return self.ops[-1] if self.ops and self.ops[-1].encoder else None


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
            ops = () if part.type == "number" else (OneHot(),)
        impute = None
        for op in ops:
            need = op.needs()
            if need is not None and need != part.type:
                raise ColumnError(
                    f"{place} columns.{name}: {op.describe()} needs a {need} column, but "
                    f"{name!r} holds {'numbers' if part.type == 'number' else 'text'}"
                )
            if isinstance(op, Impute):
                impute = op.statistic(part)
                if impute is None:
                    raise ColumnError(
                        f"{place} columns.{name}: {op.describe()} has nothing to compute from: "
                        f"{name!r} has no values; use a constant or drop the column"
                    )
        plans.append(ColumnPlan(name, part.type, tuple(ops), impute))
    return plans


def value_ops(values: np.ndarray, plan: ColumnPlan, place: str = "") -> np.ndarray:
    """A column's values after its value operations (impute, log, clip), as the transform does."""
    for op in plan.ops:
        if not op.encoder:
            values = op.apply(values, plan, place)
    return values


def encoder_batch(frame: pd.DataFrame, plans: list[ColumnPlan], place: str = "") -> Partial:
    """Pass 2 on one prepared batch: what each encoder needs, on values after value operations."""
    partial = Partial(rows=len(frame))
    for plan in plans:
        encoder = plan.encoder
        if encoder is None and not any(op.checks_values for op in plan.ops):
            continue
        values = value_ops(frame[plan.name].to_numpy(), plan, place)
        part = ColumnPartial(plan.type)
        if encoder is not None:
            encoder.analyze(part, values)
        partial.columns[plan.name] = part
    return partial


def finish_encoders(plans: list[ColumnPlan], partial: Partial, place: str) -> dict[str, Any]:
    """Per feature column: its plan and the fitted values its encoder will carry."""
    out: dict[str, Any] = {}
    for plan in plans:
        entry: dict[str, Any] = {
            "type": plan.type,
            "ops": [{o.name: o.params} for o in plan.ops],
        }
        if plan.impute is not None:
            entry["impute"] = plan.impute
        if plan.encoder is not None:
            plan.encoder.finish(entry, partial.columns.get(plan.name), plan.name, place)
        out[plan.name] = entry
    return out

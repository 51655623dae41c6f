"""The served input columns: the raw columns a model trained on a dataset version takes.

A pipeline decides them once its statistics are known (`served_columns`): every raw column but
the label and the dropped ones, with a string column's known categories, whether its pipeline
imputes it, and the bound a number must be above for its operations to take it. The dataset's
manifest records them; training turns them into the model's signature (the registry's
`InputColumn`s, which add whether the data itself had missing values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambeam.data.spec import Operation, PipelineSpec

__all__ = ["ServedColumn", "lower_bound", "served_columns"]


@dataclass(frozen=True, slots=True)
class ServedColumn:
    """One raw column a served model takes: its type, its known categories (strings), whether
    its pipeline fills a missing value (`nullable`), and the bound a number must be above."""

    name: str
    type: str
    categories: list[Any] | None = None
    nullable: bool = False
    greater_than: float | None = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ServedColumn:
        """The column as a manifest records it."""
        return cls(
            doc["name"],
            doc["type"],
            doc.get("categories"),
            bool(doc.get("nullable", False)),
            doc.get("greater_than"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest's form: `nullable` and `greater_than` only where they say something (the
        dataset's content hash covers these bytes, so the form never changes)."""
        doc: dict[str, Any] = {"name": self.name, "type": self.type, "categories": self.categories}
        if self.nullable:
            doc["nullable"] = True
        if self.greater_than is not None:
            doc["greater_than"] = self.greater_than
        return doc


def served_columns(
    spec: PipelineSpec, raw_types: dict[str, str], stats: dict[str, Any]
) -> list[ServedColumn]:
    """The raw columns a served model takes: all but the label and the dropped ones (the split
    key among them), except a dropped column a transform step may read: one a derive expression
    names, or any, when a function step (user code) runs. A column declared with an impute
    operation is `nullable` (its transform fills a missing value) even if the data had none,
    unless a derive expression names it for a column that is not imputed itself: the derive
    sees the missing value before the impute does, and passes it on; one whose log would refuse
    a value has the bound a served value must be `greater_than`."""
    opaque = any(step.kind == "function" for step in spec.transform_steps)  # user code
    unused = {spec.split.key, *spec.drop}
    if opaque:
        unused = set()
    expressions = [e for step in spec.transform_steps for e in step.derive.values()]
    if not opaque:
        unused = {c for c in unused if c is not None and not _named_in(c, expressions)}
    excluded = {spec.label, *unused}
    imputed = {name for name, ops in spec.columns.items() if ops and ops[0].name == "impute"}
    # A derived column that is not imputed carries a missing input on to the model.
    unfilled = [
        expression
        for step in spec.transform_steps
        for target, expression in step.derive.items()
        if target not in imputed
    ]
    imputed = {name for name in imputed if not _named_in(name, unfilled)}
    # A bound holds for the raw value only where no step rewrote the column before its
    # operations: not a derived column, and no user function step at all.
    rewritten = {name for step in spec.transform_steps for name in step.derive}
    bounds = {
        name: lower_bound(ops)
        for name, ops in spec.columns.items()
        if not opaque and name not in rewritten and raw_types.get(name) == "number"
    }
    columns = []
    for name, typ in raw_types.items():
        if name in excluded:
            continue
        vocabulary = stats["columns"].get(name, {}).get("vocabulary")
        categories = (
            [v for v, _ in vocabulary] if typ == "string" and vocabulary is not None else None
        )
        columns.append(ServedColumn(name, typ, categories, name in imputed, bounds.get(name)))
    return columns


def lower_bound(ops: tuple[Operation, ...]) -> float | None:
    """What a served value must be above for the column's operations to take it (None: any).

    Worked back from the last operation: a log (log1p) needs its input above -1, or above
    expm1(b) when what follows needs its output above b; a clip whose low end is above what
    follows needs lets any value through.
    """
    bound: float | None = None
    for op in reversed(ops):
        bound = op.lower_bound(bound)
    return bound


def _named_in(column: str, expressions: list[str]) -> bool:
    """Whether any expression may name `column` (a whole word, bare or in backticks); a false
    yes only keeps a column required."""
    word = re.compile(rf"(?<![\w.]){re.escape(column)}(?!\w)")
    return any(word.search(expression) for expression in expressions)

"""A model's signature: the raw columns it takes and what it returns.

Stored as JSON on the model version's row and in a serving directory's `model.json`:

    {"inputs": [{"name": "bill_length_mm", "type": "number", "categories": None, "nullable": True,
                 "greater_than": -1.0},                      # optional: a log's domain
                {"name": "island", "type": "string", "categories": ["Biscoe", …], "nullable": False}],
     "outputs": {"task": "classification", "classes": [...], "probabilities": true}}

In memory it is a `Signature` of `InputColumn`s. The caller (training) builds it from the dataset
version; `Signature.from_dict` checks the stored shape, so a malformed one is refused at register
time rather than discovered by a serving function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambeam.errors import TrainingError

__all__ = ["INPUT_TYPES", "InputColumn", "Signature"]

INPUT_TYPES = ("number", "string")


@dataclass(frozen=True, slots=True)
class InputColumn:
    """One raw input column: its type, its known categories (strings), whether null is taken,
    and the bound a number must be above (a log's domain), if any."""

    name: str
    type: str
    categories: list[Any] | None = None
    nullable: bool = False
    greater_than: float | None = None

    @classmethod
    def from_dict(cls, doc: Any, position: int = 0) -> InputColumn:
        """The column `doc` (as stored) describes; TrainingError naming what is malformed."""
        where = f"model signature: input {position}"
        if not isinstance(doc, Mapping):
            raise TrainingError(f"{where} must be a dict with name, type, categories, nullable")
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            raise TrainingError(f"{where} has no name")
        kind = doc.get("type")
        if kind not in INPUT_TYPES:
            raise TrainingError(
                f"model signature: input {name!r} has type {kind!r}; use one of {list(INPUT_TYPES)}"
            )
        categories = doc.get("categories")
        if categories is not None and not isinstance(categories, list):
            raise TrainingError(
                f"model signature: input {name!r}: categories must be a list or None"
            )
        nullable = doc.get("nullable")
        if not isinstance(nullable, bool):
            raise TrainingError(f"model signature: input {name!r}: nullable must be true or false")
        bound = doc.get("greater_than")
        if bound is not None and (
            kind != "number" or isinstance(bound, bool) or not isinstance(bound, int | float)
        ):
            raise TrainingError(
                f"model signature: input {name!r}: greater_than must be a number, on a number column"
            )
        return cls(name, kind, categories, nullable, None if bound is None else float(bound))

    def to_dict(self) -> dict[str, Any]:
        """The stored form (`greater_than` only where there is one)."""
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "categories": self.categories,
            "nullable": self.nullable,
        }
        if self.greater_than is not None:
            doc["greater_than"] = self.greater_than
        return doc


@dataclass(frozen=True, slots=True)
class Signature:
    """The raw columns a model takes, in the order its transform saw them, and its outputs
    (`task`, and for a classifier its `classes` and whether it gives `probabilities`)."""

    inputs: tuple[InputColumn, ...]
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Any) -> Signature:
        """The signature `doc` (as stored) describes; TrainingError naming what is malformed."""
        if isinstance(doc, Signature):
            return doc
        if not isinstance(doc, Mapping):
            raise TrainingError(f"model signature must be a dict, not {type(doc).__name__}")
        inputs = doc.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise TrainingError("model signature: 'inputs' must be a non-empty list of columns")
        columns = tuple(InputColumn.from_dict(column, i) for i, column in enumerate(inputs))
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise TrainingError(f"model signature: input {column.name!r} appears twice")
            seen.add(column.name)
        outputs = doc.get("outputs")
        if not isinstance(outputs, dict):
            raise TrainingError("model signature: 'outputs' must be a dict")
        return cls(columns, dict(outputs))

    @classmethod
    def from_stored(cls, doc: Mapping[str, Any]) -> Signature:
        """The signature a registered version's row or serving directory holds, read as stored.

        Not checked again: it was when the version was registered, and a version registered
        before a check was added must still read back.
        """
        inputs = tuple(
            InputColumn(
                column["name"],
                column["type"],
                column.get("categories"),
                column.get("nullable", False),
                column.get("greater_than"),
            )
            for column in doc.get("inputs", [])
        )
        return cls(inputs, dict(doc.get("outputs", {})))

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"inputs": [c.to_dict() for c in self.inputs], "outputs": dict(self.outputs)}

    @property
    def names(self) -> list[str]:
        """The input columns' names, in order."""
        return [column.name for column in self.inputs]

    @property
    def task(self) -> str | None:
        """The model's task kind (classification, regression, …), where recorded."""
        return self.outputs.get("task")

    @property
    def classes(self) -> list[Any] | None:
        """A classifier's classes, where recorded."""
        return self.outputs.get("classes")

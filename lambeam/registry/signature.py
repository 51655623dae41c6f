"""A model's signature: the raw columns it takes and what it returns.

    {"inputs": [{"name": "bill_length_mm", "type": "number", "categories": None, "nullable": True,
                 "greater_than": -1.0},                      # optional: a log's domain
                {"name": "island", "type": "string", "categories": ["Biscoe", …], "nullable": False}],
     "outputs": {…}}

The caller (training) builds it from the dataset version; the registry only checks its shape, so a
malformed one is refused at register time rather than discovered by a serving function.
"""

from __future__ import annotations

from typing import Any

from lambeam.errors import TrainingError

__all__ = ["INPUT_TYPES", "input_columns", "validate_signature"]

INPUT_TYPES = ("number", "string")


def validate_signature(signature: Any) -> dict[str, Any]:
    """The signature as a plain dict, or TrainingError naming what is malformed."""
    if not isinstance(signature, dict):
        raise TrainingError(f"model signature must be a dict, not {type(signature).__name__}")
    inputs = signature.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TrainingError("model signature: 'inputs' must be a non-empty list of columns")
    seen: set[str] = set()
    for position, column in enumerate(inputs):
        where = f"model signature: input {position}"
        if not isinstance(column, dict):
            raise TrainingError(f"{where} must be a dict with name, type, categories, nullable")
        name = column.get("name")
        if not isinstance(name, str) or not name:
            raise TrainingError(f"{where} has no name")
        if name in seen:
            raise TrainingError(f"model signature: input {name!r} appears twice")
        seen.add(name)
        if column.get("type") not in INPUT_TYPES:
            raise TrainingError(
                f"model signature: input {name!r} has type {column.get('type')!r};"
                f" use one of {list(INPUT_TYPES)}"
            )
        categories = column.get("categories")
        if categories is not None and not isinstance(categories, list):
            raise TrainingError(
                f"model signature: input {name!r}: categories must be a list or None"
            )
        if not isinstance(column.get("nullable"), bool):
            raise TrainingError(f"model signature: input {name!r}: nullable must be true or false")
        bound = column.get("greater_than")
        if bound is not None and (
            column["type"] != "number"
            or isinstance(bound, bool)
            or not isinstance(bound, int | float)
        ):
            raise TrainingError(
                f"model signature: input {name!r}: greater_than must be a number, on a number column"
            )
    if not isinstance(signature.get("outputs"), dict):
        raise TrainingError("model signature: 'outputs' must be a dict")
    return signature


def input_columns(signature: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, type) of each raw input column, in signature order."""
    return [(column["name"], column["type"]) for column in signature["inputs"]]

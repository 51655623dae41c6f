"""Column operations, one class per operation (see base.py for what each one owns).

Value operations change a column's values; an encoder (at most one, last) turns them into
features. A new operation is one module here, added to OPERATION_CLASSES.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambeam.data.operations.base import Fail, Operation
from lambeam.data.operations.buckets import Buckets
from lambeam.data.operations.clip import Clip
from lambeam.data.operations.impute import Impute
from lambeam.data.operations.log import Log
from lambeam.data.operations.minmax import MinMax
from lambeam.data.operations.onehot import OOV, OneHot
from lambeam.data.operations.standardize import Standardize
from lambeam.data.operations.tfidf import Tfidf

__all__ = [
    "ENCODERS",
    "OOV",
    "OPERATIONS",
    "OPERATION_CLASSES",
    "Buckets",
    "Clip",
    "Impute",
    "Log",
    "MinMax",
    "OneHot",
    "Operation",
    "Standardize",
    "Tfidf",
    "encoder_of",
    "from_stored",
    "parse_operation",
]

# In the order lambeam.toml's documentation and error messages list them.
OPERATION_CLASSES: dict[str, type[Operation]] = {
    cls.name: cls for cls in (Impute, Log, Clip, Standardize, MinMax, Buckets, OneHot, Tfidf)
}
OPERATIONS = tuple(OPERATION_CLASSES)
ENCODERS = tuple(name for name, cls in OPERATION_CLASSES.items() if cls.encoder)


def parse_operation(value: Any, fail: Fail) -> Operation:
    """An operation as declared: "name", "name:argument" or a one-key table {name = params}."""
    expected = "expected one of " + ", ".join(OPERATIONS)
    if isinstance(value, str):
        name, _, arg = value.partition(":")
        if name not in OPERATION_CLASSES:
            raise fail(f"unknown operation {value!r}; {expected}")
        if arg and not OPERATION_CLASSES[name].text_argument:
            raise fail(f"{name!r} takes no ':' argument")
        params: Any = arg or None
    elif isinstance(value, Mapping) and len(value) == 1:
        ((name, params),) = value.items()
        if name not in OPERATION_CLASSES:
            raise fail(f"unknown operation {name!r}; {expected}")
    else:
        raise fail(f"an operation must be a string or a one-key table, not {value!r}")
    return OPERATION_CLASSES[name].parse(params, fail)


def from_stored(stored: Mapping[str, Mapping[str, Any]]) -> Operation:
    """An operation from its stored form {name: canonical params} (a stats entry's "ops")."""
    ((name, params),) = stored.items()
    return OPERATION_CLASSES[name].from_params(params)


def encoder_of(entry: Mapping[str, Any]) -> Operation | None:
    """The encoder of a stats entry's operations, or None."""
    ops = [from_stored(op) for op in entry["ops"]]
    return ops[-1] if ops and ops[-1].encoder else None

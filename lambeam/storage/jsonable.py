"""Values made safe for a JSON column on every backend."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """`value` with NumPy scalars and arrays made plain, NaN/inf as None, and the rest as repr.

    PostgreSQL's JSON rejects NaN, and a parameter may hold an object (a kernel, a callable); its
    repr is what a user would want to read back.
    """
    if isinstance(value, np.generic):  # first: np.float64 is a float, np.str_ a str
        return jsonable(value.item())
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [jsonable(item) for item in value.tolist()]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(item) for item in items]
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat()  # lambeam stores UTC; SQLite drops the zone
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return repr(value)

"""A package's names imported on first use (PEP 562's module `__getattr__`).

The faces import a package for one or two names; a package that imports all of its modules up
front makes every command pay for scikit-learn, pandas or the database layers. Such a package
declares where each public name lives and lets `first_use` import that module when the name is
first read (then keeps it, so the second read costs a dict lookup).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["first_use"]


def first_use(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `package.<homes[name]>` for `name`."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

"""Each package's public face is its `__all__` (as httpx checks its own): every name listed there
exists, and every public name a package or module defines or re-exports is listed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

import lambeam

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(lambeam.__path__, prefix="lambeam.")
    if ".migrations" not in info.name and not info.name.endswith("__main__")
)


def _public_names(module: types.ModuleType) -> set[str]:
    """Public names the module itself defines (a package: also what its __init__ imports)."""
    is_package = hasattr(module, "__path__")
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if name == "annotations" and value.__class__.__name__ == "_Feature":
            continue  # from __future__ import annotations
        home = getattr(value, "__module__", None)
        defined_here = home == module.__name__
        if is_package:
            # A package hands out what its own modules define, never a third party's names.
            if home is not None and home.startswith(module.__name__):
                names.add(name)
        elif defined_here and (inspect.isclass(value) or inspect.isfunction(value)):
            names.add(name)
    return names


@pytest.mark.parametrize("name", ["lambeam", *MODULES])
def test_all_matches_what_the_module_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"
    if name.rsplit(".", 1)[-1].startswith("_"):
        return  # an internal module: its __all__ is what its package uses, not a public face
    unlisted = sorted(_public_names(module) - set(exported))
    assert not unlisted, f"{name} exports names its __all__ does not list: {unlisted}"

"""Dependencies point one way: faces → services → ground (../shared/STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lambeam"

# What each part may import from lambeam besides itself.
ALLOWED = {
    "errors": set(),
    "progress": set(),
    "config": {"errors"},
    "storage": {"errors", "config"},
    "project": {"errors", "config", "storage", "security"},
    "data": {"errors", "config", "storage", "progress", "project"},
    "registry": {"errors", "config", "storage", "progress"},
    "security": {"errors", "config", "storage"},
    "runtime": {"errors", "config", "storage", "progress"},
    "inference": {"errors", "config", "storage", "registry"},
    "functions": {"errors", "config", "storage", "progress", "project", "registry", "runtime"},
    "training": {"errors", "config", "storage", "progress", "project", "data", "registry"},
    "quickstart": {
        "errors",
        "config",
        "storage",
        "progress",
        "project",
        "data",
        "registry",
        "training",
        "functions",
        "security",
        "server",
    },
    "invoke": {
        "errors",
        "config",
        "storage",
        "progress",
        "project",
        "registry",
        "functions",
        "runtime",
        "inference",
        "security",
    },
    "events": {
        "errors",
        "config",
        "storage",
        "progress",
        "project",
        "registry",
        "functions",
        "runtime",
        "invoke",
    },
    "server": {
        "errors",
        "config",
        "storage",
        "progress",
        "project",
        "registry",
        "functions",
        "runtime",
        "inference",
        "security",
        "invoke",
        "events",
    },
    "cli": {
        "errors",
        "config",
        "storage",
        "progress",
        "project",
        "data",
        "registry",
        "training",
        "quickstart",
        "functions",
        "runtime",
        "security",
        "inference",
        "invoke",
        "events",
        "server",
    },
}


# Below every part: mechanics with no lambeam imports of their own (a package's lazy names).
SHARED = {"_lazy"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lambeam."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lambeam."))
    return found


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_part_imports_only_what_it_may(part: str) -> None:
    module = PACKAGE / f"{part}.py"
    files = list((PACKAGE / part).rglob("*.py")) if (PACKAGE / part).is_dir() else [module]
    files = [f for f in files if f.exists()]
    for path in files:
        wrong = _imports(path) - ALLOWED[part] - {part} - SHARED
        assert not wrong, f"{path.relative_to(PACKAGE.parent)} imports lambeam.{sorted(wrong)[0]}"


def test_every_part_is_listed() -> None:
    parts = {
        p.stem
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or p.is_dir()) and not p.name.startswith("_")
    }
    assert parts <= set(ALLOWED), sorted(parts - set(ALLOWED))


def test_shared_modules_import_no_part() -> None:
    for name in SHARED:
        assert not _imports(PACKAGE / f"{name}.py"), f"lambeam/{name}.py imports a part"

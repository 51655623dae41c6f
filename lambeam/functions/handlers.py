"""Finding a code function's handler in its bundle before it is deployed, without running it.

Lambda only finds out at the first invocation (`Runtime.ImportModuleError`,
`Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`); `lambeam apply` reads the handler's
module from the bundle and refuses one that cannot load: a module that is not there, a syntax
error, or no top-level name for the handler. The reading is static, so nothing of the user's
code runs at deploy time; a module that makes its names dynamically (a star import, a module
`__getattr__`, `globals()`) is given the benefit of the doubt.
"""

from __future__ import annotations

import ast
import io
import zipfile
from collections.abc import Iterable

from lambeam.functions.bundles import CodeBundle
from lambeam.functions.errors import CodeBundleError

__all__ = ["check_handler"]


def check_handler(bundle: CodeBundle, handler: str) -> None:
    """Refuse `handler` (`module.function`, the module dotted) if `bundle` cannot provide it.

    A module that is not in the bundle is accepted when the bundle has a requirements.txt (the
    handler may come from a package it installs).
    """
    module, _, attr = handler.rpartition(".")
    stem = module.replace(".", "/")
    candidates = (f"{stem}.py", f"{stem}/__init__.py")
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        names = set(archive.namelist())
        found = next((name for name in candidates if name in names), None)
        if found is None:
            if bundle.requirements is not None:
                return
            raise CodeBundleError(
                f"the code has no {candidates[0]} (nor {candidates[1]}) for module {module!r}"
            )
        source = archive.read(found)
    try:
        tree = ast.parse(source, filename=found)
    except SyntaxError as exc:
        raise CodeBundleError(f"{found} line {exc.lineno}: {exc.msg}") from None
    if not _may_define(tree, attr):
        raise CodeBundleError(f"{found} defines no {attr!r} at module level")


def _may_define(tree: ast.Module, name: str) -> bool:
    """Whether the module binds `name` at top level, or makes names in ways a reading can't see."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("globals", "exec")
        ):
            return True
    names = set(_top_level_names(tree.body))
    return name in names or "*" in names


def _top_level_names(statements: Iterable[ast.stmt]) -> Iterable[str]:
    """Names bound by module-level statements (into if/try/with/loop blocks, not into defs);
    "*" for a star import or a module `__getattr__`."""
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield "*" if node.name == "__getattr__" else node.name
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                yield alias.asname or alias.name.split(".")[0]
        if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith):
            yield from _top_level_names(node.body)
            yield from _top_level_names(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try | ast.TryStar):
            yield from _top_level_names(node.body)
            for handler in node.handlers:
                yield from _top_level_names(handler.body)
            yield from _top_level_names(node.orelse)
            yield from _top_level_names(node.finalbody)

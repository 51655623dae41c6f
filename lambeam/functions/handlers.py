"""Finding a code function's handler in its bundle before it is deployed, without running it.

Lambda only finds out at the first invocation (`Runtime.ImportModuleError`,
`Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`); `lambeam apply` reads the handler's
module from the bundle and refuses one that cannot load: a module that is nowhere to be found,
a syntax error, or a name the module never binds. The reading is static, so nothing of the
user's code runs at deploy time, and it gives the benefit of the doubt wherever a module may
make names in ways a reading cannot follow (`globals()`, `setattr`, `sys.modules`, a module
`__getattr__`, compiled modules, a package without source).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import zipfile

from lambeam.functions.bundles import CodeBundle
from lambeam.functions.errors import CodeBundleError

__all__ = ["check_handler"]

# Names through which a module can bind names a reading cannot see.
_DYNAMIC = frozenset(
    {"globals", "locals", "vars", "setattr", "exec", "eval", "modules", "__dict__", "__getattr__"}
)


def check_handler(bundle: CodeBundle, handler: str) -> None:
    """Refuse `handler` (`module.function`, the module dotted) if `bundle` cannot provide it.

    A module that is not in the bundle is accepted when the bundle has a requirements.txt (the
    handler may come from a package it installs) or when this Python can import it.
    """
    module, _, attr = handler.rpartition(".")
    stem = module.replace(".", "/")
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        names = archive.namelist()
        # Python imports a package before a module of the same name.
        source = next((n for n in (f"{stem}/__init__.py", f"{stem}.py") if n in names), None)
        if source is None:
            if _present_otherwise(names, stem, module, bundle):
                return
            raise CodeBundleError(
                f"the code has no {stem}.py (nor {stem}/__init__.py) for module {module!r}"
            )
        text = archive.read(source)
    try:
        tree = ast.parse(text, filename=source)
    except (SyntaxError, ValueError) as exc:  # ValueError: a null byte, on Python 3.11
        line = getattr(exc, "lineno", None)
        where = f"{source} line {line}" if line else source
        raise CodeBundleError(f"{where}: {getattr(exc, 'msg', None) or exc}") from None
    if not _may_bind(tree, attr):
        raise CodeBundleError(f"{source} never defines {attr!r}")


def _present_otherwise(names: list[str], stem: str, module: str, bundle: CodeBundle) -> bool:
    """Whether the module may load without a .py source in the bundle: compiled (`.pyc`, an
    extension module), a folder, installed by the bundle's requirements, or importable here."""
    if any(n.startswith((f"{stem}.", f"{stem}/")) for n in names):
        return True
    if bundle.requirements is not None:
        return True
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _may_bind(tree: ast.Module, name: str) -> bool:
    """Whether `name` may be bound anywhere in the module (a local of the same name counts too:
    a `global` statement makes it the module's), or the module makes names dynamically."""
    for node in ast.walk(tree):
        bound: list[str] = []
        if isinstance(node, ast.Name):
            if node.id in _DYNAMIC:
                return True
            if isinstance(node.ctx, ast.Store):
                bound.append(node.id)
        elif isinstance(node, ast.Attribute):
            if node.attr in _DYNAMIC:
                return True
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.append(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound += [alias.asname or alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.append(node.rest)
        if name in bound or "*" in bound or "__getattr__" in bound:
            return True
    return False

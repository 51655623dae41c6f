"""Finding a code function's handler in its bundle before it is deployed, without running it.

A handler must be defined by the function's own code: its module is a file of the bundle
(`pkg/mod.py`, `pkg/mod/__init__.py` or a compiled module), and its top-level package is no
module of Python's standard library or lambeam's environment, which an instance would import in
its place. So `os.system` or `subprocess.run`, or a module that only requirements.txt installs,
is refused at deploy, where Lambda would run it.

Lambda only finds out at the first invocation (`Runtime.ImportModuleError`,
`Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`); lambeam reads the handler's module
from the bundle and refuses one that cannot load: a module that is nowhere to be found, a
syntax error, or a name the module never binds. The reading is static, so nothing of the
user's code runs at deploy time, and it gives the benefit of the doubt wherever a module may
make names in ways a reading cannot follow (`globals()`, `setattr`, `sys.modules`, a module
`__getattr__`, compiled modules).
"""

from __future__ import annotations

import ast
import io
import os
import sys
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES, PathFinder

from lambeam.functions.bundles import CodeBundle
from lambeam.functions.errors import CodeBundleError

__all__ = ["check_handler"]

# Names through which a module can bind names a reading cannot see.
_DYNAMIC = frozenset(
    {"globals", "locals", "vars", "setattr", "exec", "eval", "modules", "__dict__", "__getattr__"}
)
_OWN_CODE = (
    "a handler must be defined in the function's own code; to run a library's function,"
    " call it from a handler of your own"
)


def check_handler(bundle: CodeBundle | bytes, handler: str) -> None:
    """Refuse `handler` (`module.function`, the module dotted) unless the bundle (a CodeBundle,
    or the bytes of a stored one) defines it in a module of its own."""
    module, _, attr = handler.rpartition(".")
    stem = module.replace(".", "/")
    data = bundle if isinstance(bundle, bytes) else bundle.data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        # Python imports a package before a module of the same name.
        source = next((n for n in (f"{stem}/__init__.py", f"{stem}.py") if n in names), None)
        if source is None and not _compiled(names, stem):
            raise CodeBundleError(
                f"the code has no {stem}.py (nor {stem}/__init__.py) for module {module!r}:"
                f" {_OWN_CODE}"
            )
        _refuse_shadowed(module)
        if source is None:
            return  # compiled: nothing to read
        text = archive.read(source)
    try:
        tree = ast.parse(text, filename=source)
    except (SyntaxError, ValueError) as exc:  # ValueError: a null byte, on Python 3.11
        line = getattr(exc, "lineno", None)
        where = f"{source} line {line}" if line else source
        raise CodeBundleError(f"{where}: {getattr(exc, 'msg', None) or exc}") from None
    if not _may_bind(tree, attr):
        raise CodeBundleError(f"{source} never defines {attr!r}")


def _compiled(names: list[str], stem: str) -> bool:
    """Whether the bundle holds `stem` as a compiled module (an extension module or a .pyc)."""
    suffixes = (*EXTENSION_SUFFIXES, ".pyc")
    return any(n.startswith(f"{stem}.") and n.endswith(suffixes) for n in names)


def _refuse_shadowed(module: str) -> None:
    """Refuse a module whose top-level package Python's standard library or lambeam's own
    environment also provides: an instance has it imported, or finds it, before the bundle's."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise CodeBundleError(
            f"module {module!r} is named like {top!r} of Python's standard library, which an"
            f" instance imports instead of the function's own; rename the package ({_OWN_CODE})"
        )
    here = os.getcwd()
    # The environment an instance inherits: not the current directory, which a server started
    # with `python -m` has on its path and which may be the function's code itself.
    environment = [p for p in sys.path if p and os.path.abspath(p) != here]
    try:
        found = PathFinder.find_spec(top, environment)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin is not None:
        raise CodeBundleError(
            f"module {module!r} is named like {top!r}, installed in lambeam's Python environment"
            f" ({found.origin}), which an instance may import instead of the function's own;"
            " rename the package"
        )


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

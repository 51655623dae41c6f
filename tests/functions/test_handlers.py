"""A handler must be defined by the function's own code (issue 12, finding 8): any importable
callable outside it (`os.system`) is refused at deploy, with a message saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambeam.functions import CodeBundle, CodeBundleError
from lambeam.functions.handlers import check_handler
from tests.functions.conftest import write_code


def _bundle(root: Path, files: dict[str, str]) -> CodeBundle:
    return CodeBundle.from_directory(write_code(root, files))


@pytest.mark.parametrize("handler", ["os.system", "subprocess.run", "json.loads", "os.path.join"])
def test_a_callable_of_the_standard_library_is_refused(tmp_path: Path, handler: str) -> None:
    with pytest.raises(
        CodeBundleError, match=r"the code has no .* for module .* own code"
    ) as raised:
        check_handler(_bundle(tmp_path, {}), handler)
    assert repr(handler.rpartition(".")[0]) in str(raised.value)


def test_a_module_only_requirements_install_is_refused(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"requirements.txt": "fastlib\n"})
    with pytest.raises(
        CodeBundleError, match=r"no fastlib/api\.py \(nor fastlib/api/__init__\.py\)"
    ):
        check_handler(bundle, "fastlib.api.handler")


@pytest.mark.parametrize(
    ("files", "handler", "message"),
    [
        ({"os.py": "def system(e, c):\n    pass\n"}, "os.system", "Python's standard library"),
        ({"json/__init__.py": "def h(e, c):\n    pass\n"}, "json.h", "standard library"),
        ({"numpy/__init__.py": "def add(e, c):\n    pass\n"}, "numpy.add", "environment"),
        ({"sklearn/api.py": "def h(e, c):\n    pass\n"}, "sklearn.api.h", "environment"),
    ],
)
def test_a_module_shadowing_one_an_instance_imports_first_is_refused(
    tmp_path: Path, files: dict[str, str], handler: str, message: str
) -> None:
    with pytest.raises(CodeBundleError, match=f"named like .*{message}.*rename"):
        check_handler(_bundle(tmp_path, files), handler)


def test_a_handler_in_a_nested_package_of_the_bundle_is_accepted(tmp_path: Path) -> None:
    good = "def handle(event, context):\n    return event\n"
    bundle = _bundle(
        tmp_path,
        {"shop/__init__.py": "", "shop/api/__init__.py": "", "shop/api/orders.py": good},
    )
    check_handler(bundle, "shop.api.orders.handle")
    check_handler(bundle.data, "shop.api.orders.handle")  # a stored bundle's bytes
    check_handler(bundle, "app.handler")
    with pytest.raises(CodeBundleError, match=r"shop/api/orders\.py never defines 'missing'"):
        check_handler(bundle, "shop.api.orders.missing")
    # A namespace package (no __init__.py) of the bundle's own, and a compiled module.
    spaced = _bundle(tmp_path / "ns", {"shopns/api/orders.py": good})
    check_handler(spaced, "shopns.api.orders.handle")
    compiled = _bundle(tmp_path / "so", {"fast.cpython-311-x86_64-linux-gnu.so": "not really"})
    check_handler(compiled, "fast.handler")

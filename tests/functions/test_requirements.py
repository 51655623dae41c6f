"""requirements.txt installed for real with pip at deploy time, for that function alone."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambeam.functions import (
    CodeBundle,
    CodeBundleError,
    create_function,
    get_function,
    list_functions,
    materialize,
    update_function_code,
    update_function_configuration,
)
from lambeam.project import Project
from tests.functions.conftest import code_config, write_code
from tests.services import unavailable

PACKAGE = "six==1.16.0"


@pytest.fixture(scope="module")
def pip_index(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip (or fail, with LAMBEAM_REQUIRE_SERVICES=1) when pip cannot fetch the package."""
    where = tmp_path_factory.mktemp("pip-probe")
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
         "--no-input", "--timeout", "15", "-d", str(where), PACKAGE],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        unavailable(f"pip cannot fetch {PACKAGE} from its index: {last}")


@pytest.mark.usefixtures("pip_index")
def test_requirements_install_into_their_own_bundle(project: Project, tmp_path: Path) -> None:
    db, store = project.db, project.store
    # pip runs inside the unpacked bundle, so requirements.txt may name files in it.
    files = {
        "requirements.txt": "# pinned\n-r more/requirements.txt\n",
        "more/requirements.txt": PACKAGE,
    }
    code = write_code(tmp_path / "code", files)
    bundle = CodeBundle.from_directory(code)
    assert bundle.requirements is not None
    created = create_function(db, store, "with-six", code_config(), code=bundle)
    digest = created.config.requirements_sha256
    assert digest is not None and store.exists(digest)
    with zipfile.ZipFile(store.url(digest)) as archive:
        names = archive.namelist()
    assert "six.py" in names and not any(n.endswith(".pyc") for n in names)
    site = materialize(store, digest, tmp_path / "cache")
    script = "import sys; sys.path.insert(0, sys.argv[1]); import six; print(six.__version__)"
    found = subprocess.run(
        [sys.executable, "-I", "-c", script, str(site)], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "1.16.0"

    # A second, independent install of the same requirements gives the same bytes.
    twin = create_function(db, store, "with-six-too", code_config(), code=bundle)
    assert twin.config.requirements_sha256 == digest

    # A configuration change keeps the installed packages; the same code does not reinstall.
    again = update_function_configuration(db, "with-six", code_config(memory_mb=256))
    assert again.config.requirements_sha256 == digest
    same = update_function_code(db, store, "with-six", code=bundle)
    assert same.config.requirements_sha256 == digest
    # Without requirements.txt, there is nothing installed.
    plain = CodeBundle.from_directory(write_code(tmp_path / "plain"))
    without = update_function_code(db, store, "with-six", code=plain)
    assert without.config.requirements_sha256 is None


@pytest.mark.usefixtures("pip_index")
def test_a_failing_install_names_the_function_and_records_nothing(
    project: Project, tmp_path: Path
) -> None:
    db, store = project.db, project.store
    code = write_code(tmp_path / "code", {"requirements.txt": "six==0.0.0.404\n"})
    message = r"function 'broken': pip could not install requirements.txt: ERROR: "
    broken = CodeBundle.from_directory(code)
    with pytest.raises(CodeBundleError, match=message):
        create_function(db, store, "broken", code_config(), code=broken)
    assert list_functions(db) == [] and not store.exists(broken.sha256)

    ok = CodeBundle.from_directory(write_code(tmp_path / "ok"))
    good = create_function(db, store, "fine", code_config(), code=ok)
    with pytest.raises(CodeBundleError, match="function 'fine': pip could not install"):
        update_function_code(db, store, "fine", code=CodeBundle.from_directory(code))
    assert get_function(db, "fine") == good

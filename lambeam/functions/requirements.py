"""Installing a bundle's requirements.txt for one function alone, at deploy time.

pip installs into a fresh directory with the running interpreter (so wheels match the runtime);
the result is zipped deterministically and stored beside the code, never mixed into it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lambeam.functions.bundles import REQUIREMENTS_FILE, CodeBundle, unpack, zip_directory
from lambeam.functions.errors import CodeBundleError

__all__ = ["PIP_TIMEOUT_S", "install_requirements"]

PIP_TIMEOUT_S = 600


def install_requirements(
    function: str,
    bundle: CodeBundle,
    *,
    timeout_s: float = PIP_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """The deterministic zip of what `pip install -r requirements.txt` puts in a target directory.

    pip runs in the unpacked bundle, so the file may name paths inside it (`-r more.txt`,
    `./wheels/x.whl`). None when the bundle has no requirements.txt or it names no requirement.
    A failing install raises CodeBundleError naming the function and pip's last error line.
    """
    if bundle.requirements is None:
        return None
    text = bundle.requirements.decode("utf-8", errors="replace")
    if not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
        return None
    with tempfile.TemporaryDirectory(prefix="lambeam-pip-") as scratch:
        code = Path(scratch) / "code"
        unpack(bundle.data, code, f"function {function!r}")
        listing = code / REQUIREMENTS_FILE
        target = Path(scratch) / "site"
        command = [
            sys.executable, "-m", "pip", "install",
            "--target", str(target),
            "--requirement", str(listing),
            "--no-input",
            "--disable-pip-version-check",
            "--no-compile",  # .pyc files would make the zip differ from one install to the next
            "--no-warn-script-location",
            "--timeout", "60",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=dict(os.environ if environ is None else environ),
                cwd=code,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CodeBundleError(
                f"function {function!r}: installing requirements.txt took more than"
                f" {timeout_s:g} s; nothing was deployed"
            ) from None
        if done.returncode != 0:
            raise CodeBundleError(
                f"function {function!r}: pip could not install requirements.txt:"
                f" {_last_error(done.stderr, done.stdout)}"
            )
        if not target.is_dir():
            return None
        return zip_directory(target)


def _last_error(*outputs: str) -> str:
    lines = [line.strip() for output in outputs for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "pip exited with an error and printed nothing"

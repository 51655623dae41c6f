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

from lambeam.functions.bundles import zip_directory
from lambeam.functions.errors import CodeBundleError

__all__ = ["PIP_TIMEOUT_S", "install_requirements"]

PIP_TIMEOUT_S = 600


def install_requirements(
    function: str,
    requirements: bytes,
    *,
    timeout_s: float = PIP_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """The deterministic zip of what `pip install -r requirements.txt` puts in a target directory.

    None when the file names no requirement. A failing install raises CodeBundleError naming the
    function and pip's last error line.
    """
    text = requirements.decode("utf-8", errors="replace")
    if not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
        return None
    with tempfile.TemporaryDirectory(prefix="lambeam-pip-") as scratch:
        listing = Path(scratch) / "requirements.txt"
        listing.write_bytes(requirements)
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
                cwd=scratch,
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

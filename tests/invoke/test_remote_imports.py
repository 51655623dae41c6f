"""`lambeam invoke` through a running server reads the credentials file and signs a request: it
must not load the storage layer (SQLAlchemy, cryptography), a third of a second of a command that
otherwise takes a third of a second (bench/cli_start.py, invoke_via_server_s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_reading_the_credentials_file_loads_no_storage_layer() -> None:
    code = (
        "import json, sys\n"
        "from lambeam.invoke.remote import find_server\n"
        "from lambeam.security.credentials_file import read_credentials_file\n"
        "print(json.dumps(sorted(m for m in ('sqlalchemy', 'cryptography', 'fsspec')"
        " if m in sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []

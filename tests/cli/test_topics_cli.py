"""`lambeam topics …` and `lambeam objects …` on a real project."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambeam.cli import main
from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = Path(tmp_path_factory.mktemp("topics")) / "proj"
    made = subprocess.run(
        [sys.executable, "-m", "lambeam", "init", str(project)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert made.returncode == 0, made.stderr
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    opened = Project.open(project)
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(
        opened.db, opened.store, "score", config, CodeBundle.from_zip(buffer.getvalue())
    )
    opened.close()
    return project


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_topic_from_create_to_rm(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(root, capsys, "topics", "create", "alerts")[0] == 0
    assert run(root, capsys, "queues", "create", "audit")[0] == 0
    code, out, _ = run(
        root, capsys, "topics", "subscribe", "alerts", "--function", "score", "--json"
    )
    assert code == 0 and json.loads(out)["endpoint"] == "score"
    assert run(root, capsys, "topics", "subscribe", "alerts", "--queue", "audit", "--raw")[0] == 0
    code, out, _ = run(root, capsys, "topics", "ls")
    assert code == 0 and "alerts" in out
    code, out, _ = run(
        root,
        capsys,
        "topics",
        "publish",
        "alerts",
        "hello",
        "--subject",
        "hi",
        "-a",
        "k=v",
        "--json",
    )
    published = json.loads(out)
    assert len(published["request_ids"]) == 1 and published["queues"] == ["audit"]
    code, out, _ = run(root, capsys, "queues", "receive", "audit", "--json")
    assert [m["Body"] for m in json.loads(out)] == ["hello"]
    code, out, _ = run(root, capsys, "topics", "subscriptions", "alerts", "--json")
    subscriptions = json.loads(out)
    assert {s["protocol"] for s in subscriptions} == {"lambda", "sqs"}
    assert run(root, capsys, "topics", "subscriptions")[0] == 0
    assert run(root, capsys, "topics", "unsubscribe", subscriptions[0]["id"])[0] == 0
    assert run(root, capsys, "topics", "rm", "alerts")[0] == 0
    code, _, err = run(root, capsys, "topics", "rm", "alerts")
    assert code == 1 and "no topic 'alerts'" in err
    code, _, err = run(root, capsys, "topics", "subscribe", "alerts")
    assert code == 2 and "exactly one of" in err


def test_an_object_trigger_from_watch_to_rm(
    root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = root / "incoming"
    code, out, _ = run(
        root, capsys, "objects", "watch", "score", str(folder), "--suffix", ".csv", "--json"
    )
    assert code == 0
    trigger = json.loads(out)
    assert trigger["bucket"] == "incoming" and trigger["suffix"] == ".csv"
    # Only folders of the project, and never its state: refused with a clear error.
    code, _, err = run(root, capsys, "objects", "watch", "score", str(tmp_path))
    assert code == 2 and "only watch a folder under" in err
    code, _, err = run(root, capsys, "objects", "watch", "score", str(root / ".lambeam"))
    assert code == 2 and "private" in err
    code, out, _ = run(root, capsys, "objects", "ls")
    assert code == 0 and trigger["id"] in out
    assert run(root, capsys, "objects", "rm", trigger["id"])[0] == 0
    code, out, _ = run(root, capsys, "objects", "ls", "--json")
    assert json.loads(out) == []

"""The README's events tour and its lambeam.toml example work as written."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
LAMBEAM = [sys.executable, "-m", "lambeam"]
APP = "def handler(event, context):\n    return {'ok': True}\n"
HELLO = '\n[functions.hello]\ncode = "hello"\nhandler = "app.handler"\n'


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Events") : text.index("## Security")]


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", _section(), flags=re.DOTALL)


def _project(root: Path, functions: str) -> Path:
    assert _run(root, "init", str(root)).returncode == 0
    (root / "hello").mkdir()
    (root / "hello" / "app.py").write_text(APP)
    with open(root / "lambeam.toml", "a", encoding="utf-8") as config:
        config.write(functions)
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAMBEAM, "-C", str(root), *args], capture_output=True, text=True, timeout=240
    )


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    root = _project(tmp_path / "tour", HELLO)
    assert _run(root, "apply").returncode == 0
    request_id = None
    for line in _blocks("sh")[0].splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        for part in command.split("&&"):
            words = shlex.split(part)
            assert words[0] == "lambeam", line
            words = [request_id if w == "REQUEST_ID" else w for w in words[1:]]
            if words[0] == "objects":  # an s3:// location in the README: a project folder here
                words = [str(root / "incoming") if w.startswith("s3://") else w for w in words]
                (root / "incoming").mkdir(exist_ok=True)
            done = _run(root, *map(str, words))
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            if words[:2] == ["invoke", "hello"]:
                request_id = done.stdout.strip()
    shown = _run(root, "invocations", "show", str(request_id), "--json")
    assert json.loads(shown.stdout)["status"] == "queued"  # no server ran it yet


def test_the_lambeam_toml_example_applies_and_applies_again_unchanged(tmp_path: Path) -> None:
    [example] = _blocks("toml")
    root = _project(tmp_path / "declared", "\n" + example)
    first = _run(root, "apply", "--json")
    assert first.returncode == 0, first.stderr
    actions = {(a.get("kind"), a["action"]) for a in json.loads(first.stdout)}
    assert {("queues", "created"), ("topics", "created"), ("schedule", "created")} <= actions
    again = _run(root, "apply", "--json")
    assert again.returncode == 0, again.stderr
    assert {a["action"] for a in json.loads(again.stdout)} == {"unchanged"}
    schedules = _run(root, "schedules", "ls", "--json")
    assert len(json.loads(schedules.stdout)) == 2
    mappings = _run(root, "mappings", "ls", "--json")
    assert [m["batch_size"] for m in json.loads(mappings.stdout)] == [10]

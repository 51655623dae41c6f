"""`lambeam queues create | ls | show | rm | send | receive | purge` on a real project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambeam.cli import main


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = Path(tmp_path_factory.mktemp("queues")) / "proj"
    made = subprocess.run(
        [sys.executable, "-m", "lambeam", "init", str(project)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert made.returncode == 0, made.stderr
    return project


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_queue_from_create_to_rm(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(root, capsys, "queues", "create", "jobs-dlq")[0] == 0
    redrive = json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:jobs-dlq", "maxReceiveCount": 2}
    )
    code, out, _ = run(
        root, capsys, "queues", "create", "jobs", "-a", "VisibilityTimeout=0",
        "-a", f"RedrivePolicy={redrive}", "--json",
    )  # fmt: skip
    assert code == 0
    created = json.loads(out)
    assert created["attributes"]["VisibilityTimeout"] == "0"
    assert (created["dead_letter_queue"], created["max_receive_count"]) == ("jobs-dlq", 2)

    code, out, _ = run(root, capsys, "queues", "send", "jobs", '{"n": 1}', "--json")
    sent = json.loads(out)
    code, out, _ = run(root, capsys, "queues", "ls", "--json")
    listed = {q["name"]: q for q in json.loads(out)}
    assert listed["jobs"]["messages"] == {"visible": 1, "in_flight": 0, "delayed": 0}
    code, out, _ = run(root, capsys, "queues", "ls")
    assert code == 0 and "jobs-dlq (after 2)" in out

    code, out, _ = run(root, capsys, "queues", "receive", "jobs", "--max", "10", "--json")
    got = json.loads(out)
    assert [(m["MessageId"], m["Body"]) for m in got] == [(sent["MessageId"], '{"n": 1}')]
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    run(root, capsys, "queues", "receive", "jobs")
    code, out, _ = run(root, capsys, "queues", "receive", "jobs")
    assert "no message visible now" in out  # the third receive moved it to the DLQ
    code, out, _ = run(root, capsys, "queues", "receive", "jobs-dlq", "--delete", "--json")
    assert [m["MessageId"] for m in json.loads(out)] == [sent["MessageId"]]
    code, out, _ = run(root, capsys, "queues", "show", "jobs-dlq")
    assert "0 visible, 0 in flight" in out

    run(root, capsys, "queues", "send", "jobs", "later", "--delay", "900")
    code, out, _ = run(root, capsys, "queues", "purge", "jobs")
    assert "purged 1 message(s)" in out
    code, out, _ = run(root, capsys, "queues", "rm", "jobs")
    assert code == 0
    code, _, err = run(root, capsys, "queues", "show", "jobs")
    assert code != 0 and "does not exist" in err


def test_bad_input_is_one_clear_error(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(root, capsys, "queues", "create", "x", "-a", "VisibilityTimeout=99999")
    assert code != 0 and "VisibilityTimeout" in err
    code, _, err = run(root, capsys, "queues", "create", "x", "-a", "novalue")
    assert code != 0 and "Name=value" in err
    run(root, capsys, "queues", "create", "small", "-a", "MaximumMessageSize=1024")
    code, _, err = run(root, capsys, "queues", "send", "small", "x" * 1025)
    assert code != 0 and "shorter than 1024 bytes" in err

"""`lambeam keys create | ls | rm | policy` on a real project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambeam.cli import main

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:lambda:*:*:function:admin*"},
    ],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = Path(tmp_path_factory.mktemp("keys")) / "proj"
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


def test_create_with_a_policy_list_show_clear_and_disable(
    root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    code, out, _ = run(
        root, capsys, "keys", "create", "ci", "--role", "invoker", "--policy", str(policy_file),
        "--json",
    )  # fmt: skip
    assert code == 0
    created = json.loads(out)
    key_id, secret = created["id"], created["secret"]
    assert key_id.startswith("LBAK") and len(secret) == 40
    assert created["role"] == "invoker" and created["policy"] == POLICY

    code, out, _ = run(root, capsys, "keys", "ls", "--json")
    listed = {k["id"]: k for k in json.loads(out)}
    assert listed[key_id]["policy"] == POLICY and listed[key_id]["enabled"]
    assert secret not in out  # shown once, at creation

    code, out, _ = run(root, capsys, "keys", "policy", key_id, "--json")
    assert json.loads(out)["policy"] == POLICY

    code, out, _ = run(root, capsys, "keys", "policy", key_id, "--clear", "--json")
    shown = json.loads(out)
    assert shown["policy"] is None and shown["acts_by"] == "role invoker"

    inline = json.dumps({**POLICY, "Statement": POLICY["Statement"][:1]})
    code, out, _ = run(root, capsys, "keys", "policy", key_id, "--set", inline, "--json")
    assert code == 0 and json.loads(out)["policy"]["Statement"] == POLICY["Statement"][:1]

    code, out, _ = run(root, capsys, "keys", "rm", key_id)
    assert code == 0 and key_id in out
    code, out, _ = run(root, capsys, "keys", "ls", "--json")
    assert not {k["id"]: k for k in json.loads(out)}[key_id]["enabled"]

    code, out, _ = run(root, capsys, "audit", "ls", "--json", "--resource", f"key:{key_id}")
    actions = [entry["action"] for entry in json.loads(out)]
    assert actions.count("keys:PutKeyPolicy") == 2 and "keys:DeleteKeyPolicy" in actions
    assert run(root, capsys, "audit", "verify")[0] == 0


def test_create_prints_the_secret_once_in_text(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(root, capsys, "keys", "create", "laptop")
    assert code == 0 and "aws_secret_access_key = " in out and "shown this once" in err
    assert run(root, capsys, "keys", "ls")[0] == 0
    code, out, _ = run(root, capsys, "keys", "ls", "--json")
    laptop = next(k for k in json.loads(out) if k["name"] == "laptop")
    assert laptop["role"] == "admin" and laptop["policy"] is None


def test_a_bad_policy_is_refused_naming_the_field_and_no_key_is_made(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]})
    code, _, err = run(root, capsys, "keys", "create", "broken", "--policy", bad)
    assert code == 2 and "Statement[0].Resource" in err
    code, out, _ = run(root, capsys, "keys", "ls", "--json")
    assert "broken" not in [k["name"] for k in json.loads(out)]
    code, _, err = run(
        root, capsys, "keys", "policy", "LBAKNOSUCHKEYNOSUCHK", "--set", "missing.json"
    )
    assert code != 0 and "missing.json" in err
    code, _, err = run(root, capsys, "keys", "policy", "LBAKNOSUCHKEYNOSUCHK")
    assert code != 0 and "LBAKNOSUCHKEYNOSUCHK" in err

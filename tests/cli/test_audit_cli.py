"""`lambeam audit ls | verify` as a user runs them, in subprocesses, on a project changed through
the CLI (deploy, publish, alias set, train, models alias) and then tampered with by sqlite3."""

from __future__ import annotations

import getpass
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.test_cli import DATA, TOML, lambeam

pytestmark = pytest.mark.xdist_group("cli-audit")

FUNCTION = '\n[functions.hello]\ncode = "hello"\nhandler = "app.handler"\n'
APP = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit")
    lambeam(root, "init", ".")
    (root / "lambeam.toml").write_text(TOML.split("[train.forest]")[0] + FUNCTION)
    (root / "data").mkdir()
    shutil.copy(DATA / "penguins.csv", root / "data" / "penguins.csv")
    (root / "hello").mkdir()
    (root / "hello" / "app.py").write_text(APP)
    lambeam(root, "deploy", "hello")
    lambeam(root, "invoke", "hello", "--payload", '{"name": "a"}')
    lambeam(root, "functions", "publish", "hello")
    lambeam(root, "functions", "alias", "set", "hello", "prod", "1")
    lambeam(root, "pipeline", "run", "penguins")
    lambeam(root, "train", "logreg")
    lambeam(root, "models", "alias", "set", "penguins", "prod", "1")
    return root


def _entries(root: Path) -> list[dict[str, object]]:
    return json.loads(lambeam(root, "audit", "ls", "--json").stdout)


def test_every_change_made_through_the_cli_is_in_the_log(changed: Path) -> None:
    found = _entries(changed)
    ours = [e for e in found if str(e["action"]).startswith(("lambda:", "models:"))]
    assert [(e["action"], e["resource"]) for e in ours] == [
        ("lambda:CreateFunction", "function:hello"),
        ("lambda:PublishVersion", "function:hello:1"),
        ("lambda:CreateAlias", "function:hello:prod"),
        ("models:RegisterModelVersion", "model:penguins:1"),
        ("models:SetAlias", "model:penguins@prod"),
    ]
    assert {e["actor"] for e in ours} == {f"user:{getpass.getuser()}"}
    assert [e["seq"] for e in found] == list(range(1, len(found) + 1))
    only = json.loads(
        lambeam(changed, "audit", "ls", "--resource", "model:penguins", "--json").stdout
    )
    assert [e["action"] for e in only] == ["models:RegisterModelVersion", "models:SetAlias"]
    table = lambeam(changed, "audit", "ls").stdout
    assert "lambda:PublishVersion" in table and "function:hello:1" in table
    ok = lambeam(changed, "audit", "verify")
    assert f"audit log intact: {len(found)} entries" in ok.stdout


def test_functions_rm_is_audited_and_removes_its_logs_and_code(changed: Path) -> None:
    state = changed / ".lambeam"
    assert (state / "logs" / "hello.log").exists()
    assert any((state / "functions" / "code").iterdir())
    lambeam(changed, "functions", "rm", "hello")
    assert not (state / "logs" / "hello.log").exists()
    assert not any((state / "functions" / "code").iterdir())
    last = _entries(changed)[-1]
    assert (last["action"], last["resource"]) == ("lambda:DeleteFunction", "function:hello")
    assert last["details"] == {"versions": [1], "aliases": ["prod"]}


def test_verify_exits_1_naming_an_edited_removed_or_cut_off_entry(changed: Path) -> None:
    database = changed / ".lambeam" / "lambeam.db"
    assert lambeam(changed, "audit", "verify", check=False).returncode == 0
    count = len(_entries(changed))

    def tamper(sql: str) -> str:
        with sqlite3.connect(database) as connection:
            connection.execute(sql)
        failed = lambeam(changed, "audit", "verify", check=False)
        assert failed.returncode == 1, failed.stdout
        assert "audit log NOT intact" in failed.stderr
        return " ".join(failed.stderr.split())

    edited = tamper("""UPDATE audit_log SET details = '{"versions": []}' WHERE seq = 2""")
    assert "entry 2 was changed after it was written" in edited
    assert "entry 3" not in edited
    removed = tamper("DELETE FROM audit_log WHERE seq = 3")
    assert "entry 3 is missing" in removed and "entry 4 does not follow" in removed
    cut = tamper(f"DELETE FROM audit_log WHERE seq = {count}")
    assert f"the log ends at entry {count - 1} but its head names entry {count}" in cut
    report = json.loads(lambeam(changed, "audit", "verify", "--json", check=False).stdout)
    assert report["ok"] is False and len(report["problems"]) == 4

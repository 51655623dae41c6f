"""The audit log's hash chain on each backend: appends commit with their change, `verify` names
an edited, removed or inserted entry and a cut tail, and concurrent writers (threads, processes)
never fork the chain."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from lambeam.storage import Database, as_utc
from lambeam.storage.audit import GENESIS, acting_as, entries, record, verify
from lambeam.storage.sealing import MasterKey, Sealer

WRITES = 15  # per writer


def _append(db: Database, count: int, who: str) -> None:
    for i in range(count):
        with db.session() as session:
            record(session, "test:Write", f"thing:{who}:{i}", {"i": i}, actor=who)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def test_an_entry_commits_with_its_change_and_rolls_back_with_it(db: Database) -> None:
    with db.session() as session:
        record(session, "lambda:CreateFunction", "function:hello", {"code_sha256": "ab" * 32})
    with pytest.raises(RuntimeError), db.session() as session:
        record(session, "lambda:DeleteFunction", "function:hello")
        raise RuntimeError("the change failed")
    found = entries(db)
    assert [(e.seq, e.action, e.resource) for e in found] == [
        (1, "lambda:CreateFunction", "function:hello")
    ]
    assert found[0].actor.startswith("user:")
    with acting_as("key:LBAK1 (ci)"), db.session() as session:
        record(session, "lambda:PublishVersion", "function:hello:1", {"n": float("nan")})
    last = entries(db)[-1]
    assert (last.seq, last.actor, last.details) == (2, "key:LBAK1 (ci)", {"n": None})
    assert last.prev_hash == found[0].hash
    assert verify(db).ok


def test_a_long_actor_fits_its_column_and_still_verifies(db: Database) -> None:
    with acting_as("key:" + "x" * 500), db.session() as session:
        record(session, "test:Write", "thing:" + "y" * 1000, {"text": "é" * 50})
    entry = entries(db)[0]
    assert len(entry.actor) == 200 and len(entry.resource) == 400
    assert verify(db).ok


def test_a_resource_filter_takes_qualifiers_but_not_longer_names(db: Database) -> None:
    with db.session() as session:
        for resource in ("function:hello", "function:hello:1", "function:hello2", "model:a@prod"):
            record(session, "test:Write", resource)
    assert [e.resource for e in entries(db, resource_prefix="function:hello")] == [
        "function:hello",
        "function:hello:1",
    ]
    assert len(entries(db, resource_prefix="function:")) == 3
    assert [e.resource for e in entries(db, resource_prefix="model:a")] == ["model:a@prod"]
    assert [e.seq for e in entries(db, limit=2)] == [3, 4]


def _tamper(db: Database, sql: str) -> list[str]:
    with db.engine.begin() as connection:
        connection.execute(text(sql))
    report = verify(db)
    assert not report.ok
    return list(report.problems)


def test_verify_names_an_edited_a_removed_and_a_cut_off_entry(db: Database) -> None:
    _append(db, 6, "a")
    assert verify(db).ok and verify(db).entries == 6
    edited = _tamper(db, """UPDATE audit_log SET details = '{"i": 99}' WHERE seq = 2""")
    assert edited == ["entry 2 was changed after it was written"]
    with db.engine.begin() as connection:
        connection.execute(text("""UPDATE audit_log SET details = '{"i": 1}' WHERE seq = 2"""))
    assert verify(db).ok  # the original details, as written

    removed = _tamper(db, "DELETE FROM audit_log WHERE seq = 4")
    assert "entry 4 is missing" in removed
    assert "entry 5 does not follow the entry before it" in removed

    cut = _tamper(db, "DELETE FROM audit_log WHERE seq = 6")
    assert any("ends at entry 5 but its head names entry 6" in p for p in cut)


def test_concurrent_threads_keep_one_chain(db: Database) -> None:
    writers = [threading.Thread(target=_append, args=(db, WRITES, f"t{n}")) for n in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    report = verify(db)
    assert report.ok, report.problems
    assert [e.seq for e in entries(db)] == list(range(1, 2 * WRITES + 1))
    assert {e.actor for e in entries(db)} == {"t0", "t1"}


_WRITER = """
import sys
from lambeam.storage import Database
from lambeam.storage.audit import record
db = Database(sys.argv[1])
for i in range(int(sys.argv[2])):
    with db.session() as session:
        record(session, "test:Write", f"thing:{sys.argv[3]}:{i}", {"i": i}, actor=sys.argv[3])
"""


def test_concurrent_processes_keep_one_chain(db: Database, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, db.url, str(WRITES), f"p{n}"], cwd=root)
        for n in range(2)
    ]
    assert [writer.wait(180) for writer in writers] == [0, 0]
    report = verify(db)
    assert report.ok, report.problems
    assert [e.seq for e in entries(db)] == list(range(1, 2 * WRITES + 1))
    assert {e.actor for e in entries(db)} == {"p0", "p1"}


def test_a_chain_rewritten_without_the_master_key_is_detected(tmp_path: Path) -> None:
    """Found in review: an entry edited and every hash after it recomputed (plain SHA-256, as
    whoever can write the database can) passed verify; with the project's key it is named."""
    value = base64.b64encode(b"k" * 32).decode()
    key = MasterKey(value=value, origin="test")
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    db = Database(url, sealer=Sealer(key))
    _append(db, 3, "alice")
    assert verify(db).ok
    with db.engine.begin() as connection:
        rows = connection.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
        prev = GENESIS
        for row in rows:
            body = {
                "seq": row["seq"],
                "at": as_utc(datetime.fromisoformat(str(row["at"]))).isoformat(
                    timespec="microseconds"
                ),
                "actor": "bob",
                "action": row["action"],
                "resource": row["resource"],
                "details": json.loads(row["details"]),
            }
            text_ = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            digest = hashlib.sha256(f"{prev}\n{text_}".encode()).hexdigest()
            connection.execute(
                text("UPDATE audit_log SET actor='bob', prev_hash=:p, hash=:h WHERE seq=:s"),
                {"p": prev, "h": digest, "s": row["seq"]},
            )
            prev = digest
        connection.execute(text("UPDATE audit_head SET hash=:h"), {"h": prev})
    report = verify(db)
    assert not report.ok
    assert "entry 1 is not keyed with this project's master key" in report.problems[0]
    # Another process with the same key verifies the untouched chain of a fresh database.
    fresh = Database(f"sqlite:///{tmp_path / 'other.db'}", sealer=Sealer(key))
    _append(fresh, 2, "carol")
    again = Database(fresh.url, sealer=Sealer(MasterKey(value=value, origin="test")))
    assert verify(again).ok
    other = MasterKey(value=base64.b64encode(b"o" * 32).decode(), origin="test")
    assert not verify(Database(fresh.url, sealer=Sealer(other))).ok
    for database in (db, fresh, again):
        database.dispose()

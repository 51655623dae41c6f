"""kill -9 of `lambeam server` with 5,000 asynchronous events queued or running, then a restart:
every accepted event is processed at least once (issue 13), on SQLite and PostgreSQL.

The handler appends its request id to a file (instance isolation is off for this server, so
that it can write there); every id the Lambda API answered 202 with must be in it at the end,
and every event's `invocations` row must say it succeeded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from sqlalchemy import func, select

from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.project import Project
from lambeam.security import AccessKey, create_access_key
from lambeam.storage.schema import InvocationRow
from tests.server.conftest import zip_of
from tests.services import free_port

LAMBEAM = [sys.executable, "-m", "lambeam"]
EVENTS = 5000
HANDLER = """\
import os
import time

def handler(event, context):
    time.sleep(0.1)
    with open(os.environ["OUT_FILE"], "a") as out:
        out.write(context.aws_request_id + "\\n")
    return {"n": event["n"]}
"""
_BOTO = Config(
    retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60, max_pool_connections=16
)


@contextmanager
def _server(root: Path, environ: dict[str, str], log: Path) -> Iterator[tuple[str, Any]]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while not _ready(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(60)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as answer:
            return bool(json.loads(answer.read()).get("status") == "ready")
    except (OSError, ValueError):
        return False


def _client(url: str, key: AccessKey) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key.id,
        aws_secret_access_key=key.secret,
        config=_BOTO,
    )


def _processed(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {line for line in out.read_text().splitlines() if line}


def test_kill_9_with_5000_events_queued_or_running_then_restart_loses_none(
    tmp_path: Path, database_url: str
) -> None:
    root, out = tmp_path / "proj", tmp_path / "processed.txt"
    environ = {
        **os.environ,
        "LAMBEAM_DATABASE_URL": database_url,
        "LAMBEAM_ISOLATION": "off",
        "LAMBEAM_EVENTS_POLL_INTERVAL": "0.1",
    }
    done = subprocess.run(
        [*LAMBEAM, "init", str(root)], capture_output=True, timeout=240, env=environ
    )
    assert done.returncode == 0, done.stderr
    project = Project.open(root, environ)
    try:
        create_function(
            project.db,
            project.store,
            "record",
            FunctionConfig(
                kind="code", handler="app.handler", timeout_s=3, environment={"OUT_FILE": str(out)}
            ),
            code=CodeBundle.from_zip(zip_of({"app.py": HANDLER})),
        )
        key = create_access_key(project.db, "kill-test")
        log = tmp_path / "server.log"
        with _server(root, environ, log) as (url, process):
            client = _client(url, key)

            def accept(n: int) -> str:
                answer = client.invoke(
                    FunctionName="record",
                    InvocationType="Event",
                    Payload=json.dumps({"n": n}).encode(),
                )
                assert answer["StatusCode"] == 202
                return str(answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])

            with ThreadPoolExecutor(16) as pool:
                accepted = set(pool.map(accept, range(EVENTS)))
            assert len(accepted) == EVENTS
            deadline = time.monotonic() + 120
            while len(_processed(out)) < 200:  # some ran, most are queued or running
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        at_kill = _processed(out)
        assert len(at_kill) < EVENTS, "every event ran before the kill: nothing was tested"

        with _server(root, environ, log):
            deadline = time.monotonic() + 300
            while not accepted <= _processed(out):
                assert time.monotonic() < deadline, (
                    f"{len(accepted - _processed(out))} accepted events never ran"
                )
                time.sleep(0.2)
            while True:  # and each one's record says so (the last settles just after)
                with project.db.session() as session:
                    succeeded = session.scalar(
                        select(func.count())
                        .select_from(InvocationRow)
                        .where(InvocationRow.function == "record")
                        .where(InvocationRow.status == "succeeded")
                    )
                if succeeded == EVENTS:
                    break
                assert time.monotonic() < deadline, f"{succeeded} of {EVENTS} rows succeeded"
                time.sleep(0.2)
        assert _processed(out) == accepted  # nothing ran that was not accepted
    finally:
        project.close()

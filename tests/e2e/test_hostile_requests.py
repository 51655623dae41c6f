"""Hostile requests and code against a running `lambeam server` (issue 12, findings 2, 3, 6).

One bad sender among good ones fails only its own requests; a 100k-entry zip and a zip bomb are
refused through boto3, quickly and by name; a cached bundle that was tampered with is unpacked
again before a function runs it. The stall a large deploy causes is measured and printed.
"""

from __future__ import annotations

import base64
import configparser
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sklearn.linear_model import LogisticRegression

from lambeam.functions import CodeBundle, FunctionConfig, create_function
from lambeam.functions.config import Batching
from lambeam.project import Project
from tests.inference.conftest import CLASSIFIER_OUTPUTS, HELD_OUT, TRAIN
from tests.inference.hostile import HOSTILE, good_body
from tests.registry.fitted import class_labels, fitted, register, signature
from tests.services import free_port

LAMBEAM = [sys.executable, "-m", "lambeam"]
ECHO = (
    "def handler(event, context):\n"
    "    if isinstance(event, dict) and event.get('fail'):\n"
    "        raise ValueError('asked to fail')\n"
    "    return {'echo': event, 'code': 'VERSION'}\n"
)
_BOTO = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)


def code_zip(version: str = "one", extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", ECHO.replace("VERSION", version))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Served:
    """A `lambeam server` subprocess over a project with a model function `churn` and a code
    function `echo`, and the project's admin key."""

    root: Path
    url: str
    key_id: str
    secret: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: bytes, timeout: float = 60) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.key_id}:{self.secret}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def invoke(self, name: str, body: bytes, qualifier: str | None = None) -> tuple[int, bytes]:
        query = f"?qualifier={qualifier}" if qualifier else ""
        return self.post(f"/v1/functions/{name}/invoke{query}", body)

    def lambda_client(self) -> Any:
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            config=_BOTO,
        )


@contextmanager
def serve_project(root: Path) -> Iterator[Served]:
    """`lambeam init`, a model and two functions, then `lambeam server` on a free port."""
    done = subprocess.run([*LAMBEAM, "init", str(root)], capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr
    project = Project.open(root)
    try:
        register(
            project.db,
            project.store,
            fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN)),
            model="churn",
            task="classification",
            sample=HELD_OUT,
            sig=signature(CLASSIFIER_OUTPUTS),
        )
        batching = Batching(max_batch_size=16, max_wait_ms=2)
        config = FunctionConfig(kind="model", batching=batching)
        create_function(project.db, project.store, "churn", config, model="churn:1")
        code = FunctionConfig(kind="code", handler="app.handler")
        create_function(project.db, project.store, "echo", code, CodeBundle.from_zip(code_zip()))
    finally:
        project.close()
    credentials = configparser.ConfigParser()
    credentials.read(root / ".lambeam" / "credentials")
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while not _answers(f"http://127.0.0.1:{port}/v1/health"):
            assert process.poll() is None, (root / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield Served(
            root,
            f"http://127.0.0.1:{port}",
            credentials["lambeam"]["aws_access_key_id"],
            credentials["lambeam"]["aws_secret_access_key"],
            process,
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_project(Path(tmp_path_factory.mktemp("hostile")) / "proj") as running:
        yield running


def _answer(status: int, body: bytes) -> Any:
    assert status == 200, body
    return json.loads(body)


def test_one_bad_sender_fails_none_of_the_good_ones(served: Served) -> None:
    """6 good senders and 1 sending every hostile body, for 4 s: every good request answered
    with its own prediction, every bad one with the 400 it gets alone."""
    alone = {name: served.invoke("churn", body) for name, body in HOSTILE.items()}
    for name, (status, body) in alone.items():
        assert status in (200, 400), (name, status, body[:300])
        if status == 400:
            assert json.loads(body)["error"]["type"] == "InvalidInputError", (name, body[:300])
    assert alone["int of 5,000 digits"][0] == 400
    expected = {age: _answer(*served.invoke("churn", good_body(age))) for age in range(20, 80)}
    stop = time.monotonic() + 4
    failures: list[str] = []
    counts = {"good": 0, "bad": 0}
    lock = threading.Lock()

    def good(seed: int) -> None:
        age = 20 + seed
        while time.monotonic() < stop:
            status, body = served.invoke("churn", good_body(age))
            with lock:
                counts["good"] += 1
                if status != 200 or json.loads(body) != expected[age]:
                    failures.append(f"good age {age}: {status} {body[:200]!r}")
            age = 20 + (age - 19) % 60

    def bad() -> None:
        names = list(HOSTILE)
        index = 0
        while time.monotonic() < stop:
            name = names[index % len(names)]
            index += 1
            got = served.invoke("churn", HOSTILE[name])
            with lock:
                counts["bad"] += 1
                if got != alone[name]:
                    failures.append(f"bad {name}: {got[0]} {got[1][:200]!r} != {alone[name]}")

    threads = [threading.Thread(target=good, args=(k * 10,)) for k in range(6)]
    threads.append(threading.Thread(target=bad))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    print(f"\n{counts['good']} good and {counts['bad']} hostile requests, {len(failures)} wrong")
    assert failures == []
    assert counts["good"] > 0 and counts["bad"] > len(HOSTILE)


def _many_entries(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", ECHO)
        for index in range(count):
            archive.writestr(f"pkg/m{index}.py", b"")
    return buffer.getvalue()


def _bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("app.py", ECHO)
        with archive.open("data.bin", "w", force_zip64=True) as handle:
            chunk = b"\0" * (1 << 22)
            for _ in range(size // len(chunk)):
                handle.write(chunk)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("zipped", "message"),
    [
        (lambda: _many_entries(100_000), r"has 100,001 entries, more than lambeam's limit"),
        (lambda: _bomb(200 << 20), r"entry 'data\.bin' unpacks [\d,]+ times its compressed size"),
        (lambda: _bomb(1 << 30), r"250 MB limit \(at entry 'data\.bin'\)"),
    ],
    ids=["100k entries", "zip bomb of 200 MB", "zip bomb of 1 GB"],
)
def test_hostile_zips_are_refused_by_name_through_boto3(
    served: Served, zipped: Any, message: str
) -> None:
    client = served.lambda_client()
    data = zipped()
    started = time.monotonic()
    with pytest.raises(ClientError, match=message) as raised:
        client.create_function(
            FunctionName="hostile",
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/lambeam",
            Handler="app.handler",
            Code={"ZipFile": data},
        )
    took = time.monotonic() - started
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    print(f"\n{len(data):,}-byte zip refused in {took:.2f} s: {raised.value}")
    with pytest.raises(ClientError, match="Function not found"):
        client.get_function(FunctionName="hostile")
    assert _answer(*served.invoke("echo", b'{"x": 1}')) == {"echo": {"x": 1}, "code": "one"}


def test_a_large_deploy_leaves_other_invocations_answering(served: Served) -> None:
    """A legitimate 40 MB zip deployed while another function is invoked in a loop: the
    invocations go on (the worst latency is printed, not asserted)."""
    incompressible = os.urandom(40 << 20)
    data = code_zip("big", {"weights.bin": incompressible})
    latencies: list[float] = []
    deploying = threading.Event()
    finished = threading.Event()

    def invoke_loop() -> None:
        deadline = time.monotonic() + 120
        while not finished.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            answer = _answer(*served.invoke("echo", b'{"x": 1}'))
            if deploying.is_set():
                latencies.append(time.monotonic() - started)
            assert answer["code"] == "one"

    baseline = []
    for _ in range(20):
        started = time.monotonic()
        _answer(*served.invoke("echo", b"{}"))
        baseline.append(time.monotonic() - started)
    loop = threading.Thread(target=invoke_loop)
    loop.start()
    client = served.lambda_client()
    deploying.set()
    started = time.monotonic()
    try:
        created = client.create_function(
            FunctionName="big",
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/lambeam",
            Handler="app.handler",
            Code={"ZipFile": data},
        )
    finally:
        took = time.monotonic() - started
        finished.set()
        loop.join(150)
    assert created["CodeSize"] > 40 << 20
    assert _answer(*served.invoke("big", b"{}")) == {"echo": {}, "code": "big"}
    assert latencies, "no invocation ran during the deploy"
    print(
        f"\n40 MB deploy took {took:.2f} s; {len(latencies)} invocations meanwhile, worst"
        f" {max(latencies) * 1000:.0f} ms, median {sorted(latencies)[len(latencies) // 2] * 1000:.0f}"
        f" ms (alone: worst {max(baseline) * 1000:.0f} ms,"
        f" median {sorted(baseline)[len(baseline) // 2] * 1000:.0f} ms)"
    )


def test_a_tampered_code_cache_is_unpacked_again(served: Served) -> None:
    """Rewriting a cached bundle's app.py (as a handler could) changes nothing another function
    with the same bytes, or a published version, answers."""
    client = served.lambda_client()
    data = code_zip("mine")
    created = client.create_function(
        FunctionName="victim",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": data},
    )
    assert _answer(*served.invoke("victim", b"{}"))["code"] == "mine"  # unpacked now
    digest = base64.b64decode(created["CodeSha256"]).hex()
    cached = served.root / ".lambeam" / "functions" / "code" / digest
    app = cached / "app.py"
    assert app.is_file() and (app.stat().st_mode & 0o777) == 0o444
    cached.chmod(0o755)
    app.chmod(0o644)
    app.write_text("def handler(event, context):\n    return {'code': 'attacker'}\n")
    client.create_function(
        FunctionName="same-bytes",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": data},
    )
    assert _answer(*served.invoke("same-bytes", b"{}"))["code"] == "mine"
    app.chmod(0o644)
    cached.chmod(0o755)
    app.write_text("def handler(event, context):\n    return {'code': 'attacker'}\n")
    client.publish_version(FunctionName="victim")
    assert _answer(*served.invoke("victim", b"{}", "1"))["code"] == "mine"
    assert "attacker" not in app.read_text()

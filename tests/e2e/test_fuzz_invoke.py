"""A seeded, time-bounded fuzz of the invoke paths (issue 12): REST and the Lambda Invoke API, a
model function and a code function, hostile bodies interleaved with good requests from several
threads. No answer may be a server error (>= 500) other than the code function's own error,
raised on purpose, and every good request gets its own answer."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_hostile_requests import Served, serve_project
from tests.inference.hostile import good_body, random_hostile

SEED = 20261212
SECONDS = 12  # in all, for the four paths together
THREADS = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_project(Path(tmp_path_factory.mktemp("fuzz")) / "proj") as running:
        yield running


def _lambda_invoke(client: Any, name: str, body: bytes) -> tuple[int, bytes, str | None]:
    try:
        response = client.invoke(FunctionName=name, Payload=body)
    except ClientError as exc:
        meta = exc.response["ResponseMetadata"]
        return meta["HTTPStatusCode"], json.dumps(exc.response["Error"]).encode(), None
    return response["StatusCode"], response["Payload"].read(), response.get("FunctionError")


def test_fuzzing_the_invoke_paths_finds_no_server_error(served: Served) -> None:
    expected = {age: served.invoke("churn", good_body(age)) for age in range(20, 80)}
    assert all(status == 200 for status, _ in expected.values())
    problems: list[str] = []
    counts = {"good": 0, "hostile": 0}
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        bodies = random_hostile(rng)
        client = served.lambda_client()
        while time.monotonic() < stop:
            path = rng.choice(["rest-model", "rest-code", "lambda-model", "lambda-code"])
            function = "churn" if path.endswith("model") else "echo"
            hostile = rng.random() < 0.5
            if hostile:
                body = next(bodies)
            elif function == "churn":
                age = rng.randrange(20, 80)
                body = good_body(age)
            else:
                body = json.dumps({"n": rng.randrange(1 << 30)}).encode()
            if path.startswith("rest"):
                status, answer = served.invoke(function, body)
                own_error = function == "echo" and status == 502
            else:
                status, answer, function_error = _lambda_invoke(client, function, body)
                own_error = function_error is not None
            problem = None
            if status >= 500 and not (own_error and b"asked to fail" in answer):
                problem = f"{path} {status} for {body[:80]!r}: {answer[:300]!r}"
            elif not hostile and function == "churn" and answer != expected[age][1]:
                problem = f"{path} good age {age}: {status} {answer[:300]!r}"
            elif (
                not hostile
                and function == "echo"
                and json.loads(answer)
                != {
                    "echo": json.loads(body),
                    "code": "one",
                }
            ):
                problem = f"{path} good {body!r}: {status} {answer[:300]!r}"
            with lock:
                counts["hostile" if hostile else "good"] += 1
                if problem is not None:
                    problems.append(problem)

    threads = [threading.Thread(target=worker, args=(SEED + k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 120)
    print(f"\nfuzz: {counts['good']} good, {counts['hostile']} hostile, {len(problems)} problems")
    assert problems == [], "\n".join(problems[:20])
    assert counts["good"] > 0 and counts["hostile"] > 0
    # The code function's own error is the only 5xx, and it is its own.
    status, answer = served.invoke("echo", b'{"fail": true}')
    assert status == 502 and b"asked to fail" in answer

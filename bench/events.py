"""Benchmark: asynchronous invocations (InvocationType Event) accepted and run, SQLite and PostgreSQL.

    .venv/bin/python bench/events.py            # 10 s per load phase
    .venv/bin/python bench/events.py --quick    # 2 s per load phase, under a minute

One no-op code function (`def handler(event, context): return None`), one `lambeam server` per
database (a project on SQLite, then one on a fresh schema of the PostgreSQL at
127.0.0.1:5432/test), the serving benchmark's load generator (bench/_load.py, a process of its
own) with 32 keep-alive connections to the Lambda API's Invoke route, every request signed with
Signature V4 as boto3 signs it (the signature is valid for 15 minutes, so one signed request is
sent again and again). Measured, on each database:

- `sync_per_s`: synchronous invokes (RequestResponse) answered per second;
- `accepted_per_s`: asynchronous invokes (Event) answered 202 per second, each committed to the
  durable queue before its answer, while the dispatcher runs what was accepted before it;
- `processed_per_s`: every event of that phase (its warm-up and the ones in flight when it ended
  included) from the first accept (the earliest `enqueued_at`) until the last `invocations` row
  says succeeded (the latest `updated_at`), per second: the accept path and the dispatcher end
  to end, on the same two cores as the load generator.

`accepted_over_sync` is SQLite's accepted over its synchronous invokes per second, in the same
run. Progress goes to stderr; the last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # the wall time includes these imports

import argparse
import configparser
import json
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import create_engine, text

from bench import _serving
from bench._serving import Server, load, running, say
from lambeam.config import load_settings
from lambeam.functions.apply import apply
from lambeam.project import Project, init_project

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONNECTIONS = 32
FUNCTION = "noop"
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
BODY = '{"n": 1}'
SUCCEEDED = "succeeded"  # an invocation row's status once its run succeeded
# The targets: (figure, comparison, bound).
TARGETS = [
    ("accepted_per_s_sqlite", ">=", 3000.0),
    ("processed_per_s_sqlite", ">=", 1500.0),
    ("processed_per_s_pg", ">=", 1000.0),
    ("accepted_over_sync", ">=", 1.0),
]

_TOML = """\
[project]
name = "bench-events"
{storage}
[functions.{function}]
code = "noop"
handler = "app.handler"
"""
_NOOP = "def handler(event, context):\n    return None\n"

_serving.STARTED = _STARTED  # progress lines count from this script's start


@dataclass
class Setup:
    """A project the gateway serves, the access key that signs its calls, and its database."""

    root: Path
    key_id: str
    secret: str
    database_url: str


def build_project(root: Path, database_url: str | None) -> Setup:
    """A project with the no-op function, on `database_url` (SQLite in the project if None)."""
    (root / "noop").mkdir(parents=True)
    (root / "noop" / "app.py").write_text(_NOOP)
    storage = "" if database_url is None else f'\n[storage]\ndatabase_url = "{database_url}"\n'
    (root / "lambeam.toml").write_text(_TOML.format(storage=storage, function=FUNCTION))
    init_project(root).close()
    project = Project.open(root)
    try:
        apply(project)
    finally:
        project.close()
    credentials = configparser.ConfigParser()
    credentials.read(root / ".lambeam" / "credentials")
    profile = credentials["lambeam"]
    return Setup(
        root,
        profile["aws_access_key_id"],
        profile["aws_secret_access_key"],
        load_settings(root).database_url,
    )


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema of the PostgreSQL at POSTGRES_URL (as tests/services.py makes one for a
    test); yields a URL whose search_path is that schema, and drops the schema after."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def signed_headers(setup: Setup, server: Server, invocation_type: str) -> list[str]:
    """The headers of a Lambda Invoke of BODY, signed as boto3 signs it (X-Amz-Invocation-Type
    included, as the gateway requires of a header that changes what a call does)."""
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{server.port}{INVOKE_PATH}",
        data=BODY.encode(),
        headers={"X-Amz-Invocation-Type": invocation_type},
    )
    SigV4Auth(Credentials(setup.key_id, setup.secret), "lambda", "us-east-1").add_auth(request)
    return [f"{name}: {value}" for name, value in request.headers.items()]


def invocation_counts(database_url: str) -> dict[str, Any]:
    """The asynchronous invocations recorded so far: how many by status, the first accept and
    the last update of a succeeded one (seconds since the epoch)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT status, count(*), min(enqueued_at), max(updated_at)"
                    " FROM invocations GROUP BY status"
                )
            ).all()
    finally:
        engine.dispose()
    statuses = {status: count for status, count, _first, _last in rows}
    firsts = [first for _s, _c, first, _l in rows if first is not None]
    last = next((last for status, _c, _f, last in rows if status == SUCCEEDED), None)
    return {
        "statuses": statuses,
        "total": sum(statuses.values()),
        "first_accept": min(firsts) if firsts else None,
        "last_success": last,
    }


def drain(database_url: str, timeout_s: float) -> dict[str, Any]:
    """Wait (at most `timeout_s`) until every recorded invocation has succeeded; the events
    processed per second from the first accept to the last success."""
    deadline = time.monotonic() + timeout_s
    counts = invocation_counts(database_url)
    while time.monotonic() < deadline:
        if counts["statuses"].get(SUCCEEDED, 0) == counts["total"]:
            break
        time.sleep(0.25)
        counts = invocation_counts(database_url)
    succeeded = counts["statuses"].get(SUCCEEDED, 0)
    drained = succeeded == counts["total"] > 0
    if drained:
        span = counts["last_success"] - counts["first_accept"]
    else:  # not all done in time: what succeeded, over the time waited
        span = time.time() - (counts["first_accept"] or time.time())
    rate = round(succeeded / span, 1) if span > 0 else 0.0
    say(
        f"  processed {succeeded:,} of {counts['total']:,} events in {span:.2f}s:"
        f" {rate:9.1f} events/s" + ("" if drained else f"  NOT DRAINED {counts['statuses']}")
    )
    return {
        "processed_per_s": rate,
        "events": counts["total"],
        "succeeded": succeeded,
        "drained": drained,
        "processed_span_s": round(span, 2),
        "statuses": counts["statuses"],
    }


def measure(
    setup: Setup, workdir: Path, label: str, seconds: float, warmup: float, drain_s: float
) -> dict[str, Any]:
    """Synchronous invokes, then asynchronous accepts, then their processing, on one server."""
    figures: dict[str, Any] = {}
    with running(
        "lambeam", ["--project", str(setup.root)], workdir, "/v1/health", label=f"lambeam-{label}"
    ) as server:
        sync = signed_headers(setup, server, "RequestResponse")
        event = signed_headers(setup, server, "Event")
        raw = load(server, INVOKE_PATH, BODY, CONNECTIONS, seconds, warmup, 15.0, sync, 200, None)
        figures["sync_per_s"] = raw["rps"]
        figures["sync_p50_ms"] = raw["p50_ms"]
        before = invocation_counts(setup.database_url)["total"]
        if before:
            raise SystemExit(f"{label}: {before} asynchronous invocations before the Event phase")
        raw = load(server, INVOKE_PATH, BODY, CONNECTIONS, seconds, warmup, 15.0, event, 202, None)
        figures["accepted_per_s"] = raw["rps"]
        figures["accepted_p50_ms"] = raw["p50_ms"]
        figures["accepted_p99_ms"] = raw["p99_ms"]
        figures.update(drain(setup.database_url, drain_s))
    return {f"{key}_{label}": value for key, value in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short load phases, under a minute")
    parser.add_argument("--seconds", type=float, help="measured seconds per load phase")
    parser.add_argument(
        "--drain", type=float, help="most seconds to wait for the events to run (60; 15 if quick)"
    )
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    warmup = 0.5 if args.quick else 2.0
    drain_s = args.drain or (15.0 if args.quick else 60.0)
    figures: dict[str, Any] = {"seconds_per_phase": seconds, "connections": CONNECTIONS}
    with tempfile.TemporaryDirectory(prefix="lambeam-bench-events-") as tmp:
        workdir = Path(tmp)
        say("imports done")
        sqlite = build_project(workdir / "sqlite", None)
        figures.update(measure(sqlite, workdir, "sqlite", seconds, warmup, drain_s))
        with postgres_schema() as url:
            pg = build_project(workdir / "pg", url)
            figures.update(measure(pg, workdir, "pg", seconds, warmup, drain_s))
    sync = figures["sync_per_s_sqlite"]
    figures["accepted_over_sync"] = (
        round(figures["accepted_per_s_sqlite"] / sync, 3) if sync else float("nan")
    )
    figures["wall_seconds"] = round(time.perf_counter() - _STARTED, 1)
    figures["targets_met"] = {}
    for key, op, bound in TARGETS:
        value = figures[key]
        met = value >= bound if op == ">=" else value <= bound
        figures["targets_met"][key] = met
        say(f"{key:24s} {value:9.2f}  target {op} {bound:g}: {'met' if met else 'MISSED'}")
    say(f"wall time {figures['wall_seconds']:.1f}s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

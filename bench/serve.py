"""Benchmark: lambeam serving a model against a hand-written FastAPI endpoint and a bare uvicorn one.

    .venv/bin/python bench/serve.py            # 10 s per load phase
    .venv/bin/python bench/serve.py --quick    # 1 s per load phase, under a minute

The same two models (a scaled logistic regression and a 100-tree random forest on 20 numeric
columns, trained and registered through lambeam), the same machine, the same load generator
(bench/_load.py, a process of its own), one server under load at a time, all on uvicorn with the
same options (bench/_servers.py). Measured:

- warm invoke, 1 row, 32 connections: requests/s, p50 and p99 of lambeam (as deployed by
  default: batching on), of the FastAPI endpoint users write (serving the same kind of model, a
  `make_pipeline(StandardScaler(), estimator)` fitted on the same CSV), and of a bare uvicorn app
  that only answers;
- the same with 64 connections, lambeam's batching on and off (`max_batch_size = 1`);
- cold start, from zero instances to the first answer, over fresh functions of the same model;
- memory: the private (USS) size of one idle warm instance beyond the zygote, and how much the
  server's process tree (gateway, zygote, instances; PSS) grows with 50 functions deployed and
  scaled to zero.

lambeam against bare is measured in rounds (3; 1 with --quick): each round loads bare, then
lambeam's LR, then its RF, back to back, with both servers up (the idle one costs nothing), and
`throughput_vs_bare` is the median of the rounds' ratios. This machine is a shared VM whose
speed drifts by tens of percent within a minute (steal time); a ratio of two phases a minute
apart measured the drift as much as the servers.

The FastAPI baseline's route is `async def` by default; `--fastapi-handler sync` makes it a plain
`def` run in FastAPI's threadpool (much slower here: 32 threads contend for the GIL and pandas).
Ratios are lambeam over the baseline (`p50_vs_fastapi` below 1 means lambeam answers sooner); the
headline keys are the logistic regression's at 32 connections (`…_rf` the forest's) and batching
the forest's at 64 (`…_lr` the regression's). Progress goes to stderr; the last line of stdout is
one JSON object with the figures.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # the wall time includes these imports (lambeam's take seconds)

import argparse
import configparser
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import _serving
from bench._fastapi_app import HANDLERS
from bench._memory import smaps, tree_pss_mb, uss_mb, zygote_and_instances
from bench._serving import Client, Server, health, load, running, say
from lambeam.functions.apply import apply
from lambeam.project import Project, init_project
from lambeam.registry import get_model_version

COLUMNS = [f"x{i:02d}" for i in range(20)]
MODELS = ("lr", "rf")
IDLE_FUNCTIONS = 50
# The targets: (figure, comparison, bound). Throughput and p50 ratios are the logistic
# regression's at 32 connections (the random forest's are `…_rf`); batching is the forest's at 64.
# throughput_vs_bare's 0.5 is retired on this 2-vCPU machine (the load generator shares the
# cores): 0.3 is its floor. Isolation (issue 12) must not cost the cold start (25 ms, isolation
# on) nor more than a tenth of warm throughput.
TARGETS = [
    ("throughput_vs_fastapi", ">=", 5.0),
    ("p50_vs_fastapi", "<=", 0.5),
    ("throughput_vs_bare", ">=", 0.3),
    ("batching_on_over_off", ">=", 3.0),
    ("cold_start_p50_ms", "<=", 25.0),
    ("throughput_isolation_on_over_off", ">=", 0.9),
]

_TOML = """\
[project]
name = "bench-serve"

[pipelines.bench]
source = "data.csv"
label = "label"

[pipelines.bench.columns]
{columns}

[train.lr]
dataset = "bench"
model = "bench-lr"
estimator = "sklearn.linear_model.LogisticRegression"

[train.rf]
dataset = "bench"
model = "bench-rf"
estimator = "sklearn.ensemble.RandomForestClassifier"
params = {{ n_estimators = 100, random_state = 0 }}

# As deployed by default: batching on (64 requests, no wait).
[functions.lr]
model = "bench-lr:1"

[functions.rf]
model = "bench-rf:1"

# Batching off: each request its own invocation, instances scaling up to the concurrency.
[functions.lr-nobatch]
model = "bench-lr:1"
reserved_concurrency = 64
batching = {{ max_batch_size = 1 }}

[functions.rf-nobatch]
model = "bench-rf:1"
reserved_concurrency = 64
batching = {{ max_batch_size = 1 }}

[functions.hello]
code = "hello"
handler = "app.handler"
"""

_serving.STARTED = _STARTED  # progress lines count from this script's start

_HELLO = 'def handler(event, context):\n    return {"ok": True}\n'


def generate(path: Path, rows: int, seed: int = 0) -> dict[str, float]:
    """A synthetic CSV: 20 float columns and a 0/1 label from a linear rule plus noise.

    Returns one row of features, the body every load phase sends."""
    rng = np.random.default_rng(seed)
    features = rng.normal(0.0, 1.0, (rows, len(COLUMNS))) * rng.uniform(0.5, 20, len(COLUMNS))
    features += rng.uniform(-50, 50, len(COLUMNS))
    weights = rng.normal(0.0, 1.0, len(COLUMNS))
    score = ((features - features.mean(0)) / features.std(0)) @ weights
    label = (score + rng.normal(0.0, 1.0, rows) > 0).astype(int)
    frame = pd.DataFrame(features, columns=COLUMNS)
    frame["label"] = label
    frame.to_csv(path, index=False, float_format="%.6g")
    return {c: round(float(v), 4) for c, v in frame.iloc[0][COLUMNS].items()}


@dataclass
class Setup:
    """The project the gateway serves, its credentials, and the models dumped for FastAPI."""

    root: Path
    authorization: str
    model_files: dict[str, Path]
    row: dict[str, float]


def build_project(workdir: Path, rows: int) -> Setup:
    """Pipeline, two training jobs and the functions, through lambeam's API as its CLI does."""
    from lambeam.data import run_pipeline
    from lambeam.training import run_training

    root = workdir / "project"
    (root / "hello").mkdir(parents=True)
    (root / "hello" / "app.py").write_text(_HELLO)
    row = generate(root / "data.csv", rows)
    columns = "\n".join(f'{c} = ["standardize"]' for c in COLUMNS)
    (root / "lambeam.toml").write_text(_TOML.format(columns=columns))
    init_project(root).close()
    project = Project.open(root)
    try:
        started = time.perf_counter()
        run_pipeline(project, "bench")
        say(f"pipeline: {rows:,} rows in {time.perf_counter() - started:.1f}s")
        files = {}
        for name in MODELS:
            started = time.perf_counter()
            version = run_training(project, name).model_version
            say(
                f"trained {version.ref} in {time.perf_counter() - started:.1f}s"
                f" (ONNX: {version.onnx_status})"
            )
            files[name] = workdir / f"{name}.joblib"
            dump_baseline(project, version.ref, files[name])
        apply(project)
    finally:
        project.close()
    credentials = configparser.ConfigParser()
    credentials.read(root / ".lambeam" / "credentials")
    profile = credentials["lambeam"]
    authorization = f"Bearer {profile['aws_access_key_id']}:{profile['aws_secret_access_key']}"
    return Setup(root, authorization, files, row)


def dump_baseline(project: Project, ref: str, path: Path) -> None:
    """The model a user without lambeam would serve: `make_pipeline(StandardScaler(), estimator)`
    with the registered estimator's parameters, fitted on the same CSV, saved with joblib.

    (Not lambeam's own fitted pipeline: its transform is built column by column from Beam's
    statistics and costs far more per call in scikit-learn than a StandardScaler, which would
    flatter lambeam's ratio.)"""
    import joblib
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    registered = get_model_version(project.db, project.store, ref)
    estimator = clone(registered.load().steps[-1][1])
    data = pd.read_csv(project.settings.root / "data.csv")
    baseline = make_pipeline(StandardScaler(), estimator).fit(data[COLUMNS], data["label"])
    joblib.dump(baseline, path)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_memory_of_idle_functions(client: Client, server: Server) -> dict[str, float]:
    """Deploy 50 model functions (none invoked) and see how much the process tree grows."""
    before = tree_pss_mb(server.process.pid)
    for i in range(IDLE_FUNCTIONS):
        client.create_model_function(f"idle-{i:02d}", "bench-lr:1")
    time.sleep(0.5)
    after = tree_pss_mb(server.process.pid)
    say(f"50 functions scaled to zero: server tree {before:.1f} MB -> {after:.1f} MB (PSS)")
    return {"fifty_functions_mb": round(after - before, 2), "server_tree_pss_mb": round(after, 1)}


def measure_cold_starts(
    client: Client, body: bytes, count: int, prefix: str = "cold"
) -> dict[str, float]:
    """Fresh functions of the same model, each invoked once: from zero instances to an answer.

    A tenth of a second apart, so that each is measured as a lone cold start is (the engine's
    spare process, forked in the background after each cold start, is ready again)."""
    for i in range(count):
        client.create_model_function(f"{prefix}-{i:02d}", "bench-lr:1")
    times = []
    for i in range(count):
        time.sleep(0.1)
        times.append(client.invoke(f"{prefix}-{i:02d}", body) * 1000)
    warm = [client.invoke(f"{prefix}-00", body) * 1000 for _ in range(20)]
    say(
        f"{prefix}: cold start over {count}: p50 {statistics.median(times):.1f} ms, p99"
        f" {percentile(times, 0.99):.1f} ms, first {times[0]:.1f} ms;"
        f" warm single request p50 {statistics.median(warm):.2f} ms"
    )
    return {
        "cold_start_p50_ms": round(statistics.median(times), 2),
        "cold_start_p99_ms": round(percentile(times, 0.99), 2),
        "cold_start_first_ms": round(times[0], 2),
        "cold_starts": count,
        "warm_single_p50_ms": round(statistics.median(warm), 3),
    }


def measure_idle_instance(client: Client, server: Server) -> dict[str, Any]:
    """USS of an idle warm instance: a model function's if they have instances, else a code one's."""
    zygote, instances = zygote_and_instances(server.process.pid)
    kind = "model"
    if zygote is not None and not instances:
        kind = "code"
        client.invoke("hello", b"{}", expect="ok")
        time.sleep(0.2)
        zygote, instances = zygote_and_instances(server.process.pid)
    if zygote is None or not instances:
        say("no zygote or no instance found: idle instance size not measured")
        return {"idle_instance_mb": None, "idle_instance_of": None}
    sizes = [uss_mb(pid) for pid in instances]
    zygote_rss = smaps(zygote).get("Rss", 0) / 1024
    say(
        f"idle {kind} instances: {len(sizes)}, USS median {statistics.median(sizes):.1f} MB"
        f" (zygote RSS {zygote_rss:.1f} MB)"
    )
    return {
        "idle_instance_mb": round(statistics.median(sizes), 2),
        "idle_instance_of": kind,
        "idle_instances": len(sizes),
        "zygote_rss_mb": round(zygote_rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short load phases, under a minute")
    parser.add_argument("--seconds", type=float, help="measured seconds per load phase")
    parser.add_argument("--rows", type=int, help="rows of training data (5,000; 1,000 if --quick)")
    parser.add_argument(
        "--rounds", type=int, help="rounds of bare, lambeam LR and RF at 32 (3; 1 if --quick)"
    )
    parser.add_argument(
        "--fastapi-handler",
        choices=HANDLERS,
        default="async",
        help="the baseline's route: async def (default) or def, run in FastAPI's threadpool",
    )
    args = parser.parse_args()
    rows = args.rows or (1000 if args.quick else 5000)
    seconds = args.seconds or (1.0 if args.quick else 10.0)
    warmup = 0.5 if args.quick else 2.0
    max_warmup = 1.5 if args.quick else 15.0
    cold_count = 8 if args.quick else 20
    rounds = args.rounds or (1 if args.quick else 3)
    figures: dict[str, Any] = {
        "seconds_per_phase": seconds,
        "rounds_vs_bare": rounds,
        "fastapi_handler": args.fastapi_handler,
    }
    raw: dict[str, dict[str, Any]] = {}
    paired: dict[str, list[dict[str, Any]]] = {}  # the rounds' phases, by key
    with tempfile.TemporaryDirectory(prefix="lambeam-bench-serve-") as tmp:
        workdir = Path(tmp)
        say("imports done")
        setup = build_project(workdir, rows)
        body = json.dumps({"instances": [setup.row]})

        def phase(
            server: Server, key: str, path: str, connections: int, headers: Sequence[str] = ()
        ) -> None:
            raw[key] = load(server, path, body, connections, seconds, warmup, max_warmup, headers)

        models = [f"--model={n}={p}" for n, p in setup.model_files.items()]
        models.append(f"--handler={args.fastapi_handler}")
        with running("fastapi", models, workdir) as fastapi:
            for model in MODELS:
                phase(fastapi, f"fastapi_{model}_c32", f"/predict/{model}", 32)
        auth = [f"Authorization: {setup.authorization}"]
        with (
            running("bare", [], workdir) as bare,
            running("lambeam", ["--project", str(setup.root)], workdir, "/v1/health") as gateway,
        ):
            client = Client(gateway.port, setup.authorization)
            figures.update(measure_memory_of_idle_functions(client, gateway))
            figures.update(measure_cold_starts(client, body.encode(), cold_count))
            for number in range(1, rounds + 1):
                say(f"round {number} of {rounds}: bare, then lambeam LR and RF, at 32")
                for key, server, path, headers in [
                    ("bare_c32", bare, "/predict", []),
                    *(
                        (f"lambeam_{m}_c32", gateway, f"/v1/functions/{m}/invoke", auth)
                        for m in MODELS
                    ),
                ]:
                    phase(server, key, path, 32, headers)
                    paired.setdefault(key, []).append(raw[key])
            for key, phases in paired.items():  # each key's median phase, by requests/s
                raw[key] = sorted(phases, key=lambda p: p["rps"])[len(phases) // 2]
            for model in MODELS:
                path = f"/v1/functions/{model}/invoke"
                unbatched = f"/v1/functions/{model}-nobatch/invoke"
                phase(gateway, f"lambeam_{model}_batch_c64", path, 64, auth)
                phase(gateway, f"lambeam_{model}_nobatch_c64", unbatched, 64, auth)
            figures.update(measure_idle_instance(client, gateway))
            client.close()
            # Instance isolation's price: the same project served by a second server with
            # isolation off, cold starts and warm LR at 32 measured back to back with the first.
            plain_env = {**os.environ, "LAMBEAM_ISOLATION": "off"}
            with running(
                "lambeam",
                ["--project", str(setup.root)],
                workdir,
                "/v1/health",
                label="lambeam-plain",
                env=plain_env,
            ) as plain:
                plain_client = Client(plain.port, setup.authorization)
                off = measure_cold_starts(plain_client, body.encode(), cold_count, "cold-off")
                figures["cold_start_p50_ms_isolation_off"] = off["cold_start_p50_ms"]
                plain_client.close()
                for key, server in (("isolated", gateway), ("plain", plain)):
                    phase(server, f"lambeam_lr_c32_{key}", "/v1/functions/lr/invoke", 32, auth)
            figures["isolation"] = health(gateway).get("isolation", {}).get("summary")

    def ratio(a: str, b: str, field: str = "rps") -> float:
        return round(raw[a][field] / raw[b][field], 3) if raw[b][field] else float("nan")

    for model in MODELS:
        suffix = "" if model == "lr" else f"_{model}"
        figures[f"throughput_vs_fastapi{suffix}"] = ratio(
            f"lambeam_{model}_c32", f"fastapi_{model}_c32"
        )
        figures[f"p50_vs_fastapi{suffix}"] = ratio(
            f"lambeam_{model}_c32", f"fastapi_{model}_c32", "p50_ms"
        )
        per_round = [
            lam["rps"] / bare["rps"]
            for lam, bare in zip(paired[f"lambeam_{model}_c32"], paired["bare_c32"], strict=True)
        ]
        figures[f"throughput_vs_bare{suffix}"] = round(statistics.median(per_round), 3)
        figures[f"throughput_vs_bare{suffix}_rounds"] = [round(r, 3) for r in per_round]
    figures["batching_on_over_off"] = ratio("lambeam_rf_batch_c64", "lambeam_rf_nobatch_c64")
    figures["cold_start_isolation_cost_ms"] = round(
        figures["cold_start_p50_ms"] - figures["cold_start_p50_ms_isolation_off"], 2
    )
    figures["throughput_isolation_on_over_off"] = ratio(
        "lambeam_lr_c32_isolated", "lambeam_lr_c32_plain"
    )
    figures["batching_on_over_off_lr"] = ratio("lambeam_lr_batch_c64", "lambeam_lr_nobatch_c64")
    figures["raw"] = {
        key: {k: value[k] for k in ("rps", "p50_ms", "p99_ms", "requests", "errors", "warmup_s")}
        for key, value in raw.items()
    }
    figures["raw_rounds_rps"] = {key: [p["rps"] for p in phases] for key, phases in paired.items()}
    figures["wall_seconds"] = round(time.perf_counter() - _STARTED, 1)
    figures["targets_met"] = {}
    for key, op, bound in TARGETS:
        value = figures[key]
        met = value >= bound if op == ">=" else value <= bound
        figures["targets_met"][key] = met
        other = figures.get(f"{key}_rf", figures.get(f"{key}_lr"))
        aside = (
            "" if other is None else f" ({'RF' if f'{key}_rf' in figures else 'LR'} {other:.2f})"
        )
        say(f"{key:22s} {value:9.2f}{aside:12s} target {op} {bound}: {'met' if met else 'MISSED'}")
    say(f"wall time {figures['wall_seconds']:.1f}s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

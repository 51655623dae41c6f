"""The quickstart: the whole flow on data shipped with lambeam, in a fresh project folder.

Two Beam pipelines (Palmer penguins, tabular with gaps and categories; tweets, text), two candidate
models for the penguins compared and the better one aliased `prod`, a text classifier, and the
`prod` model deployed as a function, served by the gateway and invoked over HTTP.
"""

from __future__ import annotations

import configparser
import json
import shutil
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambeam.data import run_pipeline
from lambeam.errors import ConfigError
from lambeam.functions import apply
from lambeam.progress import Reporter, SilentReporter
from lambeam.project import Project, init_project
from lambeam.registry import compare_model_versions, set_alias
from lambeam.security import PROFILE, credentials_path
from lambeam.server import serving
from lambeam.training import run_training

__all__ = ["QuickstartSummary", "run_quickstart"]

_HERE = Path(__file__).resolve().parent
_CANDIDATES = ("penguins_logreg", "penguins_forest")
# The metric the two penguin candidates are compared on.
_DECIDING_METRIC = "f1"


@dataclass
class QuickstartSummary:
    """What the quickstart did, for a face to print."""

    root: Path
    lines: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    prod: str = ""
    answers: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    how_to_call: list[str] = field(default_factory=list)


def run_quickstart(directory: Path, reporter: Reporter | None = None) -> QuickstartSummary:
    """Make a project in `directory` and run pipelines, training, comparison and aliasing in it."""
    reporter = reporter or SilentReporter()
    directory = directory.resolve()
    config = directory / "lambeam.toml"
    ours = (_HERE / "lambeam.toml").read_bytes()
    if config.exists() and config.read_bytes() != ours:  # checked before anything is written
        raise ConfigError(
            f"{directory} is already a lambeam project (its lambeam.toml is not the"
            " quickstart's); run the quickstart in a new folder: lambeam quickstart --dir NEW"
        )
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_HERE / "data", directory / "data", dirs_exist_ok=True)
    if not config.exists():
        config.write_bytes(ours)
    project = init_project(directory)
    summary = QuickstartSummary(root=directory)
    try:
        for pipeline in ("penguins", "tweets"):
            run = run_pipeline(project, pipeline, reporter=reporter)
            ds = run.dataset_version
            summary.lines.append(f"pipeline {pipeline}: dataset version {ds.ref}, {ds.rows} rows")
        refs = []
        for job in (*_CANDIDATES, "tweets_text"):
            trained = run_training(project, job, reporter)
            version = trained.model_version
            estimator = version.estimator.rsplit(".", 1)[-1]
            timings = trained.timings
            summary.lines.append(
                f"train {job}: {version.ref} ({estimator}) in {timings.total:.1f}s"
                f" ({timings.describe()}), ONNX {version.onnx_summary}"
            )
            summary.metrics[version.ref] = version.metrics
            if job in _CANDIDATES:
                refs.append(version.ref)
        comparison = compare_model_versions(project.db, project.store, refs)
        best_ref = comparison["best"][_DECIDING_METRIC]
        model, _, number = best_ref.partition(":")
        set_alias(project.db, model, "prod", int(number))
        summary.prod = best_ref
        tied = comparison["tied"].get(_DECIDING_METRIC)
        verdict = f"tied, {best_ref} taken" if tied else f"{best_ref} is better"
        summary.lines.append(f"compared {' vs '.join(refs)} on {_DECIDING_METRIC}: {verdict}")
        for result in apply(project):
            summary.lines.append(f"function {result.name}: {result.action}")
        with reporter.stage("serving penguins-api and invoking it over HTTP"):
            _invoke_over_http(project, summary)
        summary.lines.append(f"project: {directory} (try `lambeam -C {directory} models ls`)")
    finally:
        project.close()
    return summary


# Rows of the shipped penguins file, sent as a client would send them.
_ROWS = [
    {
        "island": "Torgersen",
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181,
        "body_mass_g": 3750,
        "sex": "male",
    },
    {
        "island": "Dream",
        "bill_length_mm": 46.5,
        "bill_depth_mm": 17.9,
        "flipper_length_mm": 192,
        "body_mass_g": 3500,
        "sex": "female",
    },
    {
        "island": "Biscoe",
        "bill_length_mm": 46.1,
        "bill_depth_mm": 13.2,
        "flipper_length_mm": 211,
        "body_mass_g": 4500,
        "sex": "female",
    },
]
_TIMED_CALLS = 20


def _invoke_over_http(project: Project, summary: QuickstartSummary) -> None:
    """Start the gateway, send each row to penguins-api, time warm calls, then stop it."""
    credentials = configparser.ConfigParser()
    credentials.read(credentials_path(project.settings))
    key_id = credentials[PROFILE]["aws_access_key_id"]
    secret = credentials[PROFILE]["aws_secret_access_key"]
    with serving(project) as url:
        endpoint = f"{url}/v1/functions/penguins-api/invoke"
        for row in _ROWS:
            body = {"instances": [row], "probabilities": True}
            summary.answers.append({"input": row, "output": _post(endpoint, body, key_id, secret)})
        for i in range(_TIMED_CALLS):
            started = time.perf_counter()
            _post(endpoint, {"instances": [_ROWS[i % len(_ROWS)]]}, key_id, secret)
            summary.latencies_ms.append((time.perf_counter() - started) * 1000)
    request_file = project.settings.root / "request.json"
    request_file.write_text(json.dumps({"instances": [_ROWS[2]]}) + "\n", encoding="utf-8")
    credentials_file = credentials_path(project.settings)
    summary.how_to_call = [
        f"cd {project.settings.root} && {_lambeam_command()} server"
        "    # then, from another shell there:",
        f'curl -s -H "Authorization: Bearer {key_id}:$SECRET" -d @request.json '
        "http://127.0.0.1:8000/v1/functions/penguins-api/invoke",
        f'AWS_SHARED_CREDENTIALS_FILE={credentials_file} {sys.executable} -c "import boto3; '
        "c = boto3.Session(profile_name='lambeam').client('lambda', "
        "endpoint_url='http://127.0.0.1:8000', region_name='us-east-1'); "
        "print(c.invoke(FunctionName='penguins-api', "
        "Payload=open('request.json').read())['Payload'].read())\"",
        f"(SECRET is aws_secret_access_key in {credentials_file})",
    ]
    p50 = statistics.median(summary.latencies_ms)
    summary.lines.append(
        f"penguins-api answered {len(summary.answers)} rows over HTTP; warm latency p50 "
        f"{p50:.1f} ms over {_TIMED_CALLS} calls"
    )


def _lambeam_command() -> str:
    """How to run lambeam from any folder: the script beside this interpreter (e.g. in .venv)."""
    script = Path(sys.executable).with_name("lambeam")
    return str(script) if script.exists() else "lambeam"


def _post(url: str, body: dict[str, Any], key_id: str, secret: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key_id}:{secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # loopback only
        return dict(json.loads(response.read()))

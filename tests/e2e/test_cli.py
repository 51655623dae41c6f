"""The CLI as a user drives it: `lambeam init`, `pipeline run`, `train`, `models …`, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Its tests share one module-scoped project: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("cli")

DATA = Path(__file__).resolve().parents[2] / "lambeam" / "quickstart" / "data"
LAMBEAM = [sys.executable, "-m", "lambeam"]

TOML = """
[project]
name = "cli-test"

[pipelines.penguins]
source = "data/penguins.csv"
label = "species"
split = { test = 0.3 }
drop = ["year"]

[pipelines.penguins.columns]
bill_length_mm = ["impute:median", "standardize"]
bill_depth_mm = ["impute:median", "standardize"]
flipper_length_mm = ["impute:mean", "standardize"]
body_mass_g = ["impute:median", "standardize"]
island = ["onehot"]
sex = [{ impute = { constant = "unknown" } }, "onehot"]

[train.logreg]
dataset = "penguins"
model = "penguins"
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 500 }

[train.forest]
dataset = "penguins:1"
model = "penguins"
estimator = "sklearn.ensemble.RandomForestClassifier"
params = { n_estimators = 30, random_state = 0 }
"""


def lambeam(
    cwd: Path, *args: str, check: bool = True, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBEAM_")}
    env["COLUMNS"] = str(columns)
    proc = subprocess.run(
        [*LAMBEAM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lambeam {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    lambeam(root, "init", ".")
    (root / "lambeam.toml").write_text(TOML)
    (root / "data").mkdir()
    shutil.copy(DATA / "penguins.csv", root / "data" / "penguins.csv")
    lambeam(root, "pipeline", "run", "penguins")
    lambeam(root, "train", "logreg")
    (root / "forest.out").write_text(lambeam(root, "train", "forest").stdout)
    return root


def test_init_makes_a_project(tmp_path: Path) -> None:
    out = lambeam(tmp_path, "init", "proj", "--name", "demo").stdout
    assert "project demo" in out
    assert (tmp_path / "proj" / "lambeam.toml").is_file()
    assert (tmp_path / "proj" / ".lambeam" / "lambeam.db").is_file()


def test_pipeline_and_datasets_json(trained: Path) -> None:
    runs = json.loads(lambeam(trained, "pipeline", "run", "penguins", "--json").stdout)
    assert runs["created"] is False and runs["ref"] == "penguins:1"
    listed = json.loads(lambeam(trained, "datasets", "ls", "--json").stdout)
    assert [v["ref"] for v in listed] == ["penguins:1"]
    assert listed[0]["rows"] == 344 and listed[0]["train_rows"] + listed[0]["test_rows"] == 344
    shown = json.loads(lambeam(trained, "datasets", "show", "penguins", "--json").stdout)
    assert shown["profile"]["bill_length_mm"]["missing"] == 2
    table = lambeam(trained, "datasets", "show", "penguins").stdout  # the summary a user reads
    assert f"({listed[0]['train_rows']} train, {listed[0]['test_rows']} test)" in table
    island = next(line for line in table.splitlines() if "island" in line)
    assert "string" in island and "Biscoe" in island  # its type and most frequent values


def test_models_ls_show_alias_compare(trained: Path) -> None:
    models = json.loads(lambeam(trained, "models", "ls", "--json").stdout)
    assert models[0]["name"] == "penguins" and models[0]["latest"] == 2
    lambeam(trained, "models", "alias", "set", "penguins", "prod", "1")
    shown = json.loads(lambeam(trained, "models", "show", "penguins@prod", "--json").stdout)
    assert shown["number"] == 1 and "prod" in shown["aliases"]
    assert shown["task"] == "classification"
    assert {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "confusion_matrix",
    } <= set(shown["metrics"])
    assert shown["lineage"]["dataset"]["ref"] == "penguins:1"
    assert shown["lineage"]["libraries"]["scikit-learn"]
    compared = json.loads(
        lambeam(trained, "models", "compare", "penguins:1", "penguins:2", "--json").stdout
    )
    assert [v["ref"] for v in compared["versions"]] == ["penguins:1", "penguins:2"]
    assert compared["best"]["accuracy"] in ("penguins:1", "penguins:2")
    side_by_side = lambeam(trained, "models", "compare", "penguins:1", "penguins:2").stdout
    cells = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in side_by_side.splitlines()
        if line.startswith("│")
    ]
    rows = {row[0]: row[1:] for row in cells}
    # A row per version (estimator, dataset, onnx, aliases), then metrics and params per version.
    assert rows["penguins:1"][:3] == ["classification", "LogisticRegression", "penguins:1"]
    assert rows["penguins:1"][-1] == "prod" and rows["penguins:2"][-1] == "-"
    assert rows["penguins:2"][1] == "RandomForestClassifier"
    assert rows["n_estimators"] == ["-", "30"]  # params that differ, side by side
    assert "penguins:1" in lambeam(trained, "models", "ls", "penguins").stdout
    # a model function declared by alias shows the version it serves now
    toml = (trained / "lambeam.toml").read_text()
    (trained / "lambeam.toml").write_text(toml + '\n[functions.api]\nmodel = "penguins@prod"\n')
    try:
        lambeam(trained, "apply")
        shown = json.loads(lambeam(trained, "functions", "show", "api", "--json").stdout)
        assert (shown["model"], shown["serves"]) == ("penguins@prod", "penguins:1")
        lambeam(trained, "functions", "rm", "api")
    finally:
        (trained / "lambeam.toml").write_text(toml)
    lambeam(trained, "models", "alias", "rm", "penguins", "prod")
    missing = lambeam(trained, "models", "show", "penguins@prod", check=False)
    assert missing.returncode != 0 and "prod" in missing.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("train", "nope"), "no [train.nope]"),
        (("pipeline", "run", "nope"), "nope"),
        (("models", "show", "ghost"), "ghost"),
        (("models", "alias", "set", "penguins", "prod", "99"), "99"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(
    trained: Path, args: tuple[str, ...], needle: str
) -> None:
    proc = lambeam(trained, *args, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_bad_data_and_estimator_exit_nonzero_and_record_nothing(trained: Path) -> None:
    toml = (trained / "lambeam.toml").read_text()
    extra = """
[pipelines.missing]
source = "data/nowhere-*.csv"

[train.typo]
dataset = "penguins"
estimator = "sklearn.ensemble.RandomForestClasifier"
"""
    (trained / "lambeam.toml").write_text(toml + extra)
    try:
        missing = lambeam(trained, "pipeline", "run", "missing", check=False)
        assert missing.returncode == 1 and "nowhere-*.csv" in missing.stderr
        typo = lambeam(trained, "train", "typo", check=False)
        assert typo.returncode == 1 and "RandomForestClasifier" in typo.stderr
        assert typo.stderr.startswith("error: lambeam.toml [train.typo]: unknown estimator")
        assert "Traceback" not in missing.stderr + typo.stderr
        assert [
            v["ref"] for v in json.loads(lambeam(trained, "datasets", "ls", "--json").stdout)
        ] == ["penguins:1"]
        assert json.loads(lambeam(trained, "models", "ls", "--json").stdout)[0]["latest"] == 2
    finally:
        (trained / "lambeam.toml").write_text(toml)


@pytest.mark.parametrize(
    "args",
    [
        ("models", "ls"),
        ("models", "ls", "penguins"),
        ("models", "show", "penguins:2"),
        ("models", "compare", "penguins:1", "penguins:2"),
    ],
)
def test_listings_piped_at_80_columns_never_cut_an_identifier(
    trained: Path, args: tuple[str, ...]
) -> None:
    out = lambeam(trained, *args, columns=80).stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    first_cells = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    if args[:2] == ("models", "ls") and len(args) == 3:
        assert first_cells == ["penguins:1", "penguins:2"]
        assert "left out to fit 80 columns: by, created, task" in out
    if args[1] == "compare":
        assert first_cells[:2] == ["penguins:1", "penguins:2"]


def test_train_says_its_whole_time_and_its_parts(trained: Path) -> None:
    [line] = [x for x in (trained / "forest.out").read_text().splitlines() if "registered" in x]
    said = re.search(r"registered penguins:2 \(classification, \S+\) in ([\d.]+)s \((.*)\);", line)
    assert said is not None, line
    parts = dict(re.findall(r"(start-up|load dataset|fit|score|register) ([\d.]+)s", said[2]))
    assert list(parts) == ["start-up", "load dataset", "fit", "score", "register"]
    # The parts add up to the whole (each is rounded to a tenth).
    assert abs(sum(map(float, parts.values())) - float(said[1])) <= 0.3


def test_no_project_is_a_clear_error(tmp_path: Path) -> None:
    proc = lambeam(tmp_path, "datasets", "ls", check=False)
    assert proc.returncode == 2 and "lambeam init" in proc.stderr


def test_malformed_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lambeam.toml").write_text("[pipelines.x\nsource='a'\n")
    proc = lambeam(tmp_path, "pipeline", "run", "x", check=False)
    assert proc.returncode == 2 and "malformed TOML" in proc.stderr and "line 1" in proc.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = lambeam(tmp_path, "--help").stdout
    for command in ("init", "quickstart", "pipeline", "train", "models", "datasets", "functions"):
        assert command in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("nonsense",), "No such command 'nonsense'"),
        (("invoke",), "Missing argument"),  # e.g. `... alias set hello prod $LATEST`, unquoted
        (("invoke", "hello", "--bogus"), "No such option: --bogus"),
        (("functions", "alias", "set", "hello", "prod"), "Missing argument"),
    ],
)
def test_usage_mistakes_are_a_usage_message_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    proc = lambeam(tmp_path, *args, check=False)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Usage: lambeam")


def test_project_modules_import_from_the_console_script_and_another_folder(
    trained: Path, tmp_path: Path
) -> None:
    script = Path(sys.executable).with_name("lambeam")
    (trained / "penguin_steps.py").write_text(
        "def add_ratio(frame):\n"
        "    return frame.assign(ratio=frame['bill_length_mm'] / frame['bill_depth_mm'])\n"
    )
    toml = (trained / "lambeam.toml").read_text()
    extra = """
[pipelines.stepped]
source = "data/penguins.csv"
label = "species"
steps = [{ function = "penguin_steps:add_ratio" }]
drop = ["year"]
columns = { ratio = ["impute:median", "standardize"], bill_length_mm = ["impute:median"], bill_depth_mm = ["impute:median"], flipper_length_mm = ["impute:median"], body_mass_g = ["impute:median"] }
"""
    (trained / "lambeam.toml").write_text(toml + extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBEAM_")}
    try:
        proc = subprocess.run(
            [str(script), "-C", str(trained), "pipeline", "run", "stepped", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["rows"] == 344
    finally:
        (trained / "lambeam.toml").write_text(toml)


def test_datasets_show_prints_values_that_look_like_markup_as_they_are(tmp_path: Path) -> None:
    root = tmp_path / "markup"
    root.mkdir()
    rows = ["place,amount"] + [f"[/tmp/x],{n}" if n % 2 else f"[i]talic,{n}" for n in range(20)]
    (root / "data.csv").write_text("\n".join(rows) + "\n")
    (root / "lambeam.toml").write_text(
        '[project]\nname = "markup"\n\n[pipelines.odd]\nsource = "data.csv"\n'
        'split = { test = 0.5 }\n\n[pipelines.odd.columns]\nplace = ["onehot"]\n'
    )
    lambeam(root, "init", ".")
    lambeam(root, "pipeline", "run", "odd")
    shown = lambeam(root, "datasets", "show", "odd").stdout
    assert "[/tmp/x]" in shown and "[i]talic" in shown

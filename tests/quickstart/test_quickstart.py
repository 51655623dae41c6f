"""The quickstart (what `make demo` runs) end to end on the shipped data."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.project import Project
from lambeam.quickstart import run_quickstart
from lambeam.registry import get_model_version, list_models


def test_quickstart_runs_the_whole_flow(tmp_path: Path) -> None:
    summary = run_quickstart(tmp_path / "qs")
    assert summary.prod in ("penguins:1", "penguins:2")
    assert set(summary.metrics) == {"penguins:1", "penguins:2", "tweets:1"}
    # Each train line says its whole time and its parts, registering's included.
    trained = [line for line in summary.lines if line.startswith("train ")]
    assert len(trained) == 3 and all(re.search(r" in [\d.]+s \(load dataset", t) for t in trained)
    assert all("register " in t and "ONNX convert" in t for t in trained)
    # Real data, real models: the scores are those of working classifiers, not placeholders.
    assert summary.metrics["tweets:1"]["accuracy"] > 0.8
    assert max(summary.metrics[r]["f1"] for r in ("penguins:1", "penguins:2")) > 0.9
    # The prod model is deployed and answered over HTTP, as the registry model predicts.
    species = [a["output"]["predictions"][0] for a in summary.answers]
    assert species == ["Adelie", "Chinstrap", "Gentoo"]
    assert len(summary.latencies_ms) == 20 and all(ms > 0 for ms in summary.latencies_ms)
    assert any("curl" in line for line in summary.how_to_call)
    # boto3 is where lambeam is: the interpreter beside it, not whatever `python` is on PATH
    assert any(f"{sys.executable} -c" in line for line in summary.how_to_call)
    project = Project.open(tmp_path / "qs")
    try:
        assert {m.name: m.versions for m in list_models(project.db)} == {"penguins": 2, "tweets": 1}
        prod = get_model_version(project.db, project.store, "penguins@prod")
        assert prod.ref == summary.prod
        # Every quickstart model serves on ONNX Runtime: the logistic regression, the random
        # forest (float64 up to the trees, as scikit-learn) and the TF-IDF text classifier.
        for ref in ("penguins:1", "penguins:2", "tweets:1"):
            version = get_model_version(project.db, project.store, ref)
            assert version.onnx_status == "trusted", (ref, version.onnx_summary)
    finally:
        project.close()


def test_quickstart_refuses_a_folder_that_is_another_project(tmp_path: Path) -> None:
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "mine"\n')
    with pytest.raises(ConfigError, match="already a lambeam project"):
        run_quickstart(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lambeam.toml"]  # nothing written

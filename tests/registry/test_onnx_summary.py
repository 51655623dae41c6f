"""What `train`, `models show` and the quickstart say of a version's ONNX graph: where it is not
trusted, why (the outputs that differ and by how much, or why it did not convert)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.svm import SVR

from lambeam.project import Project
from tests.registry.fitted import fitted, frame, log_pipeline, register, regression_target

TRAIN, HELD_OUT = frame(rows=240, seed=0), frame(rows=120, seed=1)


def test_a_disagreeing_graph_says_by_how_much_against_the_tolerance(project: Project) -> None:
    train, held_out = TRAIN.copy(), HELD_OUT.copy()
    train["amount"] = 1e8 + np.random.default_rng(2).uniform(0, 1000, len(train))
    held_out["amount"] = 1e8 + np.random.default_rng(3).uniform(0, 1000, len(held_out))
    pipeline = fitted(SVR(C=100.0), train, train["amount"].to_numpy() - 1e8)
    version = register(
        project.db, project.store, pipeline, model="big", task="regression", sample=held_out
    )
    assert version.onnx_status == "disagrees"
    summary = version.onnx_summary
    diff = version.onnx_check["max_abs_diff"]
    assert summary.startswith("disagrees with scikit-learn on held-out rows: ")
    assert f"outputs differ by up to {diff:.3g} (allowed 0.0001 + 0.0001 x |value|)" in summary
    assert summary.endswith("(served by scikit-learn)") and "\n" not in summary


def test_an_unconvertible_graph_says_why(project: Project) -> None:
    pipeline = log_pipeline(TRAIN, regression_target(TRAIN), LinearRegression())
    version = register(
        project.db, project.store, pipeline, model="logged", task="regression", sample=HELD_OUT
    )
    reason = version.onnx_check["error"]
    assert version.onnx_summary == f"unconvertible: {reason} (served by scikit-learn)"


def test_a_trusted_graph_says_only_what_serves_it(project: Project) -> None:
    pipeline = fitted(LinearRegression(), TRAIN, regression_target(TRAIN))
    version = register(
        project.db, project.store, pipeline, model="plain", task="regression", sample=HELD_OUT
    )
    assert version.onnx_summary == "trusted (served by ONNX Runtime)"

"""HistGradientBoosting on ONNX Runtime routes rows as scikit-learn does: float64 thresholds."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from lambeam.project import Project
from lambeam.registry import onnx_feed
from tests.registry.fitted import fitted, frame, register


def close_amounts(rows: int, seed: int) -> pd.DataFrame:
    """Amounts 1 + k * 1e-11 (k < 1000): distinct in float64, all 1.0 in float32."""
    data = frame(rows=rows, seed=seed)
    rng = np.random.default_rng(seed + 10)
    data["amount"] = 1.0 + rng.integers(0, 1000, rows) * 1e-11
    data.loc[::11, "amount"] = np.nan  # missing: the side each split learnt
    return data


def passthrough() -> ColumnTransformer:
    return ColumnTransformer([("numbers", "passthrough", ["amount", "age"])])


def _served(version, data: pd.DataFrame) -> list[np.ndarray]:
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    return session.run(None, onnx_feed(version.signature, data, version.onnx_check["input_type"]))


@pytest.mark.parametrize("classes", [2, 3])
def test_a_classifier_splitting_below_float32_resolution_agrees_row_for_row(
    project: Project, classes: int
) -> None:
    train, held_out = close_amounts(800, 0), close_amounts(500, 1)
    assert len(np.unique(np.float32(held_out["amount"].dropna()))) == 1  # float32 sees one value
    cuts = [1.0 + 4e-9, 1.0 + 7e-9][: classes - 1]
    rank = np.digitize(train["amount"].fillna(1.0 + 5e-9), cuts)
    y = np.array(["low", "middle", "high"])[rank]
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    pipeline = fitted(model, train, y, steps=passthrough())
    version = register(project.db, project.store, pipeline, sample=held_out)
    check = version.onnx_check
    assert version.onnx_status == "trusted", check
    assert check["input_type"] == "double" and check["label_agreement"] == 1.0
    label, proba = _served(version, held_out)
    assert list(label) == list(pipeline.predict(held_out))
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), atol=1e-6)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_a_regressor_splitting_below_float32_resolution_agrees(project: Project, loss: str) -> None:
    train, held_out = close_amounts(800, 2), close_amounts(500, 3)
    y = 5.0 + (train["amount"].fillna(1.0).to_numpy() - 1.0) * 1e9 + train["age"].to_numpy() / 10
    model = HistGradientBoostingRegressor(loss=loss, max_iter=30, random_state=0)
    pipeline = fitted(model, train, y, steps=passthrough())
    version = register(project.db, project.store, pipeline, task="regression", sample=held_out)
    assert version.onnx_status == "trusted", version.onnx_check
    (values,) = _served(version, held_out)
    np.testing.assert_allclose(values.ravel(), pipeline.predict(held_out), rtol=1e-6)

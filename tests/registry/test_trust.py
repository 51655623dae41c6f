"""Only trusted types go in, and only the recorded ones come out: no plain pickle, ever."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sqlalchemy import update

from lambeam.errors import UntrustedModelError
from lambeam.project import Project
from lambeam.registry import get_model_version, list_models
from lambeam.storage.schema import ModelVersionRow
from tests.registry.fitted import class_labels, fitted, frame, register, transform


class Clip(TransformerMixin, BaseEstimator):
    """A user's own transformer: skops does not know it, so it is untrusted unless named."""

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.clip(X, -2, 2)


CLIP = f"{Clip.__module__}.{Clip.__qualname__}"
DATA = frame(rows=80)


def _clipped() -> Pipeline:
    steps = Pipeline([("columns", transform()), ("clip", Clip())])
    return fitted(LogisticRegression(), DATA, class_labels(DATA), steps=steps)


def test_unknown_type_is_refused_at_register(registry: Project) -> None:
    with pytest.raises(UntrustedModelError) as caught:
        register(registry.db, registry.store, _clipped())
    assert CLIP in str(caught.value) and "\n" not in str(caught.value)
    assert list_models(registry.db) == []  # nothing half-registered


def test_named_type_is_trusted_recorded_and_loads(registry: Project) -> None:
    pipeline = _clipped()
    version = register(registry.db, registry.store, pipeline, trusted_extra=[CLIP])
    assert CLIP in version.trusted_types
    loaded = get_model_version(registry.db, registry.store, version.ref).load()
    assert isinstance(loaded.steps[0][1].steps[1][1], Clip)
    np.testing.assert_array_equal(loaded.predict_proba(DATA), pipeline.predict_proba(DATA))


def test_prefix_lookalikes_are_not_trusted(registry: Project) -> None:
    from lambeam.storage.trusted import is_trusted

    assert is_trusted("sklearn.tree._tree.Tree") and is_trusted("lambeam.data.transformers.X")
    assert not is_trusted("sklearn_evil.Payload") and not is_trusted("numpyx.Y")
    assert is_trusted("mypkg.Model", ["mypkg.Model"]) and not is_trusted(
        "mypkg.Other", ["mypkg.Model"]
    )


def test_stored_bytes_with_an_unrecorded_type_are_refused_at_load(registry: Project) -> None:
    db, store = registry.db, registry.store
    plain = fitted(LogisticRegression(), DATA, class_labels(DATA))
    version = register(db, store, plain)
    assert version.trusted_types == ["numpy.dtype"]
    # Someone swaps the version's blob for one holding a type that was never recorded.
    swapped = store.put_bytes(sio.dumps(_clipped()))
    with db.session() as session:
        session.execute(
            update(ModelVersionRow)
            .where(ModelVersionRow.model == "churn", ModelVersionRow.number == 1)
            .values(skops=swapped)
        )
    tampered = get_model_version(db, store, "churn:1")
    with pytest.raises(UntrustedModelError, match=f"churn:1.*{CLIP}"):
        tampered.load()


def test_an_object_skops_cannot_save_is_a_training_error(registry: Project) -> None:
    from lambeam.errors import TrainingError

    pipeline = fitted(LogisticRegression(), DATA, class_labels(DATA))
    pipeline[-1].history_ = (step for step in range(3))  # generators cannot be persisted
    with pytest.raises(TrainingError, match="cannot be saved with skops: TypeError"):
        register(registry.db, registry.store, pipeline)
    assert list_models(registry.db) == []


class Caller(TransformerMixin, BaseEstimator):
    """A transformer that would call a function by name, like a custom pipeline step."""

    def __init__(self, name: str = "os:system") -> None:
        self.name = name

    def referenced_callables(self) -> list[str]:
        return [self.name]


def test_functions_called_by_name_are_audited_like_types() -> None:
    from sklearn.pipeline import Pipeline

    from lambeam.errors import UntrustedModelError
    from lambeam.storage.trusted import dump_pipeline, load_pipeline, referenced_callables

    pipeline = Pipeline([("call", Caller())])
    assert referenced_callables(pipeline) == ["os:system"]
    with pytest.raises(UntrustedModelError, match="os:system"):
        dump_pipeline(pipeline, trusted_extra=[f"{__name__}.Caller"])
    data, types = dump_pipeline(pipeline, trusted_extra=[f"{__name__}.Caller", "os:system"])
    assert "os:system" in types
    with pytest.raises(UntrustedModelError, match="calls functions not recorded"):
        load_pipeline(data, [t for t in types if t != "os:system"])

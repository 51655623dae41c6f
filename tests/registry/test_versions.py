"""Registering, numbering and finding model versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sqlalchemy import func, select

from lambeam.errors import ConfigError, DatasetNotFoundError, ModelNotFoundError, TrainingError
from lambeam.project import Project
from lambeam.registry import (
    get_model_version,
    list_model_versions,
    list_models,
    parse_model_ref,
    set_alias,
)
from lambeam.storage.schema import ModelRow, ModelVersionRow
from tests.registry.fitted import (
    class_labels,
    fitted,
    frame,
    register,
    regression_target,
    signature,
)


@pytest.fixture(scope="module")
def classifier():
    data = frame()
    return fitted(LogisticRegression(max_iter=500), data, class_labels(data))


def test_versions_are_numbered_per_model_from_one(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    assert [register(db, store, classifier).number for _ in range(3)] == [1, 2, 3]
    data = frame()
    other = fitted(LinearRegression(), data, regression_target(data))
    first = register(db, store, other, model="price", task="regression", metrics={"rmse": 1.0})
    assert (first.ref, first.name, first.number) == ("price:1", "price", 1)
    assert [v.number for v in list_model_versions(db, store, "churn")] == [1, 2, 3]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ModelRow)) == 2


def test_record_holds_what_was_registered(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    version = register(
        db, store, classifier, metrics={"accuracy": 0.875, "f1": float("nan")}, created_by="ana"
    )
    assert version.task == "classification"
    assert version.estimator == "sklearn.linear_model._logistic.LogisticRegression"
    assert version.params["max_iter"] == 500
    assert version.metrics == {"accuracy": 0.875, "f1": None}  # NaN is not JSON on PostgreSQL
    assert version.signature.to_dict() == signature()
    assert version.lineage == {"dataset": {"ref": "toy:1"}}
    assert version.created_by == "ana" and version.duration_s == 0.5
    assert version.created_at.tzinfo is not None
    assert store.exists(version.skops_digest) and version.trusted_types == ["numpy.dtype"]
    again = get_model_version(db, store, "churn:1")
    assert again.to_dict() == version.to_dict()
    assert json.loads(json.dumps(again.to_dict()))["ref"] == "churn:1"


def test_refs_name_number_and_alias(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    for _ in range(3):
        register(db, store, classifier)
    set_alias(db, "churn", "prod", 2)
    assert get_model_version(db, store, "churn").number == 3
    assert get_model_version(db, store, "churn:1").number == 1
    prod = get_model_version(db, store, "churn@prod")
    assert prod.number == 2 and prod.aliases == ["prod"]
    assert get_model_version(db, store, "churn:3").aliases == []


@pytest.mark.parametrize(
    "ref",
    [
        "a:b:c",
        "name:x",
        "name:0",
        "name:",
        "name@",
        "@prod",
        "name@3",
        "name@Prod",
        "",
        "a@b:1",
        "bad name",
    ],
)
def test_malformed_refs_are_config_errors(ref: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model_ref(ref)
    assert "\n" not in str(caught.value) and repr(ref) in str(caught.value)


def test_missing_models_versions_and_aliases(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    with pytest.raises(ModelNotFoundError, match="'ghost'"):
        get_model_version(db, store, "ghost")
    with pytest.raises(ModelNotFoundError, match="'ghost'"):
        list_model_versions(db, store, "ghost")
    register(db, store, classifier)
    with pytest.raises(ModelNotFoundError, match="'churn' has no version 7"):
        get_model_version(db, store, "churn:7")
    from lambeam.errors import AliasNotFoundError

    with pytest.raises(AliasNotFoundError, match="'churn' has no alias 'prod'"):
        get_model_version(db, store, "churn@prod")


def test_list_models_summarises(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    assert list_models(db) == []
    for _ in range(2):
        register(db, store, classifier)
    register(db, store, classifier, model="another")
    set_alias(db, "churn", "prod", 1)
    set_alias(db, "churn", "staging", 2)
    summaries = {s.name: s for s in list_models(db)}
    assert sorted(summaries) == ["another", "churn"]
    churn = summaries["churn"]
    assert (churn.latest, churn.versions, churn.aliases) == (2, 2, {"prod": 1, "staging": 2})
    assert churn.updated_at >= get_model_version(db, store, "churn:2").created_at
    assert json.loads(json.dumps(churn.to_dict()))["latest"] == 2
    assert (summaries["another"].latest, summaries["another"].aliases) == (1, {})


def test_bad_inputs_register_nothing(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    broken = signature()
    broken["inputs"][0]["type"] = "float"
    with pytest.raises(TrainingError, match="input 'amount' has type 'float'"):
        register(db, store, classifier, sig=broken)
    unbounded = signature()
    unbounded["inputs"][0]["greater_than"] = "minus one"
    with pytest.raises(TrainingError, match="input 'amount': greater_than must be a number"):
        register(db, store, classifier, sig=unbounded)
    with pytest.raises(ConfigError, match="not a model name"):
        register(db, store, classifier, model="churn:2")
    with pytest.raises(DatasetNotFoundError, match="no dataset version with id 42"):
        from lambeam.registry import register_model_version

        register_model_version(
            db,
            store,
            model="churn",
            pipeline=classifier,
            task="classification",
            estimator="x.Y",
            params={},
            metrics={},
            signature=signature(),
            lineage={},
            dataset_version_id=42,
            raw_sample=None,
            duration_s=0.0,
        )
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ModelVersionRow)) == 0


def test_concurrent_registers_get_distinct_numbers(registry: Project, classifier) -> None:
    db, store = registry.db, registry.store
    numbers: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                numbers.append(register(db, store, classifier, sample=None).number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(numbers) == list(range(1, 10))

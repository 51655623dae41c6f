"""Registering a model version and setting or removing a model alias record their audit entries
beside the registry's own alias history; a model function's entries name its model."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression

from lambeam.functions import FunctionConfig, create_function, publish_version
from lambeam.project import Project
from lambeam.registry import alias_history, remove_alias, set_alias
from lambeam.storage.audit import entries, verify
from tests.registry.fitted import class_labels, fitted, frame, register


def test_register_and_alias_changes_are_audited(registry: Project) -> None:
    db, store = registry.db, registry.store
    data = frame(rows=80)
    pipeline = fitted(LogisticRegression(), data, class_labels(data))
    first = register(db, store, pipeline)
    register(db, store, pipeline)
    set_alias(db, "churn", "prod", 1)
    set_alias(db, "churn", "prod", 1)  # already there: nothing recorded in either log
    set_alias(db, "churn", "prod", 2)
    create_function(db, store, "churn-api", FunctionConfig(kind="model"), model="churn@prod")
    publish_version(db, store, "churn-api")
    remove_alias(db, "churn", "prod")

    found = entries(db)
    assert [(e.action, e.resource) for e in found] == [
        ("models:RegisterModelVersion", "model:churn:1"),
        ("models:RegisterModelVersion", "model:churn:2"),
        ("models:SetAlias", "model:churn@prod"),
        ("models:SetAlias", "model:churn@prod"),
        ("lambda:CreateFunction", "function:churn-api"),
        ("lambda:PublishVersion", "function:churn-api:1"),
        ("models:DeleteAlias", "model:churn@prod"),
    ]
    assert found[0].details["skops_sha256"] == first.skops_digest
    assert found[0].details["estimator"].endswith("LogisticRegression")
    assert found[3].details == {"from_version": 1, "to_version": 2}
    assert found[4].details["model"] == "churn@prod"
    assert found[5].details["model_version"] == "churn:2"
    assert found[6].details == {"from_version": 2, "to_version": None}
    assert len(alias_history(db, "churn")) == 3  # the registry's own history, as it was
    assert verify(db).ok

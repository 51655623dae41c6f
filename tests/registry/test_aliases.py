"""Aliases: set, move, remove, resolve, and the audit trail of every change."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from lambeam.errors import AliasNotFoundError, ConfigError, ModelNotFoundError
from lambeam.project import Project
from lambeam.registry import alias_history, get_model_version, list_models, remove_alias, set_alias
from tests.registry.fitted import class_labels, fitted, frame, register


@pytest.fixture
def three_versions(registry: Project) -> Project:
    data = frame(rows=80)
    pipeline = fitted(LogisticRegression(), data, class_labels(data))
    for _ in range(3):
        register(registry.db, registry.store, pipeline)
    return registry


def test_set_move_remove_is_audited(three_versions: Project) -> None:
    db, store = three_versions.db, three_versions.store
    set_alias(db, "churn", "prod", 1, by="ana")
    assert get_model_version(db, store, "churn@prod").number == 1
    set_alias(db, "churn", "prod", 3, by="bo")
    assert get_model_version(db, store, "churn@prod").number == 3
    set_alias(db, "churn", "prod", 3, by="bo")  # already there: nothing changes, nothing recorded
    set_alias(db, "churn", "staging-eu", 2)
    remove_alias(db, "churn", "prod", by="cy")
    with pytest.raises(AliasNotFoundError, match="no alias 'prod'"):
        get_model_version(db, store, "churn@prod")
    history = alias_history(db, "churn")
    assert [(e["alias"], e["from_version"], e["to_version"]) for e in history] == [
        ("prod", None, 1),
        ("prod", 1, 3),
        ("staging-eu", None, 2),
        ("prod", 3, None),
    ]
    assert [e["by"] for e in history if e["alias"] == "prod"] == ["ana", "bo", "cy"]
    assert history[-1]["by"] == "cy" and history[0]["at"] <= history[-1]["at"]
    assert history[2]["by"]  # the current user when `by` is not given
    assert list_models(db)[0].aliases == {"staging-eu": 2}


def test_a_version_can_carry_several_aliases(three_versions: Project) -> None:
    db, store = three_versions.db, three_versions.store
    set_alias(db, "churn", "prod", 2)
    set_alias(db, "churn", "canary", 2)
    assert get_model_version(db, store, "churn:2").aliases == ["canary", "prod"]


def test_alias_errors_name_the_problem(three_versions: Project) -> None:
    db = three_versions.db
    with pytest.raises(ModelNotFoundError, match="model 'churn' has no version 9"):
        set_alias(db, "churn", "prod", 9)
    with pytest.raises(ModelNotFoundError, match="'ghost'"):
        set_alias(db, "ghost", "prod", 1)
    with pytest.raises(AliasNotFoundError, match="model 'churn' has no alias 'prod'"):
        remove_alias(db, "churn", "prod")
    for bad in ("Prod", "123", "1abc", "pr od", ""):
        with pytest.raises(ConfigError, match="not an alias name"):
            set_alias(db, "churn", bad, 1)
    assert alias_history(db, "churn") == []

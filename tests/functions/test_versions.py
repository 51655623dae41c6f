"""Publishing versions: numbering, unchanged publishes, pinned model versions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from lambeam.errors import ModelNotFoundError
from lambeam.functions import (
    LATEST,
    Batching,
    CodeBundle,
    FunctionConfig,
    FunctionNotFoundError,
    PreconditionFailedError,
    create_function,
    delete_function,
    get_function,
    list_versions,
    publish_version,
    resolve,
    update_function_code,
    update_function_configuration,
)
from lambeam.project import Project
from lambeam.registry import set_alias
from tests.functions.conftest import code_config, write_code
from tests.registry.fitted import class_labels, fitted, frame, register


def test_publish_numbers_and_unchanged_publish(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    create_function(db, store, "hello", code_config(description="v1"), code=bundle)
    one = publish_version(db, store, "hello")
    assert (one.version, one.number, one.description, one.revision_id) == ("1", 1, "v1", None)
    assert publish_version(db, store, "hello", description="again") == one  # nothing changed

    update_function_configuration(db, "hello", code_config(memory_mb=1024))
    two = publish_version(db, store, "hello", description="more memory")
    assert (two.number, two.description, two.config.memory_mb) == (2, "more memory", 1024)

    other = CodeBundle.from_directory(write_code(tmp_path / "h2", {"b.py": ""}))
    latest = update_function_code(db, store, "hello", code=other)
    with pytest.raises(PreconditionFailedError):
        publish_version(db, store, "hello", expected_revision="stale")
    three = publish_version(db, store, "hello", expected_revision=latest.revision_id)
    assert three.number == 3 and three.code_sha256 == latest.code_sha256 != one.code_sha256

    # Versions are immutable: $LATEST moves on, version 1 stays as it was published.
    assert get_function(db, "hello", "1").config.memory_mb == 512
    assert get_function(db, "hello", 2).config.memory_mb == 1024
    assert [v.version for v in list_versions(db, "hello")] == [LATEST, "1", "2", "3"]

    # A deleted version's number is never handed out again.
    delete_function(db, "hello", "3")
    with pytest.raises(FunctionNotFoundError, match="hello:3"):
        get_function(db, "hello", "3")
    update_function_configuration(db, "hello", code_config(memory_mb=128))
    assert publish_version(db, store, "hello").number == 4


def test_model_function_versions_pin_the_model_version(proj: Project) -> None:
    db, store = proj.db, proj.store
    data = frame(rows=60)
    pipeline = fitted(LogisticRegression(), data, class_labels(data))
    for _ in range(2):
        register(db, store, pipeline, model="churn")
    set_alias(db, "churn", "prod", 1)
    config = FunctionConfig(kind="model", batching=Batching(16, 2))
    created = create_function(db, store, "churn-api", config, model="churn@prod")
    assert (created.kind, created.model, created.code_sha256) == ("model", "churn@prod", None)

    one = publish_version(db, store, "churn-api")
    assert one.model == "churn:1"
    assert publish_version(db, store, "churn-api") == one
    # The alias moves: $LATEST follows it at invoke time; a new publish pins the new version.
    set_alias(db, "churn", "prod", 2)
    assert resolve(db, "churn-api").model == "churn@prod"
    assert resolve(db, "churn-api", "1").model == "churn:1"
    two = publish_version(db, store, "churn-api")
    assert (two.number, two.model) == (2, "churn:2")

    pinned = update_function_code(db, store, "churn-api", model="churn:1")
    assert pinned.model == "churn:1" and pinned.config == replace(config)
    with pytest.raises(ModelNotFoundError, match="ghost"):
        create_function(db, store, "ghost-api", config, model="ghost@prod")

"""Every change to a function records its audit entry, in its own transaction, on each backend:
what changed, and never an environment variable's value."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.functions import (
    CodeBundle,
    FunctionNotFoundError,
    create_alias,
    create_function,
    delete_alias,
    delete_function,
    delete_function_concurrency,
    get_function,
    publish_version,
    put_function_concurrency,
    update_alias,
    update_function_code,
    update_function_configuration,
)
from lambeam.project import Project
from lambeam.storage.audit import entries, verify
from tests.functions.conftest import code_config, write_code

SECRET = "s3cr3t-value-never-logged"


def test_each_change_is_one_entry_saying_what_changed(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    first = CodeBundle.from_directory(write_code(tmp_path / "v1"))
    second = CodeBundle.from_directory(write_code(tmp_path / "v2", {"more.py": "X = 2\n"}))
    config = code_config(environment={"API_TOKEN": SECRET})
    create_function(db, store, "hello", config, code=first)
    update_function_code(db, store, "hello", code=second)
    current = get_function(db, "hello").config
    update_function_configuration(
        db, "hello", replace(current, memory_mb=1024, environment={"API_TOKEN": SECRET + "2"})
    )
    publish_version(db, store, "hello")
    publish_version(db, store, "hello")  # nothing changed: no new version, no entry
    create_alias(db, "hello", "prod", "1")
    update_function_code(db, store, "hello", code=first)
    publish_version(db, store, "hello")
    update_alias(db, "hello", "prod", "2")
    put_function_concurrency(db, "hello", 5)
    delete_function_concurrency(db, "hello")
    delete_alias(db, "hello", "prod")
    delete_function(db, "hello", "1")
    delete_function(db, "hello")

    found = entries(db)
    assert [(e.action, e.resource) for e in found] == [
        ("lambda:CreateFunction", "function:hello"),
        ("lambda:UpdateFunctionCode", "function:hello"),
        ("lambda:UpdateFunctionConfiguration", "function:hello"),
        ("lambda:PublishVersion", "function:hello:1"),
        ("lambda:CreateAlias", "function:hello:prod"),
        ("lambda:UpdateFunctionCode", "function:hello"),
        ("lambda:PublishVersion", "function:hello:2"),
        ("lambda:UpdateAlias", "function:hello:prod"),
        ("lambda:PutFunctionConcurrency", "function:hello"),
        ("lambda:DeleteFunctionConcurrency", "function:hello"),
        ("lambda:DeleteAlias", "function:hello:prod"),
        ("lambda:DeleteFunction", "function:hello:1"),
        ("lambda:DeleteFunction", "function:hello"),
    ]
    created, code, configured, published = (e.details for e in found[:4])
    assert created["code_sha256"] == first.sha256 and created["environment"] == ["API_TOKEN"]
    assert created["config"]["handler"] == "app.handler"
    assert (code["code_sha256"], code["previous"]["code_sha256"]) == (second.sha256, first.sha256)
    assert configured["changed"] == {"memory_mb": [512, 1024]}
    assert configured["environment"] == {"changed": ["API_TOKEN"]}
    assert published["code_sha256"] == second.sha256
    assert found[7].details == {"version": ["1", "2"]}
    assert found[8].details == {"reserved_concurrency": 5, "previous": None}
    assert found[12].details == {"versions": [2], "aliases": []}
    assert all(e.actor.startswith("user:") for e in found)
    assert SECRET not in json.dumps([e.details for e in found])
    assert verify(db).ok


def test_a_refused_change_records_nothing(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    create_function(
        db, store, "hello", code_config(), CodeBundle.from_directory(write_code(tmp_path))
    )
    with pytest.raises(FunctionNotFoundError):
        create_alias(db, "hello", "prod", "7")  # no such version
    with pytest.raises(ConfigError):
        put_function_concurrency(db, "hello", -1)
    assert [e.action for e in entries(db)] == ["lambda:CreateFunction"]

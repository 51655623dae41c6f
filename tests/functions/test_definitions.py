"""Functions and $LATEST: create, get, list, update, delete, concurrency; both databases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lambeam.errors import ConfigError, NotFoundError
from lambeam.functions import (
    LATEST,
    CodeBundle,
    FunctionConflictError,
    FunctionNotFoundError,
    PreconditionFailedError,
    b64_sha256,
    create_function,
    delete_function,
    delete_function_concurrency,
    get_function,
    list_functions,
    put_function_concurrency,
    update_function_code,
    update_function_configuration,
)
from lambeam.project import Project
from tests.functions.conftest import code_config, write_code


def test_create_get_list_update_delete(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    created = create_function(db, store, "hello", code_config(description="says hi"), code=bundle)
    assert created.version == LATEST and created.kind == "code" and created.number is None
    assert created.code_sha256 == bundle.sha256 and store.exists(bundle.sha256)
    assert created.code_sha256_b64 == b64_sha256(bundle.sha256) == bundle.code_sha256
    assert created.description == "says hi" and created.model is None
    assert get_function(db, "hello") == created == get_function(db, "hello", LATEST)

    create_function(db, store, "another", code_config(), code=bundle)
    assert [f.name for f in list_functions(db)] == ["another", "hello"]

    new_code = CodeBundle.from_directory(write_code(tmp_path / "hello2", {"extra.py": "X = 1\n"}))
    after_code = update_function_code(db, store, "hello", code=new_code)
    assert after_code.code_sha256 == new_code.sha256 != created.code_sha256
    assert after_code.revision_id != created.revision_id
    assert after_code.config == created.config

    bigger = replace(after_code.config, memory_mb=2048, environment={"GREETING": "hi"})
    after_config = update_function_configuration(db, "hello", bigger)
    assert after_config.config == bigger and after_config.code_sha256 == new_code.sha256
    assert after_config.revision_id not in (created.revision_id, after_code.revision_id)
    assert after_config.updated_at >= created.updated_at

    delete_function(db, "hello")
    with pytest.raises(FunctionNotFoundError, match="Function not found: hello") as caught:
        get_function(db, "hello")
    assert isinstance(caught.value, NotFoundError) and caught.value.http_status == 404
    assert [f.name for f in list_functions(db)] == ["another"]


def test_refusals_name_the_function(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    first = create_function(db, store, "hello", code_config(), code=bundle)
    with pytest.raises(FunctionConflictError, match="Function already exist: hello"):
        create_function(db, store, "hello", code_config(), code=bundle)
    with pytest.raises(ConfigError, match="not a function name"):
        create_function(db, store, "bad name", code_config(), code=bundle)
    with pytest.raises(ConfigError, match="function 'nocode': a code function takes a code bundle"):
        create_function(db, store, "nocode", code_config())
    with pytest.raises(ConfigError, match="function 'm': a model function takes a model"):
        create_function(db, store, "m", code_config().__class__(kind="model"), code=bundle)
    with pytest.raises(FunctionNotFoundError, match="Function not found: ghost"):
        update_function_code(db, store, "ghost", code=bundle)
    with pytest.raises(FunctionNotFoundError, match=r"hello:3 \(no such version\)"):
        get_function(db, "hello", "3")
    with pytest.raises(FunctionNotFoundError, match="Alias not found: hello:prod"):
        get_function(db, "hello", "prod")
    with pytest.raises(ConfigError, match="cannot become a model function"):
        update_function_configuration(db, "hello", code_config().__class__(kind="model"))
    with pytest.raises(ConfigError, match=r"\$LATEST cannot be deleted on its own"):
        delete_function(db, "hello", LATEST)
    assert get_function(db, "hello") == first  # nothing above changed it


def test_revision_id_guards_updates(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    first = create_function(db, store, "hello", code_config(), code=bundle)
    second = update_function_configuration(
        db, "hello", code_config(timeout_s=60), expected_revision=first.revision_id
    )
    with pytest.raises(PreconditionFailedError, match=first.revision_id) as caught:
        update_function_configuration(
            db, "hello", code_config(timeout_s=90), expected_revision=first.revision_id
        )
    assert caught.value.http_status == 412
    assert get_function(db, "hello").config.timeout_s == 60
    assert get_function(db, "hello").revision_id == second.revision_id


def test_reserved_concurrency_is_function_wide(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    created = create_function(db, store, "hello", code_config(warm_minimum=2), code=bundle)
    limited = put_function_concurrency(db, "hello", 5)
    assert limited.config.reserved_concurrency == 5
    assert limited.revision_id == created.revision_id  # like Lambda: not a change of $LATEST
    with pytest.raises(ConfigError, match="reserved_concurrency 1 is below a warm_minimum of 2"):
        put_function_concurrency(db, "hello", 1)
    with pytest.raises(ConfigError, match="reserved_concurrency must be an integer"):
        put_function_concurrency(db, "hello", -1)
    assert delete_function_concurrency(db, "hello").config.reserved_concurrency is None

"""Deleting a function removes what it left on disk: its log files, and the unpacked code and
requirements no remaining function or version names (a bundle another function shares stays)."""

from __future__ import annotations

import os
from pathlib import Path

from lambeam.functions import (
    CodeBundle,
    create_function,
    delete_function,
    materialize,
    publish_version,
    update_function_code,
)
from lambeam.invoke.local import invoke_in_process, logs_folder
from lambeam.project import Project
from lambeam.runtime.logs import FileLogSink
from tests.functions.conftest import code_config, write_code


def _code_cache(project: Project) -> Path:
    return project.settings.state_dir / "functions" / "code"


def _cached(project: Project) -> set[str]:
    folder = _code_cache(project)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_delete_removes_logs_and_unshared_code_after_real_invocations(
    project: Project, tmp_path: Path
) -> None:
    shared = CodeBundle.from_directory(write_code(tmp_path / "shared"))
    own = CodeBundle.from_directory(write_code(tmp_path / "own", {"extra.py": "X = 1\n"}))
    for name in ("alpha", "beta"):
        create_function(project.db, project.store, name, code_config(), shared)
    create_function(project.db, project.store, "gamma", code_config(), own)
    for name in ("alpha", "beta", "gamma"):
        assert invoke_in_process(project, name, b'{"a": 1}').function_error is None
    logs = logs_folder(project)
    assert {p.name for p in logs.glob("*.log")} == {"alpha.log", "beta.log", "gamma.log"}
    assert _cached(project) == {shared.sha256, own.sha256}

    state = project.settings.state_dir
    delete_function(project.db, "alpha", state_dir=state)
    assert not (logs / "alpha.log").exists() and (logs / "beta.log").exists()
    assert _cached(project) == {shared.sha256, own.sha256}  # beta still runs the shared bytes

    delete_function(project.db, "gamma", state_dir=state)
    assert not (logs / "gamma.log").exists()
    assert _cached(project) == {shared.sha256}

    delete_function(project.db, "beta", state_dir=state)
    assert _cached(project) == set()
    assert {p.name for p in logs.glob("*.log*")} == set()


def test_a_version_keeps_its_code_until_it_is_deleted(project: Project, tmp_path: Path) -> None:
    db, store, state = project.db, project.store, project.settings.state_dir
    first = CodeBundle.from_directory(write_code(tmp_path / "v1"))
    second = CodeBundle.from_directory(write_code(tmp_path / "v2", {"extra.py": "X = 2\n"}))
    create_function(db, store, "hello", code_config(), first)
    publish_version(db, store, "hello")
    update_function_code(db, store, "hello", code=second)
    publish_version(db, store, "hello")
    for bundle in (first, second):
        materialize(store, bundle.sha256, _code_cache(project))
    os.chmod(_code_cache(project) / first.sha256, 0o555)  # a read-only cache goes too

    delete_function(db, "hello", "2", state_dir=state)  # $LATEST still runs the second
    assert _cached(project) == {first.sha256, second.sha256}
    delete_function(db, "hello", "1", state_dir=state)
    assert _cached(project) == {second.sha256}


def test_rotated_logs_go_and_a_similar_name_stays(project: Project, tmp_path: Path) -> None:
    bundle = CodeBundle.from_directory(write_code(tmp_path / "code"))
    for name in ("hello", "hello2"):
        create_function(project.db, project.store, name, code_config(), bundle)
    sink = FileLogSink(logs_folder(project), max_bytes=100)
    for _ in range(3):
        sink.write("hello", "x" * 80 + "\n")
    sink.write("hello2", "kept\n")
    sink.close()
    assert sink.rotated("hello")
    delete_function(project.db, "hello", state_dir=project.settings.state_dir)
    assert sorted(p.name for p in logs_folder(project).glob("*.log*")) == ["hello2.log"]

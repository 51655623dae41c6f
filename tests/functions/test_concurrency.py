"""Racing writers: one function per name, one version per unchanged $LATEST, numbers unique."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lambeam.functions import (
    CodeBundle,
    FunctionConflictError,
    create_function,
    list_functions,
    list_versions,
    publish_version,
    update_function_configuration,
)
from lambeam.project import Project
from tests.functions.conftest import code_config, write_code

THREADS = 6


def _outcome(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except FunctionConflictError:
        return "conflict"
    return "ok"


def test_racing_creates_and_publishes(proj: Project, tmp_path: Path) -> None:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(
            pool.map(
                lambda _: _outcome(
                    lambda: create_function(db, store, "hello", code_config(), code=bundle)
                ),
                range(THREADS),
            )
        )
    assert sorted(outcomes) == ["conflict"] * (THREADS - 1) + ["ok"]
    assert [f.name for f in list_functions(db)] == ["hello"]

    with ThreadPoolExecutor(THREADS) as pool:
        versions = set(
            pool.map(lambda _: publish_version(db, store, "hello").number, range(THREADS))
        )
    assert versions == {1}  # an unchanged $LATEST is published once, however many ask

    def change_and_publish(memory: int) -> int:
        update_function_configuration(db, "hello", code_config(memory_mb=memory))
        return publish_version(db, store, "hello").number  # type: ignore[return-value]

    with ThreadPoolExecutor(THREADS) as pool:
        numbers = list(pool.map(change_and_publish, [256 + 64 * i for i in range(THREADS)]))
    published = [v.number for v in list_versions(db, "hello")[1:]]
    assert published == sorted(set(published)) and set(numbers) <= set(published)

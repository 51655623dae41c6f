"""Function aliases, routing weights, and resolving a qualifier to the version that runs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.functions import (
    LATEST,
    CodeBundle,
    FunctionConflictError,
    FunctionNotFoundError,
    PreconditionFailedError,
    Resolver,
    create_alias,
    create_function,
    delete_alias,
    delete_function,
    get_alias,
    get_function,
    list_aliases,
    publish_version,
    resolve,
    update_alias,
    update_function_configuration,
)
from lambeam.project import Project
from tests.functions.conftest import code_config, write_code


@pytest.fixture
def three_versions(proj: Project, tmp_path: Path) -> Project:
    db, store = proj.db, proj.store
    bundle = CodeBundle.from_directory(write_code(tmp_path / "hello"))
    create_function(db, store, "hello", code_config(), code=bundle)
    for memory in (256, 512, 1024):
        update_function_configuration(db, "hello", code_config(memory_mb=memory))
        publish_version(db, store, "hello")
    return proj


def test_create_get_update_delete(three_versions: Project) -> None:
    db = three_versions.db
    prod = create_alias(db, "hello", "prod", "1", description="live")
    assert (prod.version, prod.routing, prod.description) == ("1", None, "live")
    assert get_alias(db, "hello", "prod") == prod
    assert get_function(db, "hello", "prod").config.memory_mb == 256
    create_alias(db, "hello", "dev", LATEST)
    assert [a.name for a in list_aliases(db, "hello")] == ["dev", "prod"]

    moved = update_alias(db, "hello", "prod", version=2, expected_revision=prod.revision_id)
    assert moved.version == "2" and moved.description == "live"
    assert moved.revision_id != prod.revision_id
    with pytest.raises(PreconditionFailedError):
        update_alias(db, "hello", "prod", version=3, expected_revision=prod.revision_id)

    split = update_alias(db, "hello", "prod", routing={"additional_version": 3, "weight": 0.25})
    assert split.routing == {"additional_version": "3", "weight": 0.25}
    assert update_alias(db, "hello", "prod", description="x").routing == split.routing  # kept
    assert update_alias(db, "hello", "prod", routing={}).routing is None  # cleared

    delete_alias(db, "hello", "prod")
    with pytest.raises(FunctionNotFoundError, match="Alias not found: hello:prod"):
        get_alias(db, "hello", "prod")
    delete_function(db, "hello")
    with pytest.raises(FunctionNotFoundError, match="Function not found: hello"):
        list_aliases(db, "hello")


_REFUSALS = [
    ("9", None, r"hello:9 \(no such version\)"),
    ("prod", None, "must be a published version number or \\$LATEST"),
    ("1", {"additional_version": "1", "weight": 0.5}, "must differ"),
    ("1", {"additional_version": "9", "weight": 0.5}, "hello:9"),
    ("1", {"additional_version": "2", "weight": 1.5}, r"weight must be a number from 0.0 to 1.0"),
    ("1", {"additional_version": "2", "weight": float("nan")}, "weight"),
    ("1", {"additional_version": "$LATEST", "weight": 0.1}, "additional_version"),
    ("1", {"additional_version": "2"}, "needs both"),
    ("1", {"additional_version": "2", "weight": 0.1, "x": 1}, "unknown key 'x'"),
    (LATEST, {"additional_version": "2", "weight": 0.1}, "must point at a published version"),
]


def test_refused_aliases(three_versions: Project) -> None:
    for version, routing, message in _REFUSALS:
        with pytest.raises((ConfigError, FunctionNotFoundError), match=message):
            create_alias(three_versions.db, "hello", "prod", version, routing)
    assert list_aliases(three_versions.db, "hello") == []


def test_names_and_duplicates(three_versions: Project) -> None:
    db = three_versions.db
    with pytest.raises(ConfigError, match="not an alias name"):
        create_alias(db, "hello", "123", "1")
    create_alias(db, "hello", "prod", "1")
    with pytest.raises(FunctionConflictError, match="Alias already exists: hello:prod"):
        create_alias(db, "hello", "prod", "2")


def test_delete_refused_while_an_alias_uses_the_version(three_versions: Project) -> None:
    db = three_versions.db
    create_alias(db, "hello", "prod", "1", {"additional_version": "2", "weight": 0.1})
    for version in ("1", "2"):
        message = f"version {version} .* alias prod"
        with pytest.raises(FunctionConflictError, match=message) as caught:
            delete_function(db, "hello", version)
        assert caught.value.http_status == 409
    delete_function(db, "hello", "3")
    update_alias(db, "hello", "prod", routing={})
    delete_function(db, "hello", "2")
    with pytest.raises(ConfigError, match="is an alias"):
        delete_function(db, "hello", "prod")
    assert get_function(db, "hello", "1").version == "1"


def test_resolve_every_kind_of_qualifier(three_versions: Project) -> None:
    db = three_versions.db
    create_alias(db, "hello", "prod", "1", {"additional_version": "3", "weight": 0.1})
    create_alias(db, "hello", "dev", LATEST)
    assert resolve(db, "hello").version == LATEST
    assert resolve(db, "hello", LATEST).config.memory_mb == 1024
    two = resolve(db, "hello", "2")
    assert (two.version, two.alias, two.config.memory_mb, two.qualifier) == ("2", None, 512, "2")
    assert resolve(db, "hello", "dev").version == LATEST
    # rng() < weight sends the call to the additional version.
    assert resolve(db, "hello", "prod", rng=lambda: 0.05).version == "3"
    main = resolve(db, "hello", "prod", rng=lambda: 0.1)
    assert (main.version, main.alias, main.qualifier) == ("1", "prod", "prod")
    for qualifier, message in (("9", "hello:9"), ("beta", "Alias not found: hello:beta")):
        with pytest.raises(FunctionNotFoundError, match=message):
            resolve(db, "hello", qualifier)
    with pytest.raises(FunctionNotFoundError, match="Function not found: ghost"):
        resolve(db, "ghost")


def test_routing_weight_over_many_draws(three_versions: Project) -> None:
    db = three_versions.db
    alias = create_alias(db, "hello", "prod", "1", {"additional_version": "2", "weight": 0.2})
    draws = random.Random(7)
    picks = [alias.choose(draws.random) for _ in range(10_000)]
    assert set(picks) == {"1", "2"} and abs(picks.count("2") / len(picks) - 0.2) < 0.02
    # resolve() makes the same choice from the same draws, through the database.
    rng_a, rng_b = random.Random(11), random.Random(11)
    resolved = [resolve(db, "hello", "prod", rng=rng_a.random).version for _ in range(100)]
    assert resolved == [alias.choose(rng_b.random) for _ in range(100)]


def test_a_servers_resolver_rereads_after_a_second_or_when_told(three_versions: Project) -> None:
    db = three_versions.db
    create_alias(db, "hello", "prod", "1", {"additional_version": "3", "weight": 0.5})
    now, draws = [0.0], iter([0.9, 0.1, 0.9])
    resolver = Resolver(db, ttl_s=1.0, rng=lambda: next(draws), clock=lambda: now[0])
    assert resolver.cached("hello", "prod") is None
    assert resolver.resolve("hello", "prod").version == "1"
    # Each call still draws its own weighted pick, from what was read once.
    assert resolver.cached("hello", "prod").version == "3"
    update_alias(db, "hello", "prod", version="2", routing={})
    assert resolver.cached("hello", "prod").version == "1"  # within its second
    now[0] = 1.0
    assert resolver.cached("hello", "prod") is None
    assert resolver.resolve("hello", "prod").version == "2"
    update_alias(db, "hello", "prod", version="1")
    resolver.forget("hello")
    assert resolver.resolve("hello", "prod").version == "1"
    with pytest.raises(FunctionNotFoundError):
        resolver.resolve("ghost")
    assert resolver.cached("ghost", None) is None  # errors are not kept

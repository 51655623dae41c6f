"""Settings: lambeam.toml first, then LAMBEAM_* variables, then flags.

One typed `Settings` object is built at the entry point and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lambeam.errors import ConfigError, ProjectNotFoundError

__all__ = [
    "ARTIFACTS_ENCRYPT_ENV",
    "CONFIG_FILE",
    "EVENTS_POLL_ENV",
    "EVENTS_RETRY_DELAYS_ENV",
    "MASTER_KEY_ENV",
    "STATE_DIR",
    "EventTimings",
    "Settings",
    "find_project_root",
    "load_settings",
]

CONFIG_FILE = "lambeam.toml"
STATE_DIR = ".lambeam"

_TOP_LEVEL = {
    "project",
    "storage",
    "artifacts",
    "pipelines",
    "train",
    "functions",
    "queues",
    "topics",
    "events",
}
_ARTIFACTS_KEYS = {"encrypt"}
_STORAGE_KEYS = {"database_url", "artifacts", "s3_endpoint_url"}
_ENV = {
    "database_url": "LAMBEAM_DATABASE_URL",
    "artifacts": "LAMBEAM_ARTIFACTS",
    "s3_endpoint_url": "LAMBEAM_S3_ENDPOINT_URL",
}
# Secrets never come from lambeam.toml (it is committed): the master key is a variable or a file.
MASTER_KEY_ENV = "LAMBEAM_MASTER_KEY"
ARTIFACTS_ENCRYPT_ENV = "LAMBEAM_ARTIFACTS_ENCRYPT"
EVENTS_RETRY_DELAYS_ENV = "LAMBEAM_EVENTS_RETRY_DELAYS"
EVENTS_POLL_ENV = "LAMBEAM_EVENTS_POLL_INTERVAL"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


_SQLITE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class EventTimings:
    """When the server retries and polls asynchronous work.

    `retry_delays_s`: Lambda waits 1 minute before an async event's second attempt and 2 before
    its third. `poll_interval_s`: how often pollers (queue mappings, object watchers, the
    dispatcher when idle, schedules) look for work made by another process; work made in this
    process wakes them at once.
    """

    retry_delays_s: tuple[float, float] = (60.0, 120.0)
    poll_interval_s: float = 1.0

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any], environ: Mapping[str, str], where: str
    ) -> EventTimings:
        """[events] retry_delays = [60, 120], poll_interval = 1.0; then LAMBEAM_EVENTS_RETRY_DELAYS
        ("60,120") and LAMBEAM_EVENTS_POLL_INTERVAL."""
        bad = sorted(set(section) - {"retry_delays", "poll_interval"})
        if bad:
            raise ConfigError(
                f"{where}: [events] has unknown key {bad[0]!r}; expected poll_interval or"
                " retry_delays"
            )
        delays: Any = section.get("retry_delays", cls.retry_delays_s)
        interval: Any = section.get("poll_interval", cls.poll_interval_s)
        if environ.get(EVENTS_RETRY_DELAYS_ENV):
            where, delays = EVENTS_RETRY_DELAYS_ENV, environ[EVENTS_RETRY_DELAYS_ENV].split(",")
        try:
            delays = tuple(float(d) for d in delays)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: retry_delays must be two numbers of seconds") from None
        if len(delays) != 2 or not all(0 <= d <= 3600 for d in delays):
            raise ConfigError(f"{where}: retry_delays must be two numbers of seconds, 0 to 3600")
        if environ.get(EVENTS_POLL_ENV):
            where, interval = EVENTS_POLL_ENV, environ[EVENTS_POLL_ENV]
        try:
            interval = float(interval)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: poll_interval must be a number of seconds") from None
        if not 0.01 <= interval <= 60:
            raise ConfigError(f"{where}: poll_interval must be between 0.01 and 60 seconds")
        return cls((delays[0], delays[1]), interval)


@dataclass(frozen=True)
class Settings:
    """Everything a lambeam command needs to know about its project."""

    root: Path
    name: str
    database_url: str
    artifacts: str
    s3_endpoint_url: str | None = None
    pipelines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    train: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    functions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    queues: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    topics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # [events] / LAMBEAM_EVENTS_*: how the server times asynchronous work (tests shorten them).
    events: EventTimings = field(default_factory=lambda: EventTimings())
    # LAMBEAM_MASTER_KEY as given (base64), else None: the key file in state_dir is used.
    master_key: str | None = field(default=None, repr=False)
    # [artifacts] encrypt / LAMBEAM_ARTIFACTS_ENCRYPT: seal the artifacts stored from now on.
    artifacts_encrypt: bool = False

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def private_paths(self) -> tuple[Path, ...]:
        """What a function instance must never read: the state folder, and the SQLite database
        (with its journal files) and the artifact folder wherever they are configured."""
        paths = [self.state_dir]
        if self.database_url.startswith("sqlite:///"):
            database = Path(self.database_url.removeprefix("sqlite:///"))
            paths += [database, *(database.with_name(database.name + s) for s in _SQLITE_FILES)]
        if "://" not in self.artifacts:
            paths.append(Path(self.artifacts))
        return tuple(paths)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with flag values applied (None means: keep the current value)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` that holds a lambeam.toml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ProjectNotFoundError(
        f"no {CONFIG_FILE} in {here} or any parent directory; run `lambeam init` to make one"
    )


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read lambeam.toml under `root` (found upwards from the cwd if None) and apply LAMBEAM_*."""
    environ = os.environ if environ is None else environ
    root = find_project_root(root) if root is None else root.resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ProjectNotFoundError(f"{path} does not exist; run `lambeam init` to make it")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None

    unknown = sorted(set(doc) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(
            f"{path}: unknown section [{unknown[0]}]; expected one of "
            + ", ".join(f"[{s}]" for s in sorted(_TOP_LEVEL))
        )
    project = _table(doc, "project", path)
    storage = _table(doc, "storage", path)
    bad = sorted(set(storage) - _STORAGE_KEYS)
    if bad:
        raise ConfigError(f"{path}: [storage] has unknown key {bad[0]!r}")

    values: dict[str, Any] = {
        "database_url": f"sqlite:///{root / STATE_DIR / 'lambeam.db'}",
        "artifacts": str(root / STATE_DIR / "artifacts"),
        "s3_endpoint_url": None,
    }
    origins: dict[str, str] = {}
    for key in _STORAGE_KEYS:
        if key in storage:
            if not isinstance(storage[key], str):
                raise ConfigError(f"{path}: [storage] {key} must be a string")
            values[key] = storage[key]
            origins[key] = f"{path}: [storage] {key}"
        if environ.get(_ENV[key]):
            values[key] = environ[_ENV[key]]
            origins[key] = _ENV[key]
    _check_locations(values, origins)
    values["artifacts_encrypt"] = _artifacts_encrypt(_table(doc, "artifacts", path), path, environ)
    values["master_key"] = environ.get(MASTER_KEY_ENV) or None
    values["artifacts"] = _absolute_location(values["artifacts"], root)
    values["database_url"] = _psycopg(_absolute_sqlite(values["database_url"], root))

    return Settings(
        root=root,
        name=str(project.get("name", root.name)),
        pipelines=_named_tables(doc, "pipelines", path),
        train=_named_tables(doc, "train", path),
        functions=_named_tables(doc, "functions", path),
        queues=_named_tables(doc, "queues", path),
        topics=_named_tables(doc, "topics", path),
        events=EventTimings.from_config(_table(doc, "events", path), environ, str(path)),
        **values,
    )


def _table(doc: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


def _artifacts_encrypt(section: Mapping[str, Any], path: Path, environ: Mapping[str, str]) -> bool:
    bad = sorted(set(section) - _ARTIFACTS_KEYS)
    if bad:
        raise ConfigError(f"{path}: [artifacts] has unknown key {bad[0]!r}; expected 'encrypt'")
    encrypt = section.get("encrypt", False)
    if not isinstance(encrypt, bool):
        raise ConfigError(f"{path}: [artifacts] encrypt must be true or false")
    given = environ.get(ARTIFACTS_ENCRYPT_ENV)
    if given is not None:
        word = given.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ConfigError(f"{ARTIFACTS_ENCRYPT_ENV}={given!r}: expected 1 or 0 (true or false)")
        encrypt = word in _TRUE
    return encrypt


def _named_tables(doc: Mapping[str, Any], key: str, path: Path) -> dict[str, Mapping[str, Any]]:
    section = _table(doc, key, path)
    for name, value in section.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{key}.{name}] must be a table")
    return dict(section)


# Schemes whose first path part is a bucket or container (file://, memory:// and the like have none).
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"})


def _check_locations(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Refuse an S3 endpoint that is no http(s) URL and an artifact URL without a bucket, here,
    rather than as a client library's traceback at the first read."""
    endpoint = values["s3_endpoint_url"]
    if endpoint is not None:
        scheme, _, rest = endpoint.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ConfigError(
                f"{origins['s3_endpoint_url']} = {endpoint!r} is not an endpoint URL; "
                "write it with its scheme and host, e.g. http://127.0.0.1:9000"
            )
    artifacts = values["artifacts"]
    scheme, separator, rest = artifacts.partition("://")
    if separator and scheme.lower() in _OBJECT_STORES and not rest.split("/", 1)[0]:
        raise ConfigError(
            f"{origins.get('artifacts', 'the artifact store')} = {artifacts!r} names no bucket; "
            f"write it as {scheme}://BUCKET/PREFIX"
        )


def _absolute_location(location: str, root: Path) -> str:
    """Relative artifact folders are relative to the project root; URLs stay as they are."""
    if "://" in location:
        return location
    path = Path(location)
    return str(path if path.is_absolute() else root / path)


def _psycopg(url: str) -> str:
    """A PostgreSQL URL without a driver (`postgres://`, as many hosts hand them out, or
    `postgresql://`, which SQLAlchemy reads as psycopg2) on the driver lambeam installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _absolute_sqlite(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(root / url[len(prefix) :])
    return url

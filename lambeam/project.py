"""A lambeam project: its settings, metadata database and artifact store, opened together."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambeam.config import CONFIG_FILE, STATE_DIR, Settings, load_settings
from lambeam.errors import ConfigError
from lambeam.security import (
    create_access_key,
    credentials_path,
    list_access_keys,
    write_credentials_file,
)
from lambeam.security.keys import seal_plaintext_secrets
from lambeam.storage import ArtifactStore, Database
from lambeam.storage.sealing import MASTER_KEY_FILE, MasterKey, Sealer

__all__ = ["Project", "init_project", "master_key"]

_TEMPLATE = """\
# lambeam project: pipelines, training jobs and functions, declared.
[project]
name = "{name}"

# Where metadata and artifacts live. The defaults are a SQLite file and a folder in .lambeam/;
# LAMBEAM_DATABASE_URL and LAMBEAM_ARTIFACTS override these (e.g. postgresql+psycopg://…, s3://…).
# [storage]
# database_url = "sqlite:///.lambeam/lambeam.db"
# artifacts = ".lambeam/artifacts"

# [pipelines.example]
# source = "data/*.csv"
# label = "target"
# split = {{ test = 0.2, key = "id" }}
# columns = {{ amount = ["impute:median", "standardize"], city = [{{ onehot = {{ top_k = 20 }} }}] }}

# [train.example]
# dataset = "example"
# estimator = "sklearn.ensemble.RandomForestClassifier"
# params = {{ n_estimators = 200, random_state = 0 }}

# Functions, deployed with `lambeam apply` and served by `lambeam server`:
# [functions.example-api]               # a model function: a registry model behind an API
# model = "example@prod"                # or "example:3"
# memory = 1024                         # MB (default 512); timeout = 30 (s, at most 900)
#
# [functions.hello]                     # a code function: handler(event, context)
# code = "hello"                        # a folder (or .zip) with app.py; requirements.txt optional
# handler = "app.handler"
# environment = {{ GREETING = "hi" }}
"""


@dataclass
class Project:
    """What every command works on: settings, the metadata database, the artifact store."""

    settings: Settings
    db: Database
    store: ArtifactStore

    @classmethod
    def open(cls, root: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
        """Open the project at `root` (or found upwards from the cwd), migrating its database."""
        settings = load_settings(root, environ)
        return cls.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Project:
        """Open the database and artifact store that `settings` name.

        The project's folder goes on the import path, so the modules it names (custom pipeline
        steps, estimator factories) import the same under `lambeam`, `python -m lambeam` and -C.

        Secrets in the database (and artifacts, when `artifacts_encrypt`) are sealed under the
        project's master key; access-key secrets stored before sealing are sealed now.
        """
        root = str(settings.root)
        if root not in sys.path:
            sys.path.insert(0, root)
        sealer = Sealer(master_key(settings))
        db = Database(settings.database_url, sealer=sealer)
        try:
            seal_plaintext_secrets(db)
        except BaseException:
            db.dispose()
            raise
        return cls(settings, db, ArtifactStore.from_settings(settings, sealer))

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def master_key(settings: Settings) -> MasterKey:
    """The project's master key: LAMBEAM_MASTER_KEY when set, else <state dir>/master.key (made,
    mode 0600, the first time something is sealed). A malformed value is a ConfigError here."""
    if settings.master_key is not None:
        return MasterKey(value=settings.master_key)
    return MasterKey(path=settings.state_dir / MASTER_KEY_FILE)


def init_project(
    root: Path, name: str | None = None, environ: Mapping[str, str] | None = None
) -> Project:
    """Create lambeam.toml and .lambeam/ in `root` (keeping an existing lambeam.toml).

    A project with no access key yet gets an admin key, written to .lambeam/credentials (mode 0600).
    """
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    if not config.exists():
        config.write_text(_TEMPLATE.format(name=name or root.name), encoding="utf-8")
    elif not config.is_file():
        raise ConfigError(f"{config} exists and is not a file")
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    os.chmod(state, 0o700)
    project = Project.open(root, environ)
    if not list_access_keys(project.db):
        key = create_access_key(project.db, "admin", role="admin")
        write_credentials_file(credentials_path(project.settings), key)
    return project

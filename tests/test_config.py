"""Settings: lambeam.toml, then LAMBEAM_* variables; clear errors for a bad file."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest

from lambeam.config import load_settings
from lambeam.errors import ConfigError, ProjectNotFoundError
from lambeam.project import init_project
from lambeam.security import get_secret, list_access_keys


def test_init_makes_toml_and_state(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p", environ={})
    assert (tmp_path / "p" / "lambeam.toml").is_file()
    assert (tmp_path / "p" / ".lambeam" / "lambeam.db").is_file()
    assert project.settings.artifacts == str((tmp_path / "p" / ".lambeam" / "artifacts").resolve())
    project.close()


def test_init_creates_one_admin_key_and_private_credentials(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p", environ={})
    (key,) = list_access_keys(project.db)
    path = tmp_path / "p" / ".lambeam" / "credentials"
    assert key.role == "admin" and stat.S_IMODE(path.stat().st_mode) == 0o600
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser["lambeam"]["aws_access_key_id"] == key.id
    assert parser["lambeam"]["aws_secret_access_key"] == get_secret(project.db, key.id)
    project.close()
    before = path.read_bytes()
    again = init_project(tmp_path / "p", environ={})  # a second init keeps the key and the file
    assert [k.id for k in list_access_keys(again.db)] == [key.id] and path.read_bytes() == before
    again.close()


def test_environment_overrides_toml(tmp_path: Path) -> None:
    (tmp_path / "lambeam.toml").write_text('[storage]\nartifacts = "a"\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.artifacts == str(tmp_path.resolve() / "a")
    env = {"LAMBEAM_ARTIFACTS": "s3://bucket/prefix", "LAMBEAM_DATABASE_URL": "sqlite:///x.db"}
    settings = load_settings(tmp_path, environ=env)
    assert settings.artifacts == "s3://bucket/prefix"
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'x.db'}"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LAMBEAM_S3_ENDPOINT_URL", "127.0.0.1:9000", "is not an endpoint URL"),
        ("LAMBEAM_S3_ENDPOINT_URL", "ftp://host", "is not an endpoint URL"),
        ("LAMBEAM_S3_ENDPOINT_URL", "http://", "is not an endpoint URL"),
        ("LAMBEAM_ARTIFACTS", "s3://", "names no bucket"),
        ("LAMBEAM_ARTIFACTS", "s3:///prefix", "names no bucket"),
    ],
)
def test_a_store_location_that_cannot_work_is_named(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    """Refused when the settings are read (an endpoint without its scheme was a 94-line
    traceback from the S3 client at the first read; s3:// wrote to a local folder 's3:')."""
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "p"\n')
    with pytest.raises(ConfigError, match=rf"^{variable} = '{value}' {message}"):
        load_settings(tmp_path, environ={variable: value})
    (tmp_path / "lambeam.toml").write_text(
        f'[storage]\n{variable.removeprefix("LAMBEAM_").lower()} = "{value}"\n'
    )
    with pytest.raises(ConfigError, match=r"lambeam.toml: \[storage\] "):
        load_settings(tmp_path, environ={})
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "p"\n')
    env = {"LAMBEAM_S3_ENDPOINT_URL": "HTTPS://s3.example.com", "LAMBEAM_ARTIFACTS": "s3://b/p"}
    assert load_settings(tmp_path, environ=env).s3_endpoint_url == "HTTPS://s3.example.com"
    # Stores without a bucket in their URL stay as they were.
    for location in (f"file://{tmp_path}/artifacts", "memory://", "gs://bucket"):
        settings = load_settings(tmp_path, environ={"LAMBEAM_ARTIFACTS": location})
        assert settings.artifacts == location


def test_a_postgresql_url_without_a_driver_uses_psycopg(tmp_path: Path) -> None:
    """postgres:// (as hosts hand URLs out) was SQLAlchemy's "Can't load plugin", and
    postgresql:// asked for psycopg2, which lambeam does not install."""
    (tmp_path / "lambeam.toml").write_text('[project]\nname = "p"\n')
    for url in ("postgres://u@h:5432/db", "postgresql://u@h:5432/db"):
        settings = load_settings(tmp_path, environ={"LAMBEAM_DATABASE_URL": url})
        assert settings.database_url == "postgresql+psycopg://u@h:5432/db"
    explicit = "postgresql+psycopg2://u@h/db"
    assert load_settings(tmp_path, {"LAMBEAM_DATABASE_URL": explicit}).database_url == explicit


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "lambeam.toml").write_text("[pipelines.a]\nsource = \n")
    with pytest.raises(ConfigError, match=r"lambeam.toml: malformed TOML: .*line 2"):
        load_settings(tmp_path, environ={})


def test_unknown_section_is_named(tmp_path: Path) -> None:
    (tmp_path / "lambeam.toml").write_text("[pipeline.a]\nsource = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown section \[pipeline\]"):
        load_settings(tmp_path, environ={})


def test_no_project_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectNotFoundError, match="lambeam init"):
        load_settings(environ={})

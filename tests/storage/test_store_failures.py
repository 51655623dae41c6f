"""An artifact store on S3 that fails is one line naming the store and what to check, on every command.

The project's artifacts live on a moto server of this module's own (in a subprocess, so that
turning its authentication on cannot reach the session's server); each case then breaks one thing
(the endpoint, the credentials, the bucket, the permissions) and drives the CLI as a user would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambeam.cli import main
from tests.services import free_port, unavailable

DATA = Path(__file__).resolve().parents[2] / "lambeam" / "quickstart" / "data"

TOML = """
[project]
name = "s3-failures"

[pipelines.penguins]
source = "data/penguins.csv"
label = "species"
split = { test = 0.3 }
drop = ["bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]

[pipelines.penguins.columns]
bill_length_mm = ["impute:median", "standardize"]
island = ["onehot"]

[train.logreg]
dataset = "penguins"
model = "penguins"
estimator = "sklearn.linear_model.LogisticRegression"

[pipelines.remote]
source = "s3://{bucket}/raw/penguins.csv"
label = "species"
drop = ["bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]
"""

COMMANDS = [["pipeline", "run", "penguins"], ["train", "logreg"], ["datasets", "show", "penguins"]]


class MotoProcess:
    """moto's S3 server in a subprocess on a loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        unavailable("moto's server did not start in 30 s")

    def client(self, service: str, key: str = "testing", secret: str = "testing"):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )

    def authenticate_from_now(self, on: bool) -> None:
        """moto checks every request against its IAM from now on (or no longer)."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset-auth",
            data=b"0" if on else b"inf",
            headers={"Content-Type": "text/plain"},  # a form body would be parsed away
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_project(moto: MotoProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose artifacts are on moto, with a dataset version and a model written there."""
    root = tmp_path_factory.mktemp("s3-failures")
    bucket = f"lambeam-{uuid.uuid4().hex[:12]}"
    (root / "lambeam.toml").write_text(TOML.replace("{bucket}", bucket))
    (root / "data").mkdir()
    csv = (DATA / "penguins.csv").read_bytes()
    (root / "data" / "penguins.csv").write_bytes(csv)
    moto.client("s3").create_bucket(Bucket=bucket)
    moto.client("s3").put_object(Bucket=bucket, Key="raw/penguins.csv", Body=csv)
    env = {
        **_clean_env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBEAM_ARTIFACTS": f"s3://{bucket}/lambeam",
        "LAMBEAM_S3_ENDPOINT_URL": moto.endpoint_url,
    }
    for command in (["pipeline", "run", "penguins"], ["train", "logreg"]):
        proc = subprocess.run(
            [sys.executable, "-m", "lambeam", "-C", str(root), *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    (root / "bucket").write_text(bucket)
    return root


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBEAM_"))}
    # No instance metadata service here: credentials come from the environment or nowhere.
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["COLUMNS"] = "400"
    return env


def _run_cli(
    root: Path, env: dict[str, str], command: list[str], monkeypatch: pytest.MonkeyPatch, capsys
) -> tuple[int, str, str]:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep the old credentials
    for key in list(os.environ):
        if key.startswith(("AWS_", "LAMBEAM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = main(["-C", str(root), *command])
    captured = capsys.readouterr()
    return code, captured.err, captured.out


def _assert_one_line(code: int, err: str, store: str, *words: str) -> None:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1, err
    assert f"artifact store {store}" in errors[0], errors[0]
    for word in words:
        assert word in errors[0], errors[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("case", ["endpoint down", "no credentials", "missing bucket"])
def test_store_failure_is_one_line(
    s3_project: Path,
    moto: MotoProcess,
    case: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    bucket = (s3_project / "bucket").read_text()
    env = {
        **_clean_env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBEAM_ARTIFACTS": f"s3://{bucket}/lambeam",
        "LAMBEAM_S3_ENDPOINT_URL": moto.endpoint_url,
    }
    if case == "endpoint down":
        env["LAMBEAM_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nobody listens
        words = ["does not answer", "LAMBEAM_S3_ENDPOINT_URL"]
    elif case == "no credentials":
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        (tmp_path / "empty").write_text("")
        env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = str(tmp_path / "empty")
        words = ["no AWS credentials", "AWS_ACCESS_KEY_ID"]
    else:
        bucket = f"missing-{uuid.uuid4().hex[:8]}"
        env["LAMBEAM_ARTIFACTS"] = f"s3://{bucket}/lambeam"
        words = [f"bucket '{bucket}' does not exist", "LAMBEAM_ARTIFACTS"]
    code, err, _out = _run_cli(s3_project, env, command, monkeypatch, capsys)
    _assert_one_line(code, err, f"s3://{bucket}/lambeam", *words)


def test_listing_datasets_needs_no_store(
    s3_project: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`datasets ls` reads each version's summary from its database row: with the store's
    endpoint down it still lists them (it read one manifest per version, one S3 GET each)."""
    bucket = (s3_project / "bucket").read_text()
    env = {
        **_clean_env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBEAM_ARTIFACTS": f"s3://{bucket}/lambeam",
        "LAMBEAM_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
    }
    code, err, out = _run_cli(s3_project, env, ["datasets", "ls", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert [v["ref"] for v in json.loads(out)] == ["penguins:1"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_access_denied_is_one_line(
    s3_project: Path,
    moto: MotoProcess,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    bucket = (s3_project / "bucket").read_text()
    iam = moto.client("iam")
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]  # a user with no policy at all
    env = {
        **_clean_env(),
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "LAMBEAM_ARTIFACTS": f"s3://{bucket}/lambeam",
        "LAMBEAM_S3_ENDPOINT_URL": moto.endpoint_url,
    }
    moto.authenticate_from_now(True)
    try:
        code, err, _out = _run_cli(s3_project, env, command, monkeypatch, capsys)
    finally:
        moto.authenticate_from_now(False)
    _assert_one_line(code, err, f"s3://{bucket}/lambeam", "access denied", "AWS_ACCESS_KEY_ID")


def test_a_source_on_s3_that_fails_is_one_line_naming_it(
    s3_project: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    bucket = (s3_project / "bucket").read_text()
    env = {
        **_clean_env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBEAM_ARTIFACTS": f"s3://{bucket}/lambeam",
        "LAMBEAM_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    code, err, _out = _run_cli(s3_project, env, ["pipeline", "run", "remote"], monkeypatch, capsys)
    assert "Traceback" not in err and code == 1, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert f"[pipelines.remote] source s3://{bucket}/raw/penguins.csv" in line, line
    assert "does not answer" in line and "LAMBEAM_S3_ENDPOINT_URL" in line, line

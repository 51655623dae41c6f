"""The account a gateway's ARNs name is its engine's, on every shape the Lambda API returns."""

from __future__ import annotations

from pathlib import Path

import boto3
from botocore.config import Config

from lambeam.project import Project
from lambeam.runtime import Engine
from tests.server.conftest import start_server, zip_of

ACCOUNT = "123456789012"


def _engine(project: Project) -> Engine:
    return Engine(project.settings.state_dir, account_id=ACCOUNT, spares=False)


def test_function_and_alias_arns_name_the_engines_account(tmp_path: Path) -> None:
    server = start_server(tmp_path / "proj", _engine)
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=server.key.id,
            aws_secret_access_key=server.key.secret,
            config=Config(retries={"max_attempts": 1}),
        )
        created = client.create_function(
            FunctionName="hello",
            Runtime="python3.11",
            Role=f"arn:aws:iam::{ACCOUNT}:role/lambeam",
            Handler="app.handler",
            Code={"ZipFile": zip_of({"app.py": "def handler(e, c):\n    return 1\n"})},
        )
        assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:hello"
        assert created["Role"] == f"arn:aws:iam::{ACCOUNT}:role/lambeam"
        alias = client.create_alias(FunctionName="hello", Name="live", FunctionVersion="$LATEST")
        assert alias["AliasArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:hello:live"
    finally:
        server.stop()
        server.project.close()

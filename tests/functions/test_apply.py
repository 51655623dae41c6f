"""`apply`: lambeam.toml's [functions.NAME] tables made true, created → unchanged → updated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from lambeam.errors import ConfigError, ModelNotFoundError
from lambeam.functions import (
    Batching,
    CodeBundle,
    FunctionNotFoundError,
    apply,
    get_function,
    publish_version,
)
from lambeam.functions.handlers import check_handler
from lambeam.project import Project
from lambeam.registry import set_alias
from tests.functions.conftest import write_code
from tests.registry.fitted import class_labels, fitted, frame, register

TOML = """\
[project]
name = "demo"

[functions.hello]
code = "functions/hello"
handler = "app.handler"
memory = {memory}
timeout = 10
environment = {{ GREETING = "hi" }}
description = "says hi"

[functions.churn-api]
model = "churn@prod"
batching = {{ max_batch_size = 32, max_wait_ms = 5 }}
reserved_concurrency = 4
warm_minimum = 1
"""


def _open(root: Path, database_url: str, memory: int = 256) -> Project:
    (root / "lambeam.toml").write_text(TOML.format(memory=memory))
    return Project.open(root, environ={"LAMBEAM_DATABASE_URL": database_url})


def test_created_unchanged_updated(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    write_code(root / "functions" / "hello")
    project = _open(root, database_url)
    try:
        data = frame(rows=60)
        register(project.db, project.store, fitted(LogisticRegression(), data, class_labels(data)))
        set_alias(project.db, "churn", "prod", 1)

        first = apply(project)
        assert [(r.name, r.action) for r in first] == [
            ("churn-api", "created"),
            ("hello", "created"),
        ]
        hello = get_function(project.db, "hello")
        assert (hello.config.memory_mb, hello.config.timeout_s) == (256, 10)
        assert hello.config.environment == {"GREETING": "hi"} and hello.description == "says hi"
        churn = get_function(project.db, "churn-api")
        assert churn.model == "churn@prod" and churn.config.batching == Batching(32, 5)
        assert (churn.config.reserved_concurrency, churn.config.warm_minimum) == (4, 1)

        second = apply(project)
        assert [r.action for r in second] == ["unchanged", "unchanged"]
        assert get_function(project.db, "hello").revision_id == hello.revision_id

        (root / "functions" / "hello" / "app.py").write_text("def handler(e, c):\n    return 2\n")
        third = apply(project)
        assert [(r.name, r.action) for r in third] == [
            ("churn-api", "unchanged"),
            ("hello", "updated"),
        ]
        assert third[1].function.code_sha256 != hello.code_sha256
        assert third[1].function.revision_id != hello.revision_id
        publish_version(project.db, project.store, "hello")
    finally:
        project.close()

    project = _open(root, database_url, memory=1024)
    try:
        only = apply(project, names=["hello"])
        assert [(r.name, r.action) for r in only] == [("hello", "updated")]
        assert only[0].function.config.memory_mb == 1024
        assert only[0].to_dict()["function"]["config"]["memory_mb"] == 1024
        assert get_function(project.db, "hello", "1").config.memory_mb == 256
        with pytest.raises(ConfigError, match=r"has no \[functions.ghost\]"):
            apply(project, names=["ghost"])
    finally:
        project.close()

    (root / "lambeam.toml").write_text('[functions.hello]\nmodel = "churn@prod"\n')
    project = Project.open(root, environ={"LAMBEAM_DATABASE_URL": database_url})
    try:
        with pytest.raises(ConfigError, match="'hello': it is a code function and cannot become"):
            apply(project)
    finally:
        project.close()

    # A deployed function lambeam.toml no longer declares is named, and left deployed.
    (root / "lambeam.toml").write_text(TOML.format(memory=1024).split("[functions.churn-api]")[0])
    project = Project.open(root, environ={"LAMBEAM_DATABASE_URL": database_url})
    try:
        results = apply(project)
        assert [(r.name, r.action) for r in results] == [
            ("hello", "unchanged"),
            ("churn-api", "undeclared"),
        ]
        assert get_function(project.db, "churn-api").model == "churn@prod"
        assert [r.action for r in apply(project, names=["hello"])] == ["unchanged"]
    finally:
        project.close()


_CODE = 'code = "fn"\nhandler = "app.handler"\n'


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_CODE + "memroy = 256", r"\[functions.bad\] has unknown key 'memroy'"),
        (_CODE + "memory = 64", r"\[functions.bad\]: memory must be from 128"),
        (_CODE + "timeout = 901", r"\[functions.bad\]: timeout must be"),
        (_CODE + "batching = { size = 2 }", "batching has unknown key 'size'"),
        ('code = "fn"', r"\[functions.bad\]: handler is required"),
        ('code = "missing"\nhandler = "h.h"', r"code = 'missing': .*missing does not exist"),
        ('handler = "app.handler"', "needs exactly one of code"),
        ('code = "fn"\nmodel = "churn@prod"', "needs exactly one of code"),
        ('model = "m@prod"\nenvironment = { AWS_REGION = "x" }', "AWS_REGION is reserved"),
        ('model = "m@Prod"', r"\[functions.bad\] model: 'm@Prod' is not a model reference"),
    ],
)
def test_declaration_errors_name_function_and_key(tmp_path: Path, table: str, message: str) -> None:
    root = tmp_path / "demo"
    write_code(root / "fn")
    (root / "lambeam.toml").write_text(f"[functions.bad]\n{table}\n")
    project = Project.open(root, environ={})
    try:
        with pytest.raises(ConfigError, match=message):
            apply(project)
    finally:
        project.close()


def test_a_model_that_does_not_exist_is_named_with_its_function(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "lambeam.toml").write_text('[functions.bad3]\nmodel = "nosuch@prod"\n')
    project = Project.open(root, environ={})
    try:
        with pytest.raises(ModelNotFoundError, match=r"\[functions.bad3\] model = 'nosuch@prod': "):
            apply(project)
    finally:
        project.close()


@pytest.mark.parametrize(
    ("files", "handler", "message"),
    [
        (
            {"app.py": "def handle(event, context):\n    return 1\n"},
            "app.handler",
            "app.py never defines 'handler'",
        ),
        (
            {"app.py": "def handler(event, context)\n    return 1\n"},
            "app.handler",
            "app.py line 1: expected ':'",
        ),
        (
            {"main.py": "def handler(e, c):\n    return 1\n"},
            "app.handler",
            "the code has no app.py (nor app/__init__.py)",
        ),
        ({"pkg/api.py": "x = 1\n"}, "pkg.api.handler", "pkg/api.py never defines 'handler'"),
    ],
)
def test_a_handler_that_cannot_load_is_refused_at_deploy(
    tmp_path: Path, files: dict[str, str], handler: str, message: str
) -> None:
    root = tmp_path / "demo"
    code = root / "hello"
    code.mkdir(parents=True)
    for name, text in files.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(text)
    (root / "lambeam.toml").write_text(
        f'[functions.hello]\ncode = "hello"\nhandler = "{handler}"\n'
    )
    project = Project.open(root, environ={})
    try:
        where = f"lambeam.toml [functions.hello] handler = '{handler}': "
        with pytest.raises(ConfigError, match=re.escape(where + message)):
            apply(project)
        with pytest.raises(FunctionNotFoundError):  # nothing was deployed
            get_function(project.db, "hello")
    finally:
        project.close()


@pytest.mark.parametrize(
    "source",
    [
        "import json\n\nif True:\n    def handler(event, context):\n        return 1\n",
        "try:\n    from fast import handler\nexcept ImportError:\n    handler = print\n",
        "class handler:\n    pass\n",
        "print(handler := len)\n",
        "for handler in [len]:\n    pass\n",
        "with open(__file__) as handler:\n    pass\n",
        "try:\n    1 / 0\nexcept ZeroDivisionError as handler:\n    pass\n",
        "match 1:\n    case 1:\n        def handler(e, c):\n            return 1\n",
        "def setup():\n    global handler\n    handler = len\n\nsetup()\n",
        # names a reading cannot see are given the benefit of the doubt
        "from handlers import *\n",
        "def __getattr__(name):\n    return print\n",
        "from helpers import __getattr__\n",
        "globals()['handler'] = print\n",
        "import sys\nsetattr(sys.modules[__name__], 'handler', print)\n",
        "vars()['handler'] = print\n",
    ],
)
def test_a_handler_bound_at_module_level_in_any_way_is_accepted(
    tmp_path: Path, source: str
) -> None:
    code = write_code(tmp_path / "code", {"app.py": source})
    check_handler(CodeBundle.from_directory(code), "app.handler")


def test_a_handler_module_found_other_than_as_source_is_accepted(tmp_path: Path) -> None:
    def check(files: dict[str, str], handler: str) -> None:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        check_handler(CodeBundle.from_directory(write_code(root, files)), handler)

    # a package wins over a module of the same name, as in Python's import
    check({"app.py": "x = 1\n", "app/__init__.py": "def handler(e, c):\n    pass\n"}, "app.handler")
    check({"fast.cpython-311-x86_64-linux-gnu.so": "not really"}, "fast.handler")  # compiled
    # A module only requirements.txt installs, or one of the environment, is no handler of the
    # function's own (tests/functions/test_handlers.py refuses them).

"""What a new function instance is told: its handler, where its code and libraries are, and the
environment Lambda gives a function (AWS_LAMBDA_*, LAMBDA_TASK_ROOT, _HANDLER, its own TMPDIR)."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lambeam.runtime.spec import FunctionSpec

__all__ = ["instance_init"]


def instance_init(
    spec: FunctionSpec, tmp: Path, region: str, isolation: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a new instance of `spec` needs to know, sent with the fork request; `tmp` is its
    /tmp (made here), `region` the AWS region its environment names, `isolation` how it confines
    itself (isolation.Isolation.instance_options; None: not at all)."""
    code_dir = str(spec.code_dir.resolve())
    path = [code_dir]
    if spec.requirements_dir is not None:
        path.append(str(spec.requirements_dir.resolve()))
    path.extend(str(folder.resolve()) for folder in spec.python_path)
    if isolation and isolation.get("mount_tmp") and any(_under_tmp(p) for p in path):
        # Mounting its own folder on /tmp would hide its code (a project under /tmp).
        isolation = {**isolation, "mount_tmp": False}
    stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]{uuid.uuid4().hex}"
    tmp.mkdir(parents=True, exist_ok=True)
    environ = dict(spec.environment)
    environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python{}.{}".format(*sys.version_info[:2]),
            "LAMBDA_TASK_ROOT": code_dir,
            "_HANDLER": spec.handler,
            "TMPDIR": "/tmp" if isolation and isolation.get("mount_tmp") else str(tmp),
        }
    )
    return {
        "handler": spec.handler,
        "raw": spec.raw,
        "code_dir": code_dir,
        "path": path,
        "environ": environ,
        "function_name": spec.name,
        "function_version": spec.version,
        "memory_mb": spec.memory_mb,
        "log_group_name": spec.log_group_name,
        "log_stream_name": stream,
        "isolation": isolation,
    }


def _under_tmp(path: str) -> bool:
    return Path(path).resolve().is_relative_to("/tmp")

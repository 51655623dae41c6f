"""One invocation without a server: what `lambeam invoke` runs, through the same Invoker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lambeam.invoke.invocation import Invocation
from lambeam.invoke.invoker import Invoker
from lambeam.invoke.request import InvocationRequest
from lambeam.project import Project
from lambeam.runtime import Engine, FileLogSink

__all__ = ["invoke_in_process", "logs_folder"]


def logs_folder(project: Project) -> Path:
    """Where a project's invocation logs are kept (the server's engine writes there too)."""
    return project.settings.state_dir / "logs"


def invoke_in_process(
    project: Project,
    function_name: str,
    payload: bytes,
    qualifier: str | None = None,
    log_type: str | None = None,
) -> Invocation:
    """Start an engine, invoke once (RequestResponse), stop the engine; the Invocation.

    The log goes to the project's log folder, as a server's invocations do. A function or
    qualifier that does not exist is refused before the engine (and its zygote) starts.
    """

    async def once() -> Invocation:
        engine = Engine(
            project.settings.state_dir,
            FileLogSink(logs_folder(project)),
            private=project.settings.private_paths,
        )
        invoker = Invoker(project, engine)
        checked = InvocationRequest(function_name, payload, qualifier, "DryRun", source="cli")
        await invoker.handle(checked)
        await engine.start()
        try:
            asked = InvocationRequest(
                function_name, payload, qualifier, log_type=log_type, source="cli"
            )
            return await invoker.handle(asked)
        finally:
            await invoker.aclose()
            await engine.stop()

    return asyncio.run(once())

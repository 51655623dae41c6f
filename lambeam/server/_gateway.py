"""What both faces share at run time: the project, the engine and the invocation core."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from lambeam.invoke import Invoker
from lambeam.project import Project
from lambeam.runtime import Engine

__all__ = ["Gateway", "gateway"]


@dataclass
class Gateway:
    """The server's parts; `auth=False` turns authentication off (never by default)."""

    project: Project
    engine: Engine
    invoker: Invoker
    auth: bool = True


def gateway(request: Request) -> Gateway:
    """The Gateway the app was built with."""
    found: Gateway = request.app.state.gateway
    return found

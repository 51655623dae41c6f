"""The three servers the serving benchmark compares, each run as its own process on uvicorn.

    .venv/bin/python bench/_servers.py bare --port 8001
    .venv/bin/python bench/_servers.py fastapi --port 8002 --model lr=/tmp/lr.joblib --model rf=…
    .venv/bin/python bench/_servers.py lambeam --port 8003 --project /tmp/project

`bare` only reads the body and answers a fixed JSON: the ceiling of the HTTP stack. `fastapi` is
the endpoint users write by hand (bench/_fastapi_app.py), one route per model (POST /predict/NAME). `lambeam` is the gateway of
`lambeam server`. All three get the same uvicorn options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["UVICORN_OPTIONS", "bare_app"]

# One worker, uvloop and httptools when installed, no access log: the same for every server.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "auto",
    "http": "auto",
    "log_level": "warning",
    "access_log": False,
}

_BARE_ANSWER = b'{"predictions":[0]}'


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app that reads the request body and answers a fixed small JSON."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BARE_ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BARE_ANSWER})


def _serve_lambeam(project_dir: Path, port: int) -> None:
    from lambeam.project import Project
    from lambeam.server import serve

    serve(Project.open(project_dir), host="127.0.0.1", port=port, **UVICORN_OPTIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["bare", "fastapi", "lambeam"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH (fastapi)")
    parser.add_argument("--project", type=Path, help="the lambeam project folder (lambeam)")
    parser.add_argument("--handler", default="async", help="async or sync (fastapi)")
    args = parser.parse_args()
    import uvicorn

    if args.server == "lambeam":
        _serve_lambeam(args.project, args.port)
        return
    if args.server == "bare":
        app: Any = bare_app
    else:
        from bench._fastapi_app import create_app

        models = {n: Path(p) for n, p in (m.split("=", 1) for m in args.model)}
        app = create_app(models, args.handler)
    uvicorn.run(app, host="127.0.0.1", port=args.port, lifespan="on", **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()

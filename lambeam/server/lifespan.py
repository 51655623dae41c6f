"""The server's lifespan: what runs beside the gateway while it serves, started and stopped here.

The gateway listens at once; the runtime engine starts in the background (its zygote imports the
scientific stack, seconds), then the warm minimums of deployed functions. Until the engine is
ready /v1/health says `starting`, and invocations wait for it (the engine bounds the wait); once it
is, the server says on stderr which instance isolation is in force, and health reports it. On
shutdown: stop starting, wait briefly for Event invocations, then stop every instance and the
zygote.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from lambeam.server._gateway import Gateway

__all__ = ["lifespan"]

_log = logging.getLogger(__name__)


def lifespan(gw: Gateway) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The ASGI lifespan of a gateway: the engine and its warm functions, in the background."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        starting = asyncio.create_task(_start(gw), name="lambeam-start")
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await gw.invoker.aclose()
            await gw.engine.stop()

    return run


async def _start(gw: Gateway) -> None:
    try:
        await gw.engine.start()
    except Exception:  # noqa: BLE001 - the server keeps answering: health says failed, why logged
        _log.exception("the function runtime did not start")
        return
    # What confines the instances on this host, said once (and in /v1/health): never silently.
    isolation = gw.engine.isolation
    print(f"lambeam: {isolation.summary()}", file=sys.stderr, flush=True)
    for warning in isolation.warnings:
        print(f"lambeam: warning: {warning}", file=sys.stderr, flush=True)
    try:
        await gw.invoker.warm_up()
    except Exception:  # noqa: BLE001 - a function that cannot warm up must not keep the server down
        _log.exception("starting warm minimums failed")
    # What is loaded by now (the libraries, the app) lives as long as the server: moved out
    # of the collector's generations, a full collection no longer walks it on the hot path.
    gc.collect()
    gc.freeze()

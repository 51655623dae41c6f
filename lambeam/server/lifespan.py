"""The server's lifespan: what runs beside the gateway while it serves, started and stopped here.

The gateway listens at once; the runtime engine starts in the background (its zygote imports the
scientific stack, seconds), then the warm minimums of deployed functions. Until the engine is
ready /v1/health says `starting`, and invocations wait for it (the engine bounds the wait); once it
is, the server says on stderr which instance isolation is in force, and health reports it. Beside
it, the server follows the change feed (the audit log), so that a function changed or deleted by
the CLI or another server is let go of here within a second. Once the engine runs, so do the
events service's loops (lambeam.events: the async dispatcher, queue mappings, schedules, object
watchers). On shutdown: stop starting and the loops (what they hold stays queued, leased until
its lease lapses), then stop every instance and the zygote.
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
from lambeam.storage.audit import head_seq, since

__all__ = ["FOLLOW_INTERVAL_S", "follow_changes", "lifespan"]

_log = logging.getLogger(__name__)

# How often a server reads the change feed (changes made by other processes).
FOLLOW_INTERVAL_S = 1.0


def lifespan(gw: Gateway) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The ASGI lifespan of a gateway: the engine and its warm functions, in the background."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        starting = asyncio.create_task(_start(gw), name="lambeam-start")
        following = asyncio.create_task(follow_changes(gw), name="lambeam-changes")
        try:
            yield
        finally:
            for task in (following, starting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await gw.invoker.aclose()
            await gw.engine.stop()

    return run


async def follow_changes(gw: Gateway, interval_s: float = FOLLOW_INTERVAL_S) -> None:
    """Apply function changes made elsewhere (the CLI, `apply`, another server on the same
    database) within `interval_s`: the audit log is the feed, each change an entry in its own
    transaction. A deleted function's instances, batchers and cached lookups go; any other
    change drops what was read about the function, so its next call reads it again (and an
    instance of a changed version is retired then)."""
    db = gw.project.db
    seen = await asyncio.to_thread(head_seq, db)
    while True:
        await asyncio.sleep(interval_s)
        try:
            changes = await asyncio.to_thread(since, db, seen)
        except Exception:  # noqa: BLE001 - a database that is down now may answer next time
            _log.exception("reading the change feed failed")
            continue
        for entry in changes:
            seen = entry.seq
            kind, _, rest = entry.resource.partition(":")
            if kind != "function" or not rest:
                continue
            name = rest.split(":", 1)[0]
            if entry.action == "lambda:DeleteFunction" and rest == name:
                await gw.invoker.function_changed(name)
            else:
                gw.invoker.forget(name)


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
    events = asyncio.create_task(gw.events.run(), name="lambeam-events")
    # What is loaded by now (the libraries, the app) lives as long as the server: moved out
    # of the collector's generations, a full collection no longer walks it on the hot path.
    gc.collect()
    gc.freeze()
    await events  # until the server stops: cancelling `_start` stops the loops

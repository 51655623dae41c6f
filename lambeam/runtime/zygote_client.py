"""The engine's side of the zygote: start it, ask it for instances, hear how they ended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from lambeam.runtime.error_types import RuntimeUnavailableError
from lambeam.runtime.protocol import decode_frame, encode_frame

__all__ = ["DEFAULT_PRELOAD", "ExitStatus", "ZygoteClient"]

# What the zygote imports before it forks anything: the stack model functions run on.
DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "sklearn",
    "sklearn.base",
    "sklearn.pipeline",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "onnxruntime",
    "skops.io",  # loads scikit-learn-served models; its import walks every module (~1 s)
    "lambeam.inference.handler",  # what a model function's instances run
    "lambeam.inference.warmup",  # and its first call's one-time costs, paid here once
)

_STARTUP_TIMEOUT_S = 120.0
_MAX_DATAGRAM = 1 << 20
# Libraries imported by the zygote must not start thread pools: a fork keeps only one thread.
_SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
# What instances inherit from the server's environment; secrets (database URL, AWS keys) stay out.
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


class ExitStatus:
    """How an instance ended: an exit code or the signal that killed it."""

    def __init__(self, exit_code: int | None = None, signal: int | None = None) -> None:
        self.exit_code = exit_code
        self.signal = signal

    def __repr__(self) -> str:
        return f"ExitStatus(exit_code={self.exit_code}, signal={self.signal})"


class ZygoteClient:
    """Owns the zygote process; restarts it on the next spawn if it has died."""

    def __init__(
        self,
        preload: Sequence[str],
        python: str = sys.executable,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._preload = tuple(preload)
        self._python = python
        self._environ = dict(os.environ if environ is None else environ)
        self._process: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[ExitStatus]] = {}
        self._tokens = itertools.count(1)
        self._start_lock = asyncio.Lock()
        self.pid: int | None = None
        self.import_ms: float | None = None

    @property
    def alive(self) -> bool:
        return (
            self._process is not None
            and self._process.returncode is None
            and self._reader is not None
            and not self._reader.done()
        )

    async def start(self) -> None:
        """Start the zygote (if it is not running) and wait until its imports are done."""
        async with self._start_lock:
            if self.alive:
                return
            await self._close()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ours.setblocking(False)
            env = {k: v for k, v in self._environ.items() if k in _INHERITED}
            env.update(_SINGLE_THREADED)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_package_root(), env.get("PYTHONPATH", "")) if p
            )
            loop = asyncio.get_running_loop()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    self._python,
                    "-P",  # the server's working directory is not on the instances' sys.path
                    "-m",
                    "lambeam.runtime.zygote",
                    str(theirs.fileno()),
                    *self._preload,
                    pass_fds=(theirs.fileno(),),
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                )
            finally:
                theirs.close()
            self._control = ours
            self._ready = loop.create_future()
            self._reader = asyncio.create_task(self._read(ours))
            try:
                ready = await asyncio.wait_for(asyncio.shield(self._ready), _STARTUP_TIMEOUT_S)
            except (TimeoutError, ConnectionError) as exc:
                await self._close()
                raise RuntimeUnavailableError(f"the zygote did not start: {exc!r}") from None
            self.pid = ready["pid"]
            self.import_ms = ready["import_ms"]

    async def spawn(
        self,
        init: dict[str, Any] | None,
        instance_fd: int,
        log_fd: int,
        cgroup: Sequence[str] = (),
    ) -> int:
        """Fork an instance that will serve on `instance_fd` and write its output to `log_fd`
        (a spare, waiting for its init on `instance_fd`, when `init` is None); it joins the
        cgroup leaf whose `cgroup.procs` files are `cgroup` first."""
        if not self.alive:
            await self.start()
        assert self._control is not None
        token = next(self._tokens)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._spawns[token] = future
        message = encode_frame({"op": "spawn", "token": token, "init": init, "cgroup": [*cgroup]})
        try:
            while True:
                try:
                    socket.send_fds(self._control, [message], [instance_fd, log_fd])
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            return await future
        except OSError as exc:
            raise RuntimeUnavailableError(f"the zygote could not fork an instance: {exc}") from None
        finally:
            self._spawns.pop(token, None)

    def exit_status(self, pid: int) -> asyncio.Future[ExitStatus]:
        """A future for how `pid` ends (reported by the zygote, which is its parent)."""
        if pid not in self._exits:
            self._exits[pid] = asyncio.get_running_loop().create_future()
        return self._exits[pid]

    def forget(self, pid: int) -> None:
        """Drop the record of a finished instance."""
        self._exits.pop(pid, None)

    async def stop(self) -> None:
        """End the zygote; its instances die with it."""
        await self._close()

    async def _read(self, control: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(control, _MAX_DATAGRAM)
                if not data:
                    break
                header, _ = decode_frame(data)
                self._dispatch(header)
        except (OSError, ConnectionError):
            pass
        finally:
            gone = ConnectionError("the zygote has exited")
            for futures in (self._spawns.values(), [self._ready]):
                for future in futures:
                    if future is not None and not future.done():
                        future.set_exception(gone)
            # Instances die with their zygote (PR_SET_PDEATHSIG); nobody will report how.
            for ended in self._exits.values():
                if not ended.done():
                    ended.set_result(ExitStatus())

    def _dispatch(self, header: dict[str, Any]) -> None:
        op = header.get("op")
        if op == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(header)
        elif op == "spawned":
            future = self._spawns.get(header["token"])
            self.exit_status(header["pid"])  # from now on its end is awaited
            if future is not None and not future.done():
                future.set_result(header["pid"])
        elif op == "spawn_failed":
            future = self._spawns.get(header["token"])
            if future is not None and not future.done():
                future.set_exception(OSError(header["error"]))
        elif op == "exited":
            ended = self._exits.get(header["pid"])  # None: an orphan it adopted and reaped
            if ended is not None and not ended.done():
                ended.set_result(ExitStatus(header.get("exit_code"), header.get("signal")))

    async def _close(self) -> None:
        # A zygote still importing reads no control message: waiting for it to see the closed
        # socket would hold a stopping server for the rest of its imports (seconds).
        importing = self._ready is not None and not self._ready.done()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._ready is not None and self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved: a start that was cancelled never will
        if self._process is not None:
            if importing and self._process.returncode is None:
                self._process.kill()
            if self._process.returncode is None:
                try:
                    await asyncio.wait_for(self._process.wait(), 5.0)
                except TimeoutError:
                    self._process.kill()
                    await self._process.wait()
            self._process = None


def _package_root() -> str:
    """The folder holding the `lambeam` package, so the zygote imports this very copy."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

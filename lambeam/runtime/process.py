"""The engine's handle on one instance: start it, run one invocation, watch its limits, kill it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambeam.runtime.cgroups import Leaf
from lambeam.runtime.isolation import VIEWS
from lambeam.runtime.limits import MemorySample, read_memory
from lambeam.runtime.protocol import (
    PREFIX_SIZE,
    ProtocolError,
    encode_frame,
    frame_of,
    rest_size,
)
from lambeam.runtime.spec import FunctionSpec
from lambeam.runtime.zygote_client import ExitStatus, ZygoteClient

__all__ = ["LOG_CAP", "Ended", "Finished", "InstanceProcess", "Spare", "fork", "kill_tree"]

_EXIT_REPORT_WAIT_S = 2.0
# The largest reply the engine reads from an instance: Lambda's 6 MB response (and its header);
# a model function's batch answers many requests at once. A larger one is not read: the instance
# is stopped and the call fails with Function.ResponseSizeTooLarge.
REPLY_LIMIT = 6 * 1024 * 1024 + 65536
RAW_REPLY_LIMIT = 64 * 1024 * 1024
_LEAF_RETRY_S = 0.5
TREE_POLL_S = 0.25
# What one invocation's log keeps of its output (Lambda's logs are not for bulk data): the first
# MiB, then a line saying how much more was dropped. The engine never holds more than this.
LOG_CAP = 1 << 20
_LOG_CHUNK = 65536
_LOG_READS_PER_WAKE = 4
_LEAF_ATTEMPTS = 20


@dataclass(frozen=True)
class Finished:
    """The handler returned or raised; the instance is still alive."""

    payload: bytes
    error_type: str | None
    duration_ms: float


@dataclass(frozen=True)
class Ended:
    """The instance is gone: killed for its timeout or memory, or it exited by itself."""

    reason: str  # "timeout", "memory", "exit" or "too_large" (a reply past its limit)
    duration_ms: float
    status: ExitStatus | None = None
    reached: bool = True  # False: it was gone before the request reached it (safe to retry)
    reply_bytes: int = 0  # the size a too large reply announced


class _ReplyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"a reply of {size} bytes")
        self.size = size


@dataclass
class Spare:
    """A process forked from the zygote ahead of need, waiting to be told what to become.

    Forking the zygote (a few hundred MB of page tables to copy) is most of a cold start's cost;
    the engine keeps one spare forked in the background so that a cold start only loads the
    function's code. Its memory baseline is taken at its fork, as an instance's is.
    """

    pid: int
    sock: socket.socket  # the engine's end of the instance's socket
    log_fd: int  # the read end of its stdout/stderr pipe
    anon_at_fork_kb: int | None
    zygote_pid: int | None  # the zygote it was forked from (it dies with it)
    leaf: Leaf | None = None  # its cgroup leaf (None: no cgroup on this host)

    def discard(self) -> None:
        """Kill it and close the engine's ends (the zygote reaps it)."""
        kill_tree(self.pid, self.leaf)
        self.sock.close()
        with contextlib.suppress(OSError):
            os.close(self.log_fd)


def kill_tree(pid: int, leaf: Leaf | None) -> None:
    """SIGKILL a process and everything it started: its cgroup leaf, else its process group
    (an instance leads its own session; a handler's child that made a new session escapes)."""
    if leaf is not None:
        leaf.kill()
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(target, signal.SIGKILL)


async def fork(
    zygote: ZygoteClient, init: dict[str, Any] | None, leaf: Leaf | None = None
) -> Spare:
    """Fork a process: an instance told `init` at once, or (init None) a spare; it joins `leaf`."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log_r, log_w = os.pipe()
    try:
        pid = await zygote.spawn(
            init, theirs.fileno(), log_w, leaf.procs_files if leaf is not None else ()
        )
    except BaseException:
        ours.close()
        os.close(log_r)
        raise
    finally:
        theirs.close()
        os.close(log_w)
    # The memory it is charged for is counted from here: what the fork gave it is shared.
    at_fork = read_memory(pid)
    os.set_blocking(log_r, False)
    return Spare(pid, ours, log_r, at_fork.rss_anon_kb if at_fork else None, zygote.pid, leaf)


class InstanceProcess:
    """One forked instance of one function version, serving one invocation at a time."""

    def __init__(self, spec: FunctionSpec, zygote: ZygoteClient, memory_poll_s: float) -> None:
        self.spec = spec
        self.pid = 0
        self.init_ms = 0.0
        self.init_error: dict[str, Any] | None = None
        self.invocations = 0
        self.idle_since = 0.0
        self.peak_kb = 0
        self._zygote = zygote
        self._memory_poll_s = memory_poll_s
        self._anon_at_fork_kb: int | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._log_fd = -1
        self._log = bytearray()
        self._log_dropped = 0
        self._over_memory = False
        self._gone = False
        self.init_output = b""
        self.leaf: Leaf | None = None  # its cgroup leaf: its whole process tree
        self._tree_read_at = -math.inf
        self.tmp: Path | None = None  # its /tmp, removed when it goes

    @property
    def alive(self) -> bool:
        """False once killed, or once the zygote reports that the process ended."""
        if self._gone:
            return False
        return not (self.pid and self._zygote.exit_status(self.pid).done())

    async def start(
        self,
        init: dict[str, Any],
        timeout_s: float,
        spare: Spare | None = None,
        leaf: Leaf | None = None,
    ) -> Ended | None:
        """Fork the instance into `leaf` (or give `spare` its init) and wait for its handler to
        load; an Ended if it never got there."""
        started = time.perf_counter()
        header: dict[str, Any] | None = None
        if spare is None:
            spare = await fork(self._zygote, init, leaf)
        else:
            header = {"op": "init", "init": init}
        self.leaf = spare.leaf
        self.pid = spare.pid
        self._anon_at_fork_kb = spare.anon_at_fork_kb
        self._log_fd = spare.log_fd
        asyncio.get_running_loop().add_reader(spare.log_fd, self._read_some_log)
        self._reader, self._writer = await asyncio.open_unix_connection(sock=spare.sock)
        try:
            hello = await self._exchange(header, b"", timeout_s)
        finally:
            self.init_ms = (time.perf_counter() - started) * 1000
        if isinstance(hello, Ended):
            return hello
        header, _ = hello
        self.init_output = self.take_log()
        if "anon_kb" in header:
            reported = int(header["anon_kb"])
            known = self._anon_at_fork_kb
            self._anon_at_fork_kb = reported if known is None else min(known, reported)
        self.init_error = header.get("error")
        self._sample_memory()
        if self._over_memory:
            return await self._end("memory", self.init_ms)
        return None

    async def invoke(
        self, header: dict[str, Any], payload: bytes, timeout_s: float
    ) -> Finished | Ended:
        """Run one invocation; the instance is killed if it passes its timeout or memory limit."""
        self.invocations += 1
        started = time.perf_counter()
        outcome = await self._exchange(header, payload, timeout_s)
        if isinstance(outcome, Ended):
            return outcome
        reply, body = outcome
        reported = reply.get("memory")
        if isinstance(reported, list) and len(reported) == 4:
            # The instance read its own memory just before replying; the watcher reads it from
            # here while a call runs, so a call longer than a poll is checked either way.
            self._account(MemorySample(*(int(value) for value in reported)))
        else:
            self._sample_memory()
        self._account_tree()
        if self._over_memory:
            return await self._end("memory", (time.perf_counter() - started) * 1000)
        return Finished(body, reply.get("error_type"), float(reply.get("duration_ms", 0.0)))

    def take_log(self) -> bytes:
        """What the instance wrote since the last call (all of it, once a reply is read), cut at
        LOG_CAP bytes with a line saying how much was dropped."""
        self._read_log()
        text = bytes(self._log)
        self._log.clear()
        if self._log_dropped:
            text += (
                f"\n[lambeam] output truncated: the first {LOG_CAP >> 20} MiB were kept,"
                f" {self._log_dropped} more bytes dropped\n"
            ).encode()
            self._log_dropped = 0
        return text

    def kill(self) -> None:
        """SIGKILL the instance and all it started, let go of its socket and pipe, and remove its
        cgroup leaf and /tmp once they are empty."""
        if self._gone:
            return
        self._gone = True
        kill_tree(self.pid, self.leaf)
        if self._writer is not None:
            self._writer.close()
        loop = asyncio.get_running_loop()
        if self._log_fd >= 0:
            self._read_log()
            loop.remove_reader(self._log_fd)
            os.close(self._log_fd)
            self._log_fd = -1
        future = self._zygote.exit_status(self.pid)
        future.add_done_callback(lambda _: self._zygote.forget(self.pid))
        if self.leaf is not None:
            loop.call_later(_LEAF_RETRY_S, self._remove_leaf, self.leaf, _LEAF_ATTEMPTS)
        if self.tmp is not None:
            for folder in (self.tmp, self.tmp.with_name(self.tmp.name + VIEWS)):
                loop.run_in_executor(None, functools.partial(shutil.rmtree, folder, True))

    def _remove_leaf(self, leaf: Leaf, attempts: int) -> None:
        if leaf.remove() or attempts <= 1:
            return
        leaf.kill()  # a process forked while the tree was being killed
        asyncio.get_running_loop().call_later(_LEAF_RETRY_S, self._remove_leaf, leaf, attempts - 1)

    async def _exchange(
        self, header: dict[str, Any] | None, payload: bytes, timeout_s: float
    ) -> tuple[dict[str, Any], bytes] | Ended:
        assert self._reader is not None and self._writer is not None
        started = time.perf_counter()
        watch: asyncio.Task[None] | None = None
        if header is not None and self.pid and self._zygote.exit_status(self.pid).done():
            return await self._end("exit", 0.0, reached=False)  # died while idle
        try:
            if header is not None:
                try:
                    self._writer.write(encode_frame(header, payload))
                    await self._writer.drain()
                except ConnectionError:
                    return await self._end("exit", 0.0, reached=False)
            # Most calls answer within one memory poll: the reply then carries the instance's
            # memory, and neither a task to read it nor the watcher (a task polling /proc) is
            # needed. Waiting for the prefix, or for the rest of the frame, can be given up
            # without losing any: `readexactly` takes nothing until it has all it asked for.
            prefix = None
            try:
                async with asyncio.timeout(min(self._memory_poll_s, timeout_s)):
                    prefix = await self._reader.readexactly(PREFIX_SIZE)
                    rest = await self._reader.readexactly(self._reply_size(prefix))
            except TimeoutError:
                pass
            else:
                return frame_of(prefix, rest)
            # A slow call, or an instance that stalls in the middle of its reply: held to its
            # timeout and memory limit alike.
            reply = asyncio.ensure_future(self._read_reply(prefix))
            watch = asyncio.create_task(self._watch_memory())
            done, _ = await asyncio.wait(
                {reply, watch},
                timeout=max(0.0, timeout_s - (time.perf_counter() - started)),
                return_when=asyncio.FIRST_COMPLETED,
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            if not done:
                reply.cancel()
                return await self._end("timeout", elapsed_ms)
            self._account_tree(now=reply not in done)
            if reply not in done and not self._over_memory:
                # The process is gone; whatever it sent before going still counts.
                await asyncio.wait({reply}, timeout=_EXIT_REPORT_WAIT_S)
            if reply.done() and not reply.cancelled():
                failure = reply.exception()
                if failure is None:
                    return reply.result()
                if isinstance(failure, _ReplyTooLarge):
                    raise failure
            reply.cancel()
            return await self._end("memory" if self._over_memory else "exit", elapsed_ms)
        except _ReplyTooLarge as too_large:
            # Never read: a hostile instance would make the engine hold it (256 MiB a frame).
            elapsed_ms = (time.perf_counter() - started) * 1000
            ended = await self._end("too_large", elapsed_ms)
            return Ended(ended.reason, ended.duration_ms, ended.status, True, too_large.size)
        except (ConnectionError, ProtocolError, asyncio.IncompleteReadError):
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._account_tree(now=True)
            return await self._end("memory" if self._over_memory else "exit", elapsed_ms)
        finally:
            if watch is not None:
                watch.cancel()

    def _reply_size(self, prefix: bytes) -> int:
        size = rest_size(prefix)
        limit = RAW_REPLY_LIMIT if self.spec.raw else REPLY_LIMIT
        if size > limit:
            raise _ReplyTooLarge(size)
        return size

    async def _read_reply(self, prefix: bytes | None) -> tuple[dict[str, Any], bytes]:
        if prefix is None:
            prefix = await self._reader.readexactly(PREFIX_SIZE)  # type: ignore[union-attr]
        rest = await self._reader.readexactly(self._reply_size(prefix))  # type: ignore[union-attr]
        return frame_of(prefix, rest)

    async def _watch_memory(self) -> None:
        """Poll the instance's memory until it passes its limit (then kill it) or goes."""
        while True:
            await asyncio.sleep(self._memory_poll_s)
            if not self._sample_memory():
                return
            if self._over_memory:
                self.kill()
                return

    def _sample_memory(self) -> bool:
        sample = read_memory(self.pid)
        if sample is None:
            return False
        self._account(sample)
        return True

    def _account_tree(self, *, now: bool = False) -> None:
        """The whole tree's peak, from its cgroup leaf; any process of it the kernel killed for
        memory ends the instance (Lambda ends the environment, not one process of it).

        Read at most every TREE_POLL_S after a call that went well (two file reads cost a hot
        instance a few percent of its throughput; the kernel enforces the limit meanwhile), and
        always (`now`) when an instance ended."""
        leaf = self.leaf
        if leaf is None:
            return
        moment = time.monotonic()
        if not now and moment - self._tree_read_at < TREE_POLL_S:
            return
        self._tree_read_at = moment
        peak = leaf.peak_bytes()
        if peak is not None:
            self.peak_kb = max(self.peak_kb, peak // 1024)
        if leaf.oom_kills():
            self._over_memory = True

    def _account(self, sample: MemorySample) -> None:
        if self._anon_at_fork_kb is None:
            return  # not measurable until the instance reports its size at fork
        self.peak_kb = max(self.peak_kb, sample.charged_kb(self._anon_at_fork_kb))
        if self.peak_kb > self.spec.memory_mb * 1024:
            self._over_memory = True

    async def _end(self, reason: str, duration_ms: float, *, reached: bool = True) -> Ended:
        status_future = self._zygote.exit_status(self.pid)
        if reason == "exit":
            self._account_tree(now=True)  # while its leaf is there (removed once it is empty)
        self.kill()
        status = None
        if reason == "exit":
            try:
                status = await asyncio.wait_for(asyncio.shield(status_future), _EXIT_REPORT_WAIT_S)
            except (TimeoutError, ConnectionError):
                status = None
            # The kernel counts an OOM kill just after it sends the SIGKILL: the instance's end
            # may be seen first. Once its exit is reported, the count is certain.
            self._account_tree(now=True)
            if self._over_memory:
                reason = "memory"
        return Ended(reason, duration_ms, status, reached)

    def _read_some_log(self) -> None:
        """The pipe is readable: take a bounded amount, so that a chatty handler cannot hold the
        event loop (the loop calls again while there is more)."""
        self._read_log(_LOG_READS_PER_WAKE)

    def _read_log(self, reads: int = LOG_CAP // _LOG_CHUNK + 2) -> None:
        """Read the log pipe (at most `reads` chunks), keeping up to LOG_CAP bytes per call."""
        if self._log_fd < 0:
            return
        for _ in range(reads):
            try:
                chunk = os.read(self._log_fd, _LOG_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                asyncio.get_running_loop().remove_reader(self._log_fd)
                return
            room = LOG_CAP - len(self._log)
            if room >= len(chunk):
                self._log += chunk
            else:
                self._log += chunk[: max(0, room)]
                self._log_dropped += len(chunk) - max(0, room)

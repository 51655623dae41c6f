"""The engine: one zygote, a pool per function, and `invoke` — the core every face calls.

engine = Engine(state_dir)
await engine.start()
result = await engine.invoke(spec, b'{"x": 1}')
await engine.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from lambeam.runtime import error_types as codes
from lambeam.runtime.cgroups import CgroupTree, Leaf
from lambeam.runtime.environment import instance_init
from lambeam.runtime.isolation import MAX_PROCESSES, Isolation, isolation_wanted
from lambeam.runtime.limits import read_memory
from lambeam.runtime.logs import FileLogSink, LogSink, billed_ms, format_report, frame_log
from lambeam.runtime.outcomes import InstanceInfo, InvocationResult, describe_end
from lambeam.runtime.pool import FunctionPool
from lambeam.runtime.process import Ended, Finished, InstanceProcess, Spare, fork
from lambeam.runtime.spec import FunctionSpec, function_arn
from lambeam.runtime.zygote_client import DEFAULT_PRELOAD, ZygoteClient

__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "Engine"]

_log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"


class Engine:
    """Runs code functions in instances forked from one zygote, with Lambda's limits and logs.

    `clock` (seconds, monotonic) decides when idle instances are reaped; inject one to test the
    keep-warm period without waiting for it. `preload` is what the zygote imports before forking.
    With `spares` (the default) one process is kept forked ahead of need, so that a cold start
    does not wait for the fork (see process.Spare).

    While `start()` runs (the zygote importing the scientific stack takes seconds), `state` is
    `starting` and invocations wait for it, up to `start_wait_s`; a server can listen meanwhile.
    `before_zygote` is awaited before the zygote starts (tests hold the engine in `starting`).

    `isolation` (default: on unless LAMBEAM_ISOLATION=off) confines every instance with what the
    host offers (see isolation.py); `isolation` the property says what that is once started.
    `private` names paths instances must not read besides `state_dir`.
    """

    def __init__(
        self,
        state_dir: Path | str,
        log_sink: LogSink | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        keep_warm_s: float = 300.0,
        throttle_wait_s: float = 0.25,
        default_concurrency: int = 32,
        memory_poll_s: float = 0.02,
        reap_interval_s: float = 5.0,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        spares: bool = True,
        python: str = sys.executable,
        environ: Mapping[str, str] | None = None,
        start_wait_s: float = 120.0,
        before_zygote: Callable[[], Awaitable[None]] | None = None,
        isolation: bool | None = None,
        private: Sequence[Path] = (),
    ) -> None:
        self.state_dir = Path(state_dir)
        self._own_sink: FileLogSink | None = None
        if log_sink is None:
            log_sink = self._own_sink = FileLogSink(self.state_dir / "logs")
        self.log_sink: LogSink = log_sink
        self.region = region
        self.account_id = account_id
        self._clock = clock
        self._keep_warm_s = keep_warm_s
        self._throttle_wait_s = throttle_wait_s
        self._default_concurrency = default_concurrency
        self._memory_poll_s = memory_poll_s
        self._reap_interval_s = reap_interval_s
        self._zygote = ZygoteClient(preload, python=python, environ=environ)
        self._pools: dict[str, FunctionPool] = {}
        self._warm: dict[tuple[str, str], FunctionSpec] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._running = False
        self._spares = spares
        self._spare: Spare | None = None
        self._refilling: asyncio.Task[None] | None = None
        self._start_wait_s = start_wait_s
        self._before_zygote = before_zygote
        self._state = "stopped"
        self._failure = ""
        self._started: asyncio.Event | None = None
        self._isolate = isolation_wanted() if isolation is None else isolation
        self._isolation = Isolation.off() if not self._isolate else Isolation(enabled=False)
        self._cgroups: CgroupTree | None = None
        # Never readable by an instance, beside the state folder (a database or artifact folder
        # configured elsewhere in the project).
        self._private = [self.state_dir, *(Path(p) for p in private)]

    @property
    def zygote_pid(self) -> int | None:
        """The zygote's process id (None before start)."""
        return self._zygote.pid

    @property
    def isolation(self) -> Isolation:
        """What confines this engine's instances (decided by `start`)."""
        return self._isolation

    @property
    def state(self) -> str:
        """`stopped`, `starting` (the zygote is importing), `ready`, or `failed` (see `failure`)."""
        return self._state

    @property
    def failure(self) -> str:
        """Why the last start failed ("" unless `state` is `failed`)."""
        return self._failure

    async def start(self) -> None:
        """Start the zygote (waits for its imports) and the idle-instance reaper."""
        self._state, self._failure = "starting", ""
        started = self._started = asyncio.Event()
        try:
            (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
            if self._isolate:
                self._isolation = self._probe_isolation()
            if self._before_zygote is not None:
                await self._before_zygote()
            await self._zygote.start()
        except asyncio.CancelledError:
            self._state = "stopped"
            raise
        except BaseException as exc:
            self._state, self._failure = "failed", str(exc) or type(exc).__name__
            raise
        finally:
            started.set()
        self._state = "ready"
        self._running = True
        self._reaper = asyncio.create_task(self._reap_forever())
        self._refill()

    async def stop(self) -> None:
        """Kill every instance and the zygote."""
        self._running = False
        self._state = "stopped"
        for task in (self._reaper, self._refilling):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._spare is not None:
            self._spare.discard()
            self._spare = None
        for pool in self._pools.values():
            for instance in pool.instances():
                pool.discard(instance)
        await self._zygote.stop()
        if self._cgroups is not None:
            self._cgroups.remove()
            self._cgroups = None
        if self._own_sink is not None:
            self._own_sink.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        request_id: str | None = None,
        qualifier: str | None = None,
        *,
        batch: Sequence[str] = (),
    ) -> InvocationResult:
        """Run `spec`'s handler on `payload` (JSON bytes) in an idle or new instance.

        `batch` is the request ids a model function's micro-batch answers, for its log.

        Raises TooManyRequestsError when the function stays at its concurrency limit for the
        throttle wait. Every other failure (the handler's, a timeout, memory, a crash) comes back
        as a result with `function_error` set.
        """
        if not self._running:
            await self._until_started()
        request_id = request_id or str(uuid.uuid4())
        self._warm[(spec.name, spec.version)] = spec
        pool = self._pool(spec)
        limit = self._limit(spec)
        await pool.acquire(limit, self._throttle_wait_s)
        instance: InstanceProcess | None = None
        header = {
            "request_id": request_id,
            "arn": function_arn(spec.name, self.region, self.account_id, qualifier),
            "timeout_s": spec.timeout_s,
        }
        try:
            pool.retire_stale(spec)
            while True:
                instance = pool.take_idle(spec)
                cold = instance is None
                if instance is None:
                    instance, ended = await self._new_instance(pool, spec)
                    if ended is not None or instance.init_error is not None:
                        return self._finish(spec, request_id, instance, ended, True, batch)
                outcome = await instance.invoke(header, payload, spec.timeout_s)
                if isinstance(outcome, Ended) and not outcome.reached and not cold:
                    # An idle instance that died before the request reached it: the request
                    # is sent again, to another instance (or a fresh one).
                    pool.discard(instance)
                    instance = None
                    continue
                break
            pool.put_idle(instance, self._clock())
            return self._finish(spec, request_id, instance, outcome, cold, batch)
        except BaseException:
            if instance is not None:
                pool.discard(instance)  # its state is unknown (a cancelled caller, a bug)
            raise
        finally:
            await pool.release()

    async def ensure_warm(self, spec: FunctionSpec) -> int:
        """Start instances until `spec` has its warm minimum; the number of its live instances."""
        if not self._running:
            await self._until_started()
        self._warm[(spec.name, spec.version)] = spec
        pool = self._pool(spec)
        pool.retire_stale(spec)
        have = sum(1 for i in pool.instances() if i.spec == spec)
        started = await asyncio.gather(
            *(self._start_idle(pool, spec) for _ in range(spec.warm_minimum - have))
        )
        return have + sum(started)

    async def reap(self) -> int:
        """Kill instances idle past the keep-warm period, down to each warm minimum; how many.

        Then start instances for any function version below its warm minimum (one that crashed,
        say); the reaper task does both every `reap_interval_s`.
        """
        now = self._clock()
        reaped = sum(
            pool.reap(now, self._keep_warm_s, self._warm_minimum) for pool in self._pools.values()
        )
        for spec in list(self._warm.values()):
            if spec.warm_minimum:
                await self.ensure_warm(spec)
        return reaped

    async def scale_to_zero(self, function_name: str) -> int:
        """Kill every idle instance of a function and forget its warm minimum; how many.

        For a function that is deleted or replaced; its next invocation starts afresh.
        """
        for key in [k for k in self._warm if k[0] == function_name]:
            del self._warm[key]
        pool = self._pools.get(function_name)
        if pool is None:
            return 0
        idle = list(pool.idle)
        for instance in idle:
            pool.discard(instance)
        return len(idle)

    def instances(self, function_name: str | None = None) -> list[InstanceInfo]:
        """The live instances, of one function or of all."""
        pools = [self._pools[function_name]] if function_name in self._pools else []
        if function_name is None:
            pools = list(self._pools.values())
        return [
            InstanceInfo(
                function_name=pool.name,
                version=i.spec.version,
                pid=i.pid,
                busy=i in pool.busy,
                invocations=i.invocations,
                idle_since=None if i in pool.busy else i.idle_since,
            )
            for pool in pools
            for i in pool.instances()
            if i.alive
        ]

    async def _until_started(self) -> None:
        """Wait (up to `start_wait_s`) for a start under way; RuntimeUnavailableError unless the
        engine is running by then."""
        started = self._started
        if self._state == "starting" and started is not None:
            try:
                await asyncio.wait_for(started.wait(), self._start_wait_s)
            except TimeoutError:
                raise codes.RuntimeUnavailableError(
                    f"the function runtime is still starting after {self._start_wait_s:g} s (its"
                    " zygote imports numpy, pandas, scikit-learn and ONNX Runtime); retry shortly"
                ) from None
        if self._running:
            return
        if self._state == "failed":
            raise codes.RuntimeUnavailableError(
                f"the function runtime did not start: {self._failure}; see the server's log"
            )
        raise codes.RuntimeUnavailableError("the engine is not running; call start() first")

    def _pool(self, spec: FunctionSpec) -> FunctionPool:
        if spec.name not in self._pools:
            self._pools[spec.name] = FunctionPool(spec.name)
        return self._pools[spec.name]

    def _limit(self, spec: FunctionSpec) -> int:
        if spec.reserved_concurrency is not None:
            return spec.reserved_concurrency
        return self._default_concurrency

    def _warm_minimum(self, spec: FunctionSpec) -> int:
        current = self._warm.get((spec.name, spec.version))
        return current.warm_minimum if current == spec and current is not None else 0

    async def _new_instance(
        self, pool: FunctionPool, spec: FunctionSpec
    ) -> tuple[InstanceProcess, Ended | None]:
        """A started, busy instance; discarded already if it could not load its handler."""
        instance = InstanceProcess(spec, self._zygote, self._memory_poll_s)
        pool.add_busy(instance)
        try:
            spare = self._take_spare()
            leaf = spare.leaf if spare is not None else self._new_leaf()
            if leaf is not None:
                leaf.limit(spec.memory_mb * 1024 * 1024, MAX_PROCESSES)
            # Each instance its own /tmp, as each Lambda execution environment has.
            instance.tmp = tmp = self.state_dir / "tmp" / spec.name / uuid.uuid4().hex[:12]
            tmp.mkdir(parents=True)
            if self._isolation.uid is not None:
                os.chown(tmp, self._isolation.uid, self._isolation.uid)
            options = self._isolation.instance_options(tmp, self._private)
            init = instance_init(spec, tmp, self.region, options)
            ended = await instance.start(init, spec.timeout_s, spare, leaf)
        except BaseException:
            pool.discard(instance)
            raise
        if ended is not None or instance.init_error is not None:
            pool.discard(instance)
        return instance, ended

    def _take_spare(self) -> Spare | None:
        """The spare process, if one is ready (and start forking the next)."""
        spare, self._spare = self._spare, None
        if spare is not None and (
            spare.zygote_pid != self._zygote.pid  # forked by a zygote since replaced
            or not self._zygote.alive  # it dies with its zygote
            or read_memory(spare.pid) is None  # gone, or a zombie
        ):
            spare.discard()  # it died (with its zygote, say): fork afresh
            spare = None
        self._refill()
        return spare

    def _refill(self) -> None:
        if not self._spares or not self._running or self._spare is not None:
            return
        if self._refilling is None or self._refilling.done():
            self._refilling = asyncio.create_task(self._fork_spare())

    async def _fork_spare(self) -> None:
        leaf = self._new_leaf()
        try:
            spare = await fork(self._zygote, None, leaf)
        except Exception:  # noqa: BLE001 - a cold start forks for itself instead
            _log.exception("forking a spare instance failed")
            if leaf is not None:
                leaf.remove()
            return
        if self._spare is None and self._running:
            self._spare = spare
        else:
            spare.discard()

    def _new_leaf(self) -> Leaf | None:
        if self._cgroups is None:
            return None
        try:
            return self._cgroups.leaf()
        except OSError as exc:
            _log.warning("an instance runs without its cgroup: %s", exc)
            return None

    def _probe_isolation(self) -> Isolation:
        """Make the instances' cgroup tree and find what else confines them here; say it."""
        tree, reason = CgroupTree.create(f"{os.getpid()}-{secrets.token_hex(3)}")
        self._cgroups = tree
        package = Path(__file__).resolve().parents[2]
        roots = [Path(sys.prefix), Path(sys.base_prefix), package, self.state_dir]
        isolation = Isolation.probe(
            tree.description if tree is not None else "", reason, roots=roots
        )
        _log.info("%s", isolation.summary())
        for warning in isolation.warnings:
            _log.warning("instance isolation: %s", warning)
        return isolation

    async def _start_idle(self, pool: FunctionPool, spec: FunctionSpec) -> bool:
        instance, ended = await self._new_instance(pool, spec)
        if ended is not None or instance.init_error is not None:
            return False
        pool.put_idle(instance, self._clock())
        return True

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval_s)
            try:
                await self.reap()
            except Exception:  # noqa: BLE001 - one bad reap must not end reaping for good
                _log.exception("reaping idle instances failed")

    def _finish(
        self,
        spec: FunctionSpec,
        request_id: str,
        instance: InstanceProcess,
        outcome: Finished | Ended | None,
        cold: bool,
        batch: Sequence[str] = (),
    ) -> InvocationResult:
        """Word the outcome, frame its log, hand the log to the sink."""
        output = instance.take_log().decode("utf-8", errors="replace")
        init_output = instance.init_output.decode("utf-8", errors="replace") if cold else ""
        init_ms = instance.init_ms if cold else None
        notice = ""
        status = None
        if isinstance(outcome, Finished):
            body, error_type, duration_ms = outcome.payload, outcome.error_type, outcome.duration_ms
        elif isinstance(outcome, Ended):
            described = describe_end(outcome, request_id, spec.timeout_s)
            body = json.dumps(described.document).encode()
            error_type, notice, status = described.error_type, described.notice, described.status
            duration_ms = (
                spec.timeout_s * 1000 if outcome.reason == "timeout" else outcome.duration_ms
            )
        else:  # the handler could not be loaded
            init_error = instance.init_error or {}
            body = json.dumps(init_error).encode()
            error_type = init_error.get("errorType", codes.RUNTIME_IMPORT_MODULE_ERROR)
            notice = f"[ERROR] {error_type}: {init_error.get('errorMessage')}"
            duration_ms, status = 0.0, "error"
        if status is None and error_type is not None:
            status = "error"
        max_memory_mb = max(1, math.ceil(instance.peak_kb / 1024))
        report = format_report(
            request_id,
            duration_ms,
            spec.memory_mb,
            max_memory_mb,
            init_ms,
            status,
            error_type if status == "error" else None,
        )
        log = frame_log(request_id, spec.version, output, report, init_output, notice, batch)
        self.log_sink.write(spec.name, log)
        return InvocationResult(
            request_id=request_id,
            payload=body,
            function_error=codes.FUNCTION_ERROR_UNHANDLED if error_type is not None else None,
            error_type=error_type,
            log_tail=log,
            duration_ms=duration_ms,
            billed_ms=billed_ms(duration_ms),
            max_memory_mb=max_memory_mb,
            init_ms=init_ms,
            executed_version=spec.version,
            instance_pid=instance.pid or None,
        )

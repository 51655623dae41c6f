"""One function's instances and its concurrency: which are idle, how many run, who must wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lambeam.runtime.error_types import TooManyRequestsError
from lambeam.runtime.process import InstanceProcess
from lambeam.runtime.spec import FunctionSpec

__all__ = ["FunctionPool"]


class FunctionPool:
    """The instances of every version of one function, and its count of running invocations.

    Concurrency is counted per function, across versions, as Lambda's reserved concurrency is.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.idle: list[InstanceProcess] = []
        self.busy: set[InstanceProcess] = set()
        self.running = 0
        self._changed = asyncio.Condition()

    def instances(self) -> list[InstanceProcess]:
        """Every live instance, idle or busy."""
        return [*self.idle, *self.busy]

    async def acquire(self, limit: int, wait_s: float) -> None:
        """Take one unit of concurrency, waiting up to `wait_s` for one; else a throttle error."""
        async with self._changed:
            if self.running >= limit:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.running < limit), wait_s
                    )
                except TimeoutError:
                    raise TooManyRequestsError(
                        f"Rate Exceeded: function {self.name!r} is at its concurrency limit "
                        f"({limit})",
                        self.name,
                    ) from None
            self.running += 1

    async def release(self) -> None:
        """Give back one unit of concurrency."""
        async with self._changed:
            self.running -= 1
            self._changed.notify()

    def take_idle(self, spec: FunctionSpec) -> InstanceProcess | None:
        """The most recently used idle instance of exactly this spec, now busy."""
        for index in range(len(self.idle) - 1, -1, -1):
            instance = self.idle[index]
            if (instance.spec is spec or instance.spec == spec) and instance.alive:
                del self.idle[index]
                self.busy.add(instance)
                return instance
        return None

    def add_busy(self, instance: InstanceProcess) -> None:
        self.busy.add(instance)

    def put_idle(self, instance: InstanceProcess, now: float) -> None:
        """Back to the idle list if it is alive; forgotten otherwise."""
        self.busy.discard(instance)
        if instance.alive:
            instance.idle_since = now
            self.idle.append(instance)

    def discard(self, instance: InstanceProcess) -> None:
        """Kill and forget an instance."""
        instance.kill()
        self.busy.discard(instance)
        if instance in self.idle:
            self.idle.remove(instance)

    def retire_stale(self, spec: FunctionSpec) -> None:
        """Kill idle instances of this version made from another spec (an updated $LATEST)."""
        for instance in list(self.idle):
            if instance.spec is spec:
                continue
            if instance.spec.version == spec.version and instance.spec != spec:
                self.discard(instance)

    def reap(self, now: float, keep_warm_s: float, minimum: Callable[[FunctionSpec], int]) -> int:
        """Kill instances idle longer than `keep_warm_s`, keeping each spec's warm minimum."""
        reaped = 0
        for instance in sorted(self.idle, key=lambda i: i.idle_since):
            if not instance.alive:
                self.idle.remove(instance)
                continue
            if now - instance.idle_since < keep_warm_s:
                continue
            same = sum(1 for other in self.instances() if other.spec == instance.spec)
            if same > minimum(instance.spec):
                self.discard(instance)
                reaped += 1
        return reaped

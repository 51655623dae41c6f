"""Memory accounting for instances, read from /proc.

An instance is forked from the zygote, so its resident set starts with the zygote's pages
(numpy, pandas, …), shared copy-on-write. The memory it is charged for is the anonymous memory it
gained since the fork: `RssAnon` now minus `RssAnon` at fork. File-backed pages (shared library
code faulted back in after the fork) are not charged; they are shared with every other instance.

Peaks between two polls are caught through `VmHWM` (the process's peak resident set): at the peak,
anonymous memory was at least `VmHWM - RssFile - RssShmem` as measured now (file pages only grow
while a process runs), so the larger of that and `RssAnon` bounds the peak from below without ever
overcharging.

Why polling and not an rlimit: RLIMIT_AS counts address space, not memory (ONNX Runtime and
OpenBLAS reserve far more than they touch), and RLIMIT_RSS is not enforced by Linux. A cgroup would
be exact but needs delegation that a laptop user does not have.
"""

from __future__ import annotations

__all__ = ["MemorySample", "read_memory", "read_own_memory"]

import os
import resource
from dataclasses import dataclass

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class MemorySample:
    """One reading of /proc/<pid>/status, in KiB."""

    rss_anon_kb: int
    rss_file_kb: int
    rss_shmem_kb: int
    hwm_kb: int

    def charged_kb(self, anon_at_fork_kb: int) -> int:
        """Peak anonymous memory gained since the fork (a lower bound; see the module docstring)."""
        peak_anon = max(self.rss_anon_kb, self.hwm_kb - self.rss_file_kb - self.rss_shmem_kb)
        return max(0, peak_anon - anon_at_fork_kb)


def read_memory(pid: int | str = "self") -> MemorySample | None:
    """The process's memory counters, or None once it has gone."""
    values = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0, "VmHWM": 0}
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        key, _, rest = line.partition(b":")
        name = key.decode()
        if name in values:
            values[name] = int(rest.split()[0])
    if values["VmHWM"] == 0:
        return None  # a zombie: its memory is gone
    return MemorySample(values["RssAnon"], values["RssFile"], values["RssShmem"], values["VmHWM"])


def read_own_memory() -> MemorySample:
    """This process's counters, as `read_memory("self")` gives them for what they are used for
    (`charged_kb`), at a fifth of its cost: an instance reads them after every call.

    /proc/self/statm has the resident and the shared (file and shmem) sizes, and getrusage the
    peak (`ru_maxrss` is VmHWM); file and shmem pages are counted together as file pages.
    """
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        fields = os.read(fd, 256).split()
    finally:
        os.close(fd)
    resident, shared = int(fields[1]) * _PAGE_KB, int(fields[2]) * _PAGE_KB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return MemorySample(resident - shared, shared, 0, max(peak, resident))

"""Control groups for instances: one leaf per instance, holding it and every process it starts.

The engine makes `lambeam-<id>` below its own cgroup and a leaf below that for each instance
before it is forked; the forked process moves itself into its leaf first thing (writing 0 to each
`cgroup.procs`), so nothing it starts can be outside it. A leaf caps the memory (the kernel's OOM
killer acts inside the leaf only) and the number of processes of the whole tree, knows the tree's
peak memory, and kills the whole tree at once.

cgroup v2 is used where this process may enable the memory and pids controllers below its own
cgroup (systemd's delegation, a container's own namespace); cgroup v1 where its memory and pids
hierarchies are writable (a host in hybrid mode, as root). Anywhere else `CgroupTree.create`
says why not, and the engine falls back to a session per instance (see isolation.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupTree", "Leaf"]

_ROOT = Path("/sys/fs/cgroup")
_KILL_ROUNDS = 50


@dataclass(frozen=True)
class Leaf:
    """One instance's cgroup (a folder per hierarchy on v1, one folder on v2)."""

    version: int
    folders: tuple[Path, ...]  # v1: (memory, pids); v2: (the leaf,)

    @property
    def procs_files(self) -> list[str]:
        """What the instance writes 0 into to join its leaf."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def limit(self, memory_bytes: int, pids: int) -> None:
        """Cap the tree's memory (no swap beyond it) and its number of processes and threads."""
        if self.version == 2:
            leaf = self.folders[0]
            _write(leaf / "memory.max", str(memory_bytes))
            _write(leaf / "memory.swap.max", "0", missing_ok=True)
            _write(leaf / "memory.oom.group", "1", missing_ok=True)
            _write(leaf / "pids.max", str(pids))
            return
        memory, pid_folder = self.folders
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes), missing_ok=True)
        _write(memory / "memory.swappiness", "0", missing_ok=True)
        _write(pid_folder / "pids.max", str(pids))

    def peak_bytes(self) -> int | None:
        """The tree's peak memory since it joined (None if unreadable)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.folders[0] / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def oom_kills(self) -> int:
        """How many of the tree's processes the kernel killed for the memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.folders[0] / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def pids(self) -> list[int]:
        """The processes in the leaf now."""
        try:
            text = (self.folders[-1] / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def kill(self) -> None:
        """SIGKILL every process of the tree (a fork racing the kill is caught next round)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.folders[0] / "cgroup.kill", "1")
                return
        for _ in range(_KILL_ROUNDS):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the leaf once its processes are gone; False while some remain."""
        removed = True
        for folder in self.folders:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


class CgroupTree:
    """`lambeam-<name>` below this process's cgroup(s), where instance leaves are made."""

    def __init__(self, version: int, bases: tuple[Path, ...]) -> None:
        self.version = version
        self.bases = bases
        self._next = 0

    @property
    def description(self) -> str:
        return f"cgroup v{self.version} (memory and pids)"

    @classmethod
    def create(cls, name: str) -> tuple[CgroupTree | None, str]:
        """The tree, or None and why no cgroup can be used here."""
        own = _own_cgroups()
        if not own:
            return None, "no cgroup file system at /sys/fs/cgroup"
        reasons = []
        if "" in own:
            tree, reason = cls._create_v2(own[""], name)
            if tree is not None:
                return tree, ""
            reasons.append(reason)
        if "memory" in own and "pids" in own:
            tree, reason = cls._create_v1(own["memory"], own["pids"], name)
            if tree is not None:
                return tree, ""
            reasons.append(reason)
        return None, "; ".join(reasons) or "no memory and pids controllers"

    @classmethod
    def _create_v2(cls, path: str, name: str) -> tuple[CgroupTree | None, str]:
        mount = _ROOT if (_ROOT / "cgroup.controllers").exists() else _ROOT / "unified"
        own = mount / path.lstrip("/")
        try:
            available = (own / "cgroup.controllers").read_text().split()
        except OSError as exc:
            return None, f"cgroup v2: {exc.strerror}"
        if not {"memory", "pids"} <= set(available):
            return None, "cgroup v2: the memory and pids controllers are not delegated here"
        base = own / f"lambeam-{name}"
        try:
            enabled = (own / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                _write(own / "cgroup.subtree_control", "+memory +pids")
            base.mkdir()
            _write(base / "cgroup.subtree_control", "+memory +pids")
        except OSError as exc:
            with contextlib.suppress(OSError):
                base.rmdir()
            return None, f"cgroup v2: cannot delegate memory and pids below {own} ({exc.strerror})"
        return cls(2, (base,)), ""

    @classmethod
    def _create_v1(cls, memory: str, pids: str, name: str) -> tuple[CgroupTree | None, str]:
        bases = (
            _ROOT / "memory" / memory.lstrip("/") / f"lambeam-{name}",
            _ROOT / "pids" / pids.lstrip("/") / f"lambeam-{name}",
        )
        made: list[Path] = []
        try:
            for base in bases:
                base.mkdir()
                made.append(base)
        except OSError as exc:
            for base in made:
                with contextlib.suppress(OSError):
                    base.rmdir()
            return None, f"cgroup v1: cannot make {base} ({exc.strerror})"
        return cls(1, bases), ""

    def leaf(self) -> Leaf:
        """A new, empty leaf."""
        self._next += 1
        folders = tuple(base / f"i{self._next}" for base in self.bases)
        for folder in folders:
            folder.mkdir(exist_ok=True)
        return Leaf(self.version, folders)

    def remove(self) -> None:
        """Kill whatever is left in the tree and remove it."""
        for base in self.bases:
            if not base.is_dir():
                continue
            for child in base.iterdir():
                if child.is_dir():
                    leaf = Leaf(self.version, (child,))
                    leaf.kill()
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                base.rmdir()


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller ("" for v2), from /proc/self/cgroup."""
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            found[controller] = path
    return found


def _write(path: Path, value: str, *, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise

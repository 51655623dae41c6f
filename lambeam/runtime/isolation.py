"""How instances are kept apart from the server, from each other and from the project.

The engine probes the host once (`Isolation.probe`) and says what is in force (`lambeam server`
prints `summary()`, /v1/health reports `to_dict()`); each instance then confines itself
(`confine`) as soon as it knows its function, before any of the function's code runs:

- its own session and process group, and every file descriptor but its socket and log closed;
- its cgroup leaf (joined at fork, see cgroups.py): the memory and process limits count the whole
  tree, and the whole tree dies with the instance; without one, the session is killed instead;
- as root: a private mount namespace where the instance's own folder is mounted on /tmp;
- Landlock: read-only its code, its libraries and the Python environment, read-write its /tmp,
  nothing of the project's `.lambeam/` (credentials, database, other functions' code and logs);
  from ABI 6 no signal to any process outside the instance; /proc shows it only itself;
- seccomp: no chmod, chown, utime or xattr writes (Landlock does not cover a file's metadata, and
  the instance's user owns the project's files), no new unix-domain socket (root-only services),
  no namespaces, mounts, ptrace, BPF, keyrings or modules (see seccomp.py);
- as root: no capabilities left (and uid 65534 where the Python environment is readable by it),
  so that nothing lets it step around the above.

Where a mechanism is missing (an older kernel, a laptop without cgroup delegation, not Linux), the
instance runs with what is left and the engine's statement says so, with a warning: never
silently. `LAMBEAM_ISOLATION=off` (or Engine(isolation=False)) turns confinement off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambeam.runtime import landlock, seccomp

__all__ = ["NOBODY", "VIEWS", "Isolation", "confine", "isolation_wanted"]

NOBODY = 65534
# Lambda's ephemeral storage default; here a cap on any one file the instance writes.
EPHEMERAL_BYTES = 512 * 1024 * 1024
# Lambda's limit on processes and threads in an execution environment.
MAX_PROCESSES = 1024
# Beside an instance's /tmp folder: views of import folders that hold the project's state.
VIEWS = ".path"

_CLONE_NEWNS = 0x00020000
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# What an instance may read besides its own code and the Python environment.
_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/sys/devices/system/cpu")
_SYSTEM_FILES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/mime.types",
    "/etc/os-release",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/filesystems",
    "/proc/sys/kernel/cap_last_cap",
)
_SYSTEM_READ_ETC = ("/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies")


def isolation_wanted(environ: dict[str, str] | None = None) -> bool:
    """False when LAMBEAM_ISOLATION says off (0, off, false, no)."""
    value = (environ if environ is not None else os.environ).get("LAMBEAM_ISOLATION", "")
    return value.strip().lower() not in ("0", "off", "false", "no")


@dataclass(frozen=True)
class Isolation:
    """What confines instances on this host, decided once by the engine."""

    enabled: bool
    landlock_abi: int = 0
    cgroup: str = ""  # "cgroup v1 (memory and pids)", or "" (a session per instance)
    as_root: bool = False
    uid: int | None = None  # the uid instances switch to (None: they keep the server's)
    mount_tmp: bool = False
    seccomp: bool = False  # the filter of seccomp.py: metadata, unix sockets, namespaces
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def off(cls) -> Isolation:
        return cls(enabled=False, warnings=("instance isolation is off (LAMBEAM_ISOLATION=off)",))

    @classmethod
    def probe(cls, cgroup: str, cgroup_reason: str, *, roots: list[Path]) -> Isolation:
        """What this host offers; `cgroup` is the tree the engine made ("" and why not), `roots`
        the folders instances must read as another uid (the Python environment)."""
        warnings: list[str] = []
        if platform.system() != "Linux":
            return cls(
                enabled=False,
                warnings=(
                    f"instance isolation needs Linux; on {platform.system()} handlers run as"
                    " the server's user and can read the project",
                ),
            )
        abi = landlock.abi()
        if abi < 1:
            warnings.append(
                "Landlock is not enabled in this kernel: handlers can read the project's"
                " .lambeam/ (credentials, database, other functions); enable the landlock LSM"
            )
        elif abi < 6:
            warnings.append(
                f"Landlock ABI {abi} (< 6) cannot scope signals: a handler can signal processes of"
                " the server's user"
            )
        if not cgroup:
            warnings.append(
                f"no cgroup for instances ({cgroup_reason}): memory is polled per process, and"
                " processes a handler starts in a new session escape the instance's end"
            )
        if not seccomp.available():
            warnings.append(
                f"no seccomp filter for {platform.machine()}: a handler can chmod or chown the"
                " files its user owns and connect to local unix sockets"
            )
        as_root = os.geteuid() == 0
        uid = NOBODY if as_root and all(_readable_by_others(p) for p in roots) else None
        return cls(
            enabled=True,
            landlock_abi=abi,
            cgroup=cgroup,
            as_root=as_root,
            uid=uid,
            mount_tmp=as_root,
            seccomp=seccomp.available(),
            warnings=tuple(warnings),
        )

    def summary(self) -> str:
        """One line for the server's start-up."""
        if not self.enabled:
            return "instance isolation: none"
        parts = [
            f"filesystem and signals: Landlock ABI {self.landlock_abi}"
            if self.landlock_abi >= 6
            else (
                f"filesystem: Landlock ABI {self.landlock_abi}"
                if self.landlock_abi
                else "filesystem: not confined"
            ),
            f"process tree: {self.cgroup}" if self.cgroup else "process tree: a session each",
            self._user(),
        ]
        if self.seccomp:
            parts.append("seccomp (no chmod, chown, unix sockets or namespaces)")
        if self.mount_tmp:
            parts.append("own /tmp (mount namespace)")
        return "instance isolation: " + "; ".join(parts)

    def _user(self) -> str:
        if not self.as_root:
            return "user: the server's (not root)"
        if self.uid is not None:
            return f"user: uid {self.uid}, no capabilities"
        return "user: uid 0 without capabilities (the Python environment is not readable by 65534)"

    def to_dict(self) -> dict[str, Any]:
        """What /v1/health reports."""
        return {
            "enabled": self.enabled,
            "summary": self.summary(),
            "landlock_abi": self.landlock_abi,
            "filesystem": "landlock" if self.enabled and self.landlock_abi else "none",
            "signals": "landlock" if self.enabled and self.landlock_abi >= 6 else "none",
            "process_tree": (self.cgroup or "session") if self.enabled else "none",
            "uid": self.uid,
            "capabilities_dropped": self.enabled and self.as_root,
            "own_tmp": self.mount_tmp,
            "seccomp": self.enabled and self.seccomp,
            "warnings": list(self.warnings),
        }

    def instance_options(self, tmp: Path, protect: list[Path]) -> dict[str, Any] | None:
        """What `confine` is told in an instance's init (None: no confinement)."""
        if not self.enabled:
            return None
        return {
            "landlock": self.landlock_abi,
            "tmp": str(tmp),
            "protect": [str(p.resolve()) for p in protect],
            "uid": self.uid,
            "drop_capabilities": self.as_root,
            "mount_tmp": self.mount_tmp,
            "seccomp": self.seccomp,
        }


def confine(options: dict[str, Any], code_paths: list[str], keep_fds: tuple[int, ...]) -> list[str]:
    """Confine this instance for good (see the module docstring); returns `code_paths` as the
    instance must import them now (a folder holding the project's state is seen through a view).

    Runs in the instance, before its handler's module is imported. Raises OSError when a
    mechanism the engine found available fails here: an instance is never left less confined
    than the server said.
    """
    _close_inherited(keep_fds)  # its own session it has since its fork (zygote.py)
    tmp = options["tmp"]
    libc = ctypes.CDLL(None, use_errno=True)
    if options.get("mount_tmp"):
        _mount_own_tmp(libc, tmp)
        tmp = "/tmp"
    resource.setrlimit(resource.RLIMIT_FSIZE, (EPHEMERAL_BYTES, EPHEMERAL_BYTES))
    protect = [Path(p) for p in options["protect"]]
    paths, granted_dirs, granted_files = _views(code_paths, protect, Path(options["tmp"] + VIEWS))
    if options.get("landlock"):
        read, files = _readable([*paths, *granted_dirs], protect)
        landlock.restrict(read, [tmp], [*files, *granted_files], version=int(options["landlock"]))
    if options.get("seccomp"):
        seccomp.install()
    if options.get("drop_capabilities"):
        _drop_privileges(libc, options.get("uid"))
    return paths


def _views(
    code_paths: list[str], protect: list[Path], root: Path
) -> tuple[list[str], list[str], list[str]]:
    """Import folders that hold a protected one (a model's custom steps in the project's root,
    beside `.lambeam/`) replaced by a view: a folder of links to their other entries, hidden ones
    left out (.git, .env). Returns the paths, and the folders and files the links lead to."""
    paths: list[str] = []
    dirs: list[str] = []
    files: list[str] = []
    for index, entry in enumerate(code_paths):
        folder = Path(entry).resolve()
        if not any(p == folder or p.is_relative_to(folder) for p in protect):
            paths.append(entry)
            continue
        view = root / str(index)
        view.mkdir(parents=True, exist_ok=True)
        for item in os.scandir(folder):
            target = Path(item.path)
            if item.name.startswith(".") or any(
                p == target or p.is_relative_to(target) for p in protect
            ):
                continue
            with contextlib.suppress(FileExistsError):
                os.symlink(target, view / item.name)
            (dirs if item.is_dir() else files).append(str(target))
        paths.append(str(view))
    return paths, dirs, files


def _close_inherited(keep_fds: tuple[int, ...]) -> None:
    """Close every descriptor above 2 but `keep_fds` (what the zygote or the server left open)."""
    low = 3
    for fd in sorted(fd for fd in keep_fds if fd >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _readable(code_paths: list[str], protect: list[Path]) -> tuple[list[str], list[str]]:
    """The folders and files an instance may read: its code and the Python environment, never a
    folder holding a protected one (the project's state folder)."""
    candidates = [*code_paths, *sys.path, sys.prefix, sys.base_prefix, sys.exec_prefix]
    candidates += [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # lambeam
    candidates += _SYSTEM_READ
    candidates += _SYSTEM_READ_ETC
    read: list[str] = []
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        path = Path(candidate).resolve()
        if any(p == path or p.is_relative_to(path) for p in protect):
            continue  # it would expose .lambeam/: its own code is listed on its own
        read.append(str(path))
    read.append(f"/proc/{os.getpid()}")  # /proc/self: itself, and no other process
    return read, list(_SYSTEM_FILES)


def _mount_own_tmp(libc: ctypes.CDLL, tmp: str) -> None:
    if libc.unshare(_CLONE_NEWNS) != 0:
        _fail(libc, "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        _fail(libc, "mount --make-rprivate /")
    if libc.mount(tmp.encode(), b"/tmp", None, _MS_BIND, None) != 0:
        _fail(libc, f"mount --bind {tmp} /tmp")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _drop_privileges(libc: ctypes.CDLL, uid: int | None) -> None:
    """No capability left in any set (and `uid` when given), for this process and its children."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # clears every capability set
        return
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        _fail(libc, "capset")


def _fail(libc: ctypes.CDLL, what: str) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _readable_by_others(path: Path) -> bool:
    """Whether uid 65534 can reach and read `path` (every folder above it searchable by others)."""
    try:
        path = path.resolve()
        for folder in [*reversed(path.parents), path]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH or not mode & stat.S_IROTH:
                return False
    except OSError:
        return False
    return True

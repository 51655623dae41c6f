"""A seccomp filter for instances: the system calls Landlock does not cover, refused.

Landlock confines which files an instance may open, write, remove or make; it does not cover a
file's metadata. A handler running as the owner of the project's files (the server's user, or
uid 0 without capabilities) could still `chmod` the master key to 0644, `chown` a file, set a
setuid bit, change times and extended attributes, connect to a root-only unix socket of another
service, or make a namespace of its own. `install()` refuses those calls with EPERM (a unix
socket: EACCES) for this process and everything it starts:

- metadata: chmod, chown, utime and xattr writes, in every form;
- new unix-domain sockets (`socket(AF_UNIX, …)`; socketpair, which asyncio needs, stays);
- namespaces (unshare, setns, clone with a namespace flag), mounts and roots, ptrace, BPF,
  perf events, userfaultfd, keyrings, modules, kexec, reboot, swap, clocks, host names,
  file-handle opens, process_vm_* — what container runtimes refuse by default;
- clone3 answers ENOSYS (its flags cannot be inspected), so libc falls back to clone;
- any call through another ABI (i386 or x32 on x86_64), which would name other numbers.

The filter is classic BPF built here from the kernel's documented structures (linux/seccomp.h,
linux/filter.h), for x86_64 and aarch64; on another machine `install` says it cannot.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

__all__ = ["SeccompError", "available", "install", "program"]

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
# seccomp_data offsets: nr, arch, instruction pointer, args[6] (low halves on little endian)
_NR, _ARCH, _ARG0 = 0, 4, 16
_X32_BIT = 0x40000000
_AF_UNIX = 1
_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME
)

_DENIED_NAMES = frozenset(
    {
        "chmod",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "utime",
        "utimes",
        "futimesat",
        "utimensat",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "setxattrat",
        "removexattrat",
        "unshare",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "keyctl",
        "add_key",
        "request_key",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "name_to_handle_at",
        "open_by_handle_at",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
        "iopl",
        "ioperm",
        "quotactl",
        "syslog",
        "vhangup",
    }
)

# The system call numbers of each architecture this filter knows (a call it lacks is absent).
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,  # AUDIT_ARCH_X86_64
        {
            "chmod": 90,
            "fchmod": 91,
            "fchmodat": 268,
            "fchmodat2": 452,
            "chown": 92,
            "fchown": 93,
            "lchown": 94,
            "fchownat": 260,
            "utime": 132,
            "utimes": 235,
            "futimesat": 261,
            "utimensat": 280,
            "setxattr": 188,
            "lsetxattr": 189,
            "fsetxattr": 190,
            "removexattr": 197,
            "lremovexattr": 198,
            "fremovexattr": 199,
            "setxattrat": 463,
            "removexattrat": 466,
            "unshare": 272,
            "setns": 308,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "chroot": 161,
            "mount_setattr": 442,
            "move_mount": 429,
            "open_tree": 428,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "bpf": 321,
            "perf_event_open": 298,
            "userfaultfd": 323,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "kcmp": 312,
            "name_to_handle_at": 303,
            "open_by_handle_at": 304,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "reboot": 169,
            "swapon": 167,
            "swapoff": 168,
            "acct": 163,
            "settimeofday": 164,
            "clock_settime": 227,
            "clock_adjtime": 305,
            "adjtimex": 159,
            "sethostname": 170,
            "setdomainname": 171,
            "iopl": 172,
            "ioperm": 173,
            "quotactl": 179,
            "syslog": 103,
            "vhangup": 153,
            "socket": 41,
            "clone": 56,
            "clone3": 435,
        },
    ),
    "aarch64": (
        0xC00000B7,  # AUDIT_ARCH_AARCH64
        {
            "fchmod": 52,
            "fchmodat": 53,
            "fchmodat2": 452,
            "fchown": 55,
            "fchownat": 54,
            "utimensat": 88,
            "setxattr": 5,
            "lsetxattr": 6,
            "fsetxattr": 7,
            "removexattr": 14,
            "lremovexattr": 15,
            "fremovexattr": 16,
            "setxattrat": 463,
            "removexattrat": 466,
            "unshare": 97,
            "setns": 268,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "chroot": 51,
            "mount_setattr": 442,
            "move_mount": 429,
            "open_tree": 428,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "bpf": 280,
            "perf_event_open": 241,
            "userfaultfd": 282,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "kcmp": 272,
            "name_to_handle_at": 264,
            "open_by_handle_at": 265,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "reboot": 142,
            "swapon": 224,
            "swapoff": 225,
            "acct": 89,
            "settimeofday": 170,
            "clock_settime": 112,
            "clock_adjtime": 266,
            "adjtimex": 171,
            "sethostname": 161,
            "setdomainname": 162,
            "quotactl": 60,
            "syslog": 116,
            "vhangup": 58,
            "socket": 198,
            "clone": 220,
            "clone3": 435,
        },
    ),
}


class SeccompError(OSError):
    """The filter could not be installed (the kernel's errno is kept)."""


class _Filter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter)))


def available() -> bool:
    """Whether this machine is one the filter knows (Linux on x86_64 or aarch64)."""
    return platform.system() == "Linux" and platform.machine() in _TABLES


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter's instructions (code, jt, jf, k) for `machine` (this one by default)."""
    arch, numbers = _TABLES[machine or platform.machine()]
    denied = sorted({numbers[name] for name in _DENIED_NAMES if name in numbers})
    deny = _RET_ERRNO | errno.EPERM
    # The tail every check jumps to: allow, deny, EACCES for a unix socket, ENOSYS for clone3.
    tail = [
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, deny),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EACCES),
        (_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS),
    ]
    # Two argument checks, each: load the first argument, test it, allow or answer.
    socket_check = [(_LD_W_ABS, 0, 0, _ARG0), (_JEQ_K, "unix", "allow", _AF_UNIX)]
    clone_check = [(_LD_W_ABS, 0, 0, _ARG0), (_JSET_K, "deny", "allow", _NAMESPACE_FLAGS)]
    head: list[tuple[int, object, object, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 0, "deny", arch),
        (_LD_W_ABS, 0, 0, _NR),
        (_JGE_K, "deny", 0, _X32_BIT),
        (_JEQ_K, "socket", 0, numbers["socket"]),
        (_JEQ_K, "clone", 0, numbers["clone"]),
        (_JEQ_K, "enosys", 0, numbers["clone3"]),
        *((_JEQ_K, "deny", 0, number) for number in denied),
        (_RET_K, 0, 0, _RET_ALLOW),
    ]
    body = head + socket_check + clone_check
    places = {
        "socket": len(head),
        "clone": len(head) + len(socket_check),
        "allow": len(body),
        "deny": len(body) + 1,
        "unix": len(body) + 2,
        "enosys": len(body) + 3,
    }
    resolved = []
    for index, (code, jt, jf, k) in enumerate(body):
        resolved.append((code, _offset(jt, index, places), _offset(jf, index, places), k))
    return resolved + tail


def install() -> None:
    """Install the filter on this process for good (its children inherit it)."""
    if not available():
        raise SeccompError(0, f"no seccomp filter for {platform.system()} {platform.machine()}")
    instructions = program()
    filters = (_Filter * len(instructions))(*(_Filter(*i) for i in instructions))
    prog = _Program(len(instructions), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        _fail("prctl(PR_SET_SECCOMP)")


def _offset(target: object, index: int, places: dict[str, int]) -> int:
    if isinstance(target, int):
        return target
    jump = places[str(target)] - index - 1
    if not 0 <= jump <= 255:
        raise ValueError(f"a seccomp jump of {jump} does not fit")  # a bug here, never input
    return jump


def _fail(what: str) -> None:
    number = ctypes.get_errno()
    raise SeccompError(number, f"{what}: {os.strerror(number)}")

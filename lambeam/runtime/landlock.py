"""Landlock, Linux's unprivileged sandbox, through its three system calls.

An instance calls `restrict(read, write, files)` on itself once it knows its function: from then
on it (and every process it starts) can read only below the `read` folders and the `files`, write
only below `write`, and, from ABI 6, cannot signal (or connect to the abstract sockets of) any
process outside its own Landlock domain. Since ABI 1 a sandboxed process cannot ptrace a process
outside its domain either, which is also what guards another process's /proc/<pid>/environ and
/proc/<pid>/mem. Nothing here needs privileges; the kernel must have Landlock enabled (`abi()`
says which version it offers, 0 for none).

There is no maintained Python binding of Landlock on PyPI; these are the kernel's documented
structures (include/uapi/linux/landlock.h), called through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable

__all__ = ["LandlockError", "abi", "restrict"]

# The system call numbers are shared by every architecture (the generic table).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights, with the ABI that introduced them.
_EXECUTE = 1 << 0
_WRITE_FILE = 1 << 1
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13  # ABI 2
_TRUNCATE = 1 << 14  # ABI 3
_IOCTL_DEV = 1 << 15  # ABI 5
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6

_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ = _EXECUTE | _READ_FILE | _READ_DIR


class LandlockError(OSError):
    """A Landlock call failed (the kernel's errno is kept)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The Landlock ABI version this kernel offers; 0 when it has none (or not Linux)."""
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    version = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(0, int(version))


def _handled(version: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE … MAKE_SYM: ABI 1
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict(
    read: Iterable[str],
    write: Iterable[str],
    files: Iterable[str] = (),
    *,
    version: int | None = None,
) -> int:
    """Confine this process (and its future children) for good; the ABI used.

    `read`: folders readable and executable below; `write`: folders fully usable below;
    `files`: single files readable (and writable when they are character devices such as
    /dev/null). Paths that do not exist are skipped. Raises LandlockError when the kernel has
    no Landlock or refuses.
    """
    version = abi() if version is None else version
    if version < 1:
        raise LandlockError(0, "Landlock is not available in this kernel")
    libc = _libc()
    handled = _handled(version)
    attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=0)
    size = 8  # ABI 1-3 know handled_access_fs only
    if version >= 4:
        size = 16
    if version >= 6:
        attr.scoped = _SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX_SOCKET
        size = 24
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        errno = ctypes.get_errno()
        raise LandlockError(errno, f"landlock_create_ruleset: {os.strerror(errno)}")
    try:
        for path in read:
            _add(libc, ruleset, path, _READ & handled, directory=True)
        for path in write:
            _add(libc, ruleset, path, handled, directory=True)
        for path in files:
            device = path.startswith("/dev/")
            rights = (_READ_FILE | _WRITE_FILE) if device else _READ_FILE | _EXECUTE
            _add(libc, ruleset, path, rights & handled & _FILE_RIGHTS, directory=False)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(errno)}")
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"landlock_restrict_self: {os.strerror(errno)}")
    finally:
        os.close(ruleset)
    return version


def _add(libc: ctypes.CDLL, ruleset: int, path: str, rights: int, *, directory: bool) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent here: nothing to allow
    try:
        if directory != os.path.isdir(path):
            if directory:
                rights &= _FILE_RIGHTS  # a file given as a folder: its file rights only
            else:
                return
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"landlock_add_rule {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)

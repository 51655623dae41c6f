"""The zygote: one process with the data-science stack imported, forking instances on request.

The engine starts it as `python -m lambeam.runtime.zygote FD MODULE…` with one end of a
SOCK_SEQPACKET socket pair as FD. Each datagram is one frame (see protocol.py):

    engine → zygote  {"op": "spawn", "token", "init", "cgroup"}  + SCM_RIGHTS [socket, log pipe]
    zygote → engine  {"op": "ready", "pid", "import_ms"}
                     {"op": "spawned", "token", "pid"}  or  {"op": "spawn_failed", "token", "error"}
                     {"op": "exited", "pid", "exit_code" | "signal"}

The zygote is the instances' parent, so it reaps them and reports how each one ended; as a
child subreaper it also reaps what they leave behind (reported too; the engine ignores pids it did
not spawn). A spawned child first joins the cgroup leaf named by `cgroup` (cgroup.procs files). It stays
single-threaded (thread pools of BLAS libraries pinned to one thread by its environment), since
only the forking thread survives a fork. When the engine goes away the zygote dies (EOF on its
socket, or PR_SET_PDEATHSIG), and its instances die with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from lambeam.runtime.instance import run_instance
from lambeam.runtime.protocol import decode_frame, encode_frame

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_MAX_DATAGRAM = 1 << 20


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: instances still end on EOF of their socket


def _adopt_orphans() -> None:
    """Become the parent of what instances leave behind (a handler's double fork), to reap it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> NoReturn:
    """Import the preload modules, then fork instances on request until the engine goes away."""
    _die_with_parent()
    _adopt_orphans()
    control = socket.socket(fileno=int(argv[0]))
    control.setblocking(True)
    started = time.perf_counter()
    for name in argv[1:]:
        module = importlib.import_module(name)
        # A preloaded module may pay its first call's one-time costs here, once for every
        # instance (see lambeam.inference.warmup); it must start no thread.
        warm_up = getattr(module, "zygote_warm_up", None)
        if callable(warm_up):
            try:
                warm_up()
            except Exception as exc:  # noqa: BLE001 - only a cost saved: instances still work without it
                print(f"lambeam zygote: {name}.zygote_warm_up failed: {exc}", file=sys.stderr)
    # Objects that exist now are shared with every instance; keeping the collector's hands off
    # them keeps their pages shared instead of copied on the first collection in each instance.
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    _send(
        control,
        {"op": "ready", "pid": os.getpid(), "import_ms": (time.perf_counter() - started) * 1000},
    )

    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                try:
                    message, fds, _, _ = socket.recv_fds(control, _MAX_DATAGRAM, 4)
                except OSError:
                    os._exit(0)  # the engine has gone
                if not message:
                    os._exit(0)
                header, _ = decode_frame(message)
                if header.get("op") == "spawn":
                    _spawn(control, header, fds, closing=(control, selector, wake_r, wake_w))
                else:
                    for fd in fds:
                        os.close(fd)
            else:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(control)


def _spawn(
    control: socket.socket, header: dict[str, Any], fds: list[int], closing: tuple[Any, ...]
) -> None:
    token = header["token"]
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        _send(
            control, {"op": "spawn_failed", "token": token, "error": "expected 2 file descriptors"}
        )
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        _send(control, {"op": "spawn_failed", "token": token, "error": f"fork failed: {exc}"})
        return
    if pid == 0:
        _become_instance(fds, header["init"], header.get("cgroup") or [], closing)
    for fd in fds:
        os.close(fd)
    _send(control, {"op": "spawned", "token": token, "pid": pid})


def _become_instance(
    fds: list[int], init: dict[str, Any] | None, cgroup: list[str], closing: tuple[Any, ...]
) -> NoReturn:
    try:
        # Into the instance's cgroup leaf before anything else: whatever it starts is inside.
        for procs in cgroup:
            with open(procs, "w") as joined:
                joined.write("0")
        os.setsid()  # its own session and process group: all it starts is killed with it
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control, selector, wake_r, wake_w = closing
        selector.close()
        control.close()
        os.close(wake_r)
        os.close(wake_w)
        _die_with_parent()
        conn = socket.socket(fileno=fds[0])
        conn.setblocking(True)
        run_instance(conn, fds[1], init)
    except BaseException:  # noqa: BLE001 - a child must report and exit, never return
        import traceback

        traceback.print_exc()
    finally:
        os._exit(70)


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        report: dict[str, Any] = {"op": "exited", "pid": pid}
        if os.WIFSIGNALED(status):
            report["signal"] = os.WTERMSIG(status)
        else:
            report["exit_code"] = os.waitstatus_to_exitcode(status)
        _send(control, report)


def _send(control: socket.socket, header: dict[str, Any]) -> None:
    try:
        control.sendall(encode_frame(header))
    except OSError:
        os._exit(0)  # the engine has gone; the instances follow (PR_SET_PDEATHSIG)


if __name__ == "__main__":
    main(sys.argv[1:])

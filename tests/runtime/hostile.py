"""A hostile handler's source, shared by the isolation tests of the engine
(tests/runtime/test_isolation.py) and of a running server (tests/e2e/test_hostile_handler.py).

Each event names one attack (`do`); `attempt` answers whether it worked and what it got.
"""

from __future__ import annotations

HOSTILE = """
    import json, mmap, os, signal, subprocess, sys, time

    def attempt(what):
        try:
            return {"ok": True, "got": repr(what())[:4000]}
        except Exception as exc:
            return {"ok": False, "error": type(exc).__name__ + ": " + str(exc)[:200]}

    def read(path):
        with open(path, "rb") as handle:
            return handle.read(4000)

    def handler(event, context):
        do = event["do"]
        if do == "read":
            return attempt(lambda: read(event["path"]))
        if do == "list":
            return attempt(lambda: os.listdir(event["path"]))
        if do == "write":
            def write():
                with open(event["path"], "a") as handle:
                    handle.write("# tampered")
            return attempt(write)
        if do == "kill":
            return attempt(lambda: os.kill(event["pid"], event.get("signal", 0)))
        if do == "kill-parent":
            return attempt(lambda: os.kill(os.getppid(), signal.SIGKILL))
        if do == "tmp":
            def tmp():
                with open(os.path.join(os.environ["TMPDIR"], "mine.txt"), "w") as handle:
                    handle.write("mine")
                return os.environ["TMPDIR"], sorted(os.listdir(os.environ["TMPDIR"]))
            return attempt(tmp)
        if do == "children":
            started = []
            started.append(subprocess.Popen(["sleep", "300"]).pid)
            started.append(subprocess.Popen(["sleep", "301"], start_new_session=True).pid)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # a double fork into a new session
                os.setsid()
                grandchild = os.fork()
                if grandchild == 0:
                    time.sleep(302)
                    os._exit(0)
                os.write(write_end, str(grandchild).encode())
                os._exit(0)
            os.waitpid(pid, 0)
            started.append(int(os.read(read_end, 100)))
            print("PIDS " + json.dumps(started), flush=True)
            if event.get("hang"):
                time.sleep(60)
            return {"pids": started, "me": os.getpid()}
        if do == "print":
            line = "y" * 1023 + "\\n"
            for _ in range(event["mb"] * 1024):
                sys.stdout.write(line)
            return {"printed_mb": event["mb"]}
        if do == "child-memory":
            code = "b = bytearray(%d); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(5)"
            child = subprocess.Popen([sys.executable, "-c", code % (event["mb"] << 20)])
            child.wait()
            return {"child_exit": child.returncode}
        if do == "shared-map":
            size = event["mb"] << 20
            area = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
            for offset in range(0, size, 4096):
                area[offset] = 1
            return {"touched": size}
        if do == "fork-bomb":
            pids = []
            try:
                for _ in range(5000):
                    pid = os.fork()
                    if pid == 0:
                        time.sleep(30)
                        os._exit(0)
                    pids.append(pid)
            except OSError as exc:
                return {"forked": len(pids), "stopped_by": str(exc)}
            return {"forked": len(pids)}
        if do == "metadata":
            import asyncio, ctypes, socket, threading
            target = event["path"]
            libc = ctypes.CDLL(None, use_errno=True)
            def unshare():
                if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
                    raise PermissionError(ctypes.get_errno(), "unshare")
            def unix():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.connect("/run/lambeam-test-no-such.sock")
            def thread():
                found = []
                worker = threading.Thread(target=lambda: found.append(1))
                worker.start()
                worker.join()
                return found
            return {
                "chmod": attempt(lambda: os.chmod(target, 0o777)),
                "chown": attempt(lambda: os.chown(target, 0, 0)),
                "utime": attempt(lambda: os.utime(target, (0, 0))),
                "xattr": attempt(lambda: os.setxattr(target, "user.lambeam", b"x")),
                "unix_socket": attempt(unix),
                "unshare": attempt(unshare),
                "socketpair": attempt(lambda: [s.close() for s in socket.socketpair()]),
                "thread": attempt(thread),
                "asyncio": attempt(lambda: asyncio.run(asyncio.sleep(0, "ran"))),
                "subprocess": attempt(lambda: subprocess.run(["true"]).returncode),
            }
        if do == "caps":
            return {"uid": os.getuid(), "status": open("/proc/self/status").read()}
        return {"unknown": do}
"""

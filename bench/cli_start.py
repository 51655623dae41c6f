"""Benchmark: how long the serving CLI takes to start, in fresh subprocesses.

    .venv/bin/python bench/cli_start.py             # 3 runs of each, the median
    .venv/bin/python bench/cli_start.py --runs 5
    .venv/bin/python bench/cli_start.py --quick     # one run of each

Measures `lambeam --help`; `lambeam server` until it accepts a connection (listens) and until
/v1/health says `ready` (its zygote has imported the scientific stack); and `lambeam invoke` of a
small code function without a server (local: its own engine and zygote) and with one running
(it goes through that server). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LAMBEAM = [sys.executable, "-m", "lambeam"]
APP = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
FUNCTIONS = '\n[functions.hello]\ncode = "hello"\nhandler = "app.handler"\n'


def _run(root: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([*LAMBEAM, "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"lambeam {' '.join(args)} failed: {done.stderr}")
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as answer:
            return json.loads(answer.read()).get("status") in ("ok", "ready")
    except OSError:
        return False


def _server(root: Path) -> tuple[float, float, subprocess.Popen[bytes], int]:
    """Start `lambeam server`; seconds to listen, seconds to ready, the process and its port."""
    port = _free_port()
    start = time.perf_counter()
    process = subprocess.Popen(
        [*LAMBEAM, "-C", str(root), "server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not _listens(port):
        if process.poll() is not None or time.perf_counter() - start > 300:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    listens = time.perf_counter() - start
    while not _ready(port):
        time.sleep(0.01)
    return listens, time.perf_counter() - start, process, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of each (under a minute)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    figures: dict[str, list[float]] = {
        "help_s": [],
        "server_listens_s": [],
        "server_ready_s": [],
        "invoke_local_s": [],
        "invoke_via_server_s": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "proj"
        subprocess.run([*LAMBEAM, "init", str(root)], check=True, capture_output=True)
        (root / "hello").mkdir()
        (root / "hello" / "app.py").write_text(APP)
        with open(root / "lambeam.toml", "a", encoding="utf-8") as config:
            config.write(FUNCTIONS)
        _run(root, "deploy", "hello")
        for _ in range(args.runs):
            figures["help_s"].append(_run(root, "--help"))
            figures["invoke_local_s"].append(_run(root, "invoke", "hello"))
            listens, ready, process, _port = _server(root)
            figures["server_listens_s"].append(listens)
            figures["server_ready_s"].append(ready)
            try:
                _run(root, "invoke", "hello")  # the instance's cold start, paid once
                figures["invoke_via_server_s"].append(_run(root, "invoke", "hello"))
            finally:
                process.terminate()
                process.wait(60)
    medians = {name: round(statistics.median(values), 3) for name, values in figures.items()}
    for name, value in medians.items():
        print(f"{name:22} {value:7.3f} s  (runs: {', '.join(f'{v:.2f}' for v in figures[name])})")
    print(json.dumps({"cpus": os.cpu_count(), **medians}))


if __name__ == "__main__":
    main()

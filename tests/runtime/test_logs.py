"""Each invocation's output, under its request id, framed by START/END/REPORT; the file sink."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

from lambeam.runtime import Engine, FileLogSink
from lambeam.runtime.process import LOG_CAP
from tests.runtime.conftest import LoopThread, make_function

CHATTY = """
    import logging, os, sys

    print("loading the module")
    logger = logging.getLogger("app")

    def handler(event, context):
        print("to stdout", event["n"])
        sys.stderr.write("to stderr\\n")
        os.write(1, b"c-level fd 1\\n")
        os.write(2, b"c-level fd 2\\n")
        logger.warning("a warning %d", event["n"])
        return event["n"]
"""

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
    r"\tMemory Size: 512 MB\tMax Memory Used: \d+ MB(?P<init>\tInit Duration: \d+\.\d\d ms)?$"
)


def _framed(log: str, request_id: str) -> list[str]:
    """The lines between START and END, checking the frame around them."""
    lines = log.splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    end = lines.index(f"END RequestId: {request_id}")
    assert REPORT.match(lines[end + 1]).group("id") == request_id  # type: ignore[union-attr]
    assert end + 2 == len(lines)
    return lines[start + 1 : end]


def test_output_of_every_kind_is_captured_under_its_request_id(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, CHATTY)
    cold = loop.run(engine.invoke(spec, b'{"n": 1}', request_id="req-cold"))
    warm = loop.run(engine.invoke(spec, b'{"n": 2}', request_id="req-warm"))
    assert cold.payload == b"1" and warm.payload == b"2"

    assert cold.log_tail.splitlines()[0] == "loading the module"  # init output, before START
    body = _framed(cold.log_tail, "req-cold")
    assert body[:4] == ["to stdout 1", "to stderr", "c-level fd 1", "c-level fd 2"]
    assert re.fullmatch(
        r"\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-cold\ta warning 1", body[4]
    )
    assert len(body) == 5

    assert warm.log_tail.startswith("START RequestId: req-warm")
    body = _framed(warm.log_tail, "req-warm")
    assert body[0] == "to stdout 2" and body[4].endswith("\treq-warm\ta warning 2")
    assert "req-cold" not in warm.log_tail


def test_init_duration_only_on_a_cold_start_and_warm_instances_are_reused(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, CHATTY)
    results = [loop.run(engine.invoke(spec, b'{"n": 0}')) for _ in range(3)]
    reports = [REPORT.match(r.log_tail.splitlines()[-1]) for r in results]
    assert reports[0] is not None and reports[0].group("init")
    assert results[0].init_ms is not None and results[0].init_ms > 0
    for result, report in zip(results[1:], reports[1:], strict=False):
        assert report is not None and report.group("init") is None
        assert result.init_ms is None
        assert result.instance_pid == results[0].instance_pid
    assert len(engine.instances(spec.name)) == 1


def test_the_file_sink_keeps_every_invocation_and_can_be_followed(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, CHATTY)
    sink = engine.log_sink
    assert isinstance(sink, FileLogSink)
    first = loop.run(engine.invoke(spec, b'{"n": 1}'))
    assert list(sink.read(spec.name)) == first.log_tail.splitlines(keepends=True)

    seen: list[str] = []
    done = threading.Event()
    give_up = time.monotonic() + 60

    def follow() -> None:
        for line in sink.read(
            spec.name,
            follow=True,
            stop=lambda: done.is_set() or time.monotonic() > give_up,
            poll_s=0.02,
        ):
            seen.append(line)
            if line.startswith("REPORT") and len([s for s in seen if s.startswith("REPORT")]) == 2:
                done.set()

    reader = threading.Thread(target=follow)
    reader.start()
    second = loop.run(engine.invoke(spec, b'{"n": 2}'))
    reader.join(70)
    assert done.is_set()
    assert "".join(seen) == first.log_tail + second.log_tail
    assert sink.path(spec.name) == Path(engine.state_dir) / "logs" / f"{spec.name}.log"


def test_the_follow_reader_stops_when_told(tmp_path: Path) -> None:
    sink = FileLogSink(tmp_path)
    sink.write("quiet", "one\ntwo")
    polls: list[float] = []
    lines = list(sink.read("quiet", follow=True, stop=lambda: len(polls) >= 3, sleep=polls.append))
    assert lines == ["one\n"]  # the unfinished line waits for its newline
    assert polls == [0.1, 0.1, 0.1]
    assert list(sink.read("quiet")) == ["one\n", "two"]


def _invocation_log(n: int) -> str:
    return f"START RequestId: r{n}\nline {n}\nEND RequestId: r{n}\n"


def test_a_log_past_its_size_is_rotated_and_the_oldest_dropped(tmp_path: Path) -> None:
    sink = FileLogSink(tmp_path, max_bytes=200, backups=2)
    texts = [_invocation_log(n) for n in range(40)]
    for text in texts:
        sink.write("busy", text)
    sink.close()
    files = sorted(p.name for p in tmp_path.glob("busy.log*"))
    assert files == ["busy.log", "busy.log.1", "busy.log.2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.glob("busy.log*"))
    kept = "".join(sink.read("busy"))
    # The newest invocations, oldest first and whole: rotation never splits one's log.
    assert texts[-1] in kept and texts[0] not in kept
    assert kept == "".join(texts[len(texts) - kept.count("START") :])


def test_the_follow_reader_carries_on_across_a_rotation(tmp_path: Path) -> None:
    sink = FileLogSink(tmp_path, max_bytes=120, backups=1)
    texts = [_invocation_log(n) for n in range(12)]
    sink.write("busy", texts[0])
    seen: list[str] = []
    polls: list[float] = []
    written = iter(texts[1:])

    def write_more(seconds: float) -> None:  # the reader's pause between polls
        polls.append(seconds)
        text = next(written, None)
        if text is not None:
            sink.write("busy", text)

    def stop() -> bool:  # every line is in, or far more polls than writes
        return len(seen) >= 3 * len(texts) or len(polls) > 3 * len(texts)

    for line in sink.read("busy", follow=True, stop=stop, sleep=write_more):
        seen.append(line)
    assert "".join(seen) == "".join(texts)  # every line once, in order, through 5 rotations


def test_two_writers_of_one_log_rotate_it_together(tmp_path: Path) -> None:
    # A server and a CLI `lambeam invoke` write the same function's log: each is its own sink.
    # Whoever rotates, the other writes on in the new file, and nothing is lost or reordered.
    server, cli = FileLogSink(tmp_path, max_bytes=300), FileLogSink(tmp_path, max_bytes=300)
    texts = [_invocation_log(n) for n in range(30)]
    for n, text in enumerate(texts):
        (server if n % 3 else cli).write("shared", text)
    server.close()
    cli.close()
    kept = "".join(server.read("shared"))
    assert kept == "".join(texts[len(texts) - kept.count("START") :])
    assert kept.count("START") >= 12  # 3 backups and the current file, each past 200 bytes
    assert all(p.stat().st_size <= 300 for p in tmp_path.glob("shared.log*"))


def test_a_rotation_while_the_reader_starts_skips_nothing(tmp_path: Path) -> None:
    # The reader lists the rotated files, then reads them: a writer that would rotate in
    # between (forced here, right after the listing) waits until the reader has them all open.
    writer, reader = FileLogSink(tmp_path, max_bytes=300), FileLogSink(tmp_path, max_bytes=300)
    texts = [_invocation_log(n) for n in range(20)]
    for text in texts:
        writer.write("shared", text)
    big = "START RequestId: big\n" + "x" * 250 + "\nEND RequestId: big\n"  # it must rotate
    late = threading.Thread(target=writer.write, args=("shared", big))
    listing = reader.rotated
    held: list[bool] = []

    def listed_then_rotated(name: str) -> list[Path]:
        found = listing(name)
        late.start()
        late.join(0.5)
        held.append(late.is_alive())  # the writer is kept waiting
        return found

    reader.rotated = listed_then_rotated  # type: ignore[method-assign]
    kept = "".join(reader.read("shared"))
    late.join(10)
    assert held == [True]
    # What was there when the reader started, whole and in order; the late write after it, if
    # the reader got to the rotated latest file after the writer (it follows a rotation).
    body = kept.removesuffix(big)
    assert "big" not in body and body.count("START") >= 10
    assert body == "".join(texts[-body.count("START") :])
    assert "".join(writer.read("shared")).endswith(big)


def test_a_writer_goes_on_locking_after_its_folder_is_replaced(tmp_path: Path) -> None:
    # The logs folder removed and made again (by hand, or a test's cleanup): the writer's next
    # write lands in the new folder, under the new folder's lock, which others then see held.
    import fcntl
    import shutil

    folder = tmp_path / "logs"
    sink = FileLogSink(folder)
    sink.write("f", _invocation_log(0))
    shutil.rmtree(folder)
    folder.mkdir()
    lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        late = threading.Thread(target=sink.write, args=("f", _invocation_log(1)))
        late.start()
        late.join(0.5)
        assert late.is_alive()  # held off by the new folder's lock
        fcntl.flock(lock, fcntl.LOCK_UN)
        late.join(10)
    finally:
        os.close(lock)
    sink.close()
    assert list(sink.read("f")) == _invocation_log(1).splitlines(keepends=True)


FLOOD = """
    import sys

    def handler(event, context):
        line = "x" * 1023 + "\\n"
        for _ in range(event["mb"] * 1024):
            sys.stdout.write(line)
        return "done"
"""


def test_an_invocations_output_is_cut_at_its_cap_and_says_so(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, FLOOD, timeout_s=60.0)
    result = loop.run(engine.invoke(spec, b'{"mb": 40}'), timeout=120)
    assert result.function_error is None and json.loads(result.payload) == "done"
    assert "output truncated: the first 1 MiB were kept" in result.log_tail
    dropped = int(result.log_tail.split(" MiB were kept, ")[1].split()[0])
    assert dropped == 40 * 1024 * 1024 - LOG_CAP
    assert len(result.log_tail) < LOG_CAP + 4096
    log_file = engine.state_dir / "logs" / f"{spec.name}.log"
    assert log_file.stat().st_size < LOG_CAP + 4096

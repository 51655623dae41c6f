"""Framing and memory accounting, the two pure pieces under the engine."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from lambeam.runtime.limits import MemorySample, read_memory, read_own_memory
from lambeam.runtime.protocol import ProtocolError, decode_frame, encode_frame, recv_frame


def test_frames_carry_a_json_header_and_raw_bytes() -> None:
    payload = bytes(range(256)) * 1000
    frame = encode_frame({"op": "result", "n": 1}, payload)
    assert decode_frame(frame) == ({"op": "result", "n": 1}, payload)
    left, right = socket.socketpair()

    def send() -> None:  # larger than the socket buffer: read while it is written
        left.sendall(frame + encode_frame({"op": "empty"}))
        left.shutdown(socket.SHUT_WR)

    with left, right:
        writer = threading.Thread(target=send)
        writer.start()
        assert recv_frame(right) == ({"op": "result", "n": 1}, payload)
        assert recv_frame(right) == ({"op": "empty"}, b"")
        assert recv_frame(right) is None
        writer.join()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00",
        struct.pack("!II", 2, 0) + b"[]",
        struct.pack("!II", 3, 0) + b"{x}",
        struct.pack("!II", 2, 5) + b"{}abc",
        struct.pack("!II", 1 << 30, 0),
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(data)


def test_a_frame_cut_short_is_an_error_not_an_end() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(encode_frame({"op": "x"}, b"12345")[:-2])
        left.shutdown(socket.SHUT_WR)
        with pytest.raises(ProtocolError):
            recv_frame(right)


def test_memory_is_charged_from_the_fork_and_peaks_are_kept() -> None:
    # 100 MiB anonymous at fork; now 150 MiB anonymous, 40 MiB of files
    now = MemorySample(
        rss_anon_kb=150 << 10, rss_file_kb=40 << 10, rss_shmem_kb=0, hwm_kb=190 << 10
    )
    assert now.charged_kb(100 << 10) == 50 << 10
    # after a 300 MiB peak was freed again, VmHWM still shows it
    freed = MemorySample(
        rss_anon_kb=110 << 10, rss_file_kb=40 << 10, rss_shmem_kb=0, hwm_kb=440 << 10
    )
    assert freed.charged_kb(100 << 10) == 300 << 10
    # file pages faulted back in after the fork are not charged
    files = MemorySample(
        rss_anon_kb=100 << 10, rss_file_kb=90 << 10, rss_shmem_kb=0, hwm_kb=190 << 10
    )
    assert files.charged_kb(100 << 10) == 0


def test_memory_is_read_from_proc() -> None:
    sample = read_memory()
    assert sample is not None and sample.rss_anon_kb > 0 and sample.hwm_kb > 0
    assert read_memory(2**22 + 12345) is None


def test_an_instances_own_reading_charges_what_proc_status_would() -> None:
    grown = bytearray(64 << 20)  # 64 MiB, touched
    grown[::4096] = b"x" * len(range(0, len(grown), 4096))
    full, own = read_memory(), read_own_memory()
    assert full is not None
    base = full.rss_anon_kb - (64 << 10)
    # The two are read a moment apart; a few pages may differ, never the 64 MiB.
    assert abs(own.charged_kb(base) - full.charged_kb(base)) < 2048
    assert own.charged_kb(base) >= (60 << 10) and own.hwm_kb >= own.rss_anon_kb
    del grown

"""The durable queue's contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from lambeam.events import DeadLetter, MessageQueue, Outgoing
from lambeam.storage import Database


class Clock:
    """Epoch seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(database_url: str, clock: Clock) -> Iterator[MessageQueue]:
    db = Database(database_url)
    yield MessageQueue(db, clock=clock)
    db.dispose()


def _send(queue: MessageQueue, n: int, name: str = "q") -> list[str]:
    return queue.send(name, [Outgoing(f"m{i}".encode(), {"i": i}) for i in range(n)])


def test_send_receive_delete_keeps_every_message_accounted_for(queue: MessageQueue) -> None:
    ids = _send(queue, 25)
    assert len(set(ids)) == 25
    first = queue.receive("q", 10, 30)
    assert len({m.id for m in first}) == 10  # standard queues: order is best effort, as in SQS
    assert all(m.receive_count == 1 and m.body == f"m{m.attributes['i']}".encode() for m in first)
    deleted = queue.delete([m.receipt for m in first[:4]])
    assert deleted == [True] * 4
    dead = queue.dead_letter([m.receipt for m in first[4:6]], "q-dlq")
    assert dead == [True, True]
    counts, dlq = queue.counts("q"), queue.counts("q-dlq")
    # enqueued = visible + in flight + deleted + dead
    assert (counts.visible, counts.in_flight, counts.delayed) == (15, 4, 0)
    assert dlq.visible == 2
    assert counts.visible + counts.in_flight + sum(deleted) + dlq.total == 25


def test_a_lapsed_lease_cannot_settle_what_another_consumer_holds(
    queue: MessageQueue, clock: Clock
) -> None:
    _send(queue, 1)
    (first,) = queue.receive("q", 1, 30)
    assert queue.receive("q", 1, 30) == []  # hidden while leased
    clock.now += 31
    (second,) = queue.receive("q", 1, 30)
    assert second.id == first.id and second.receive_count == 2 and second.lease != first.lease
    assert queue.delete([first.receipt]) == [False]
    assert queue.change_visibility([first.receipt], 0) == [False]
    assert queue.release([first.receipt]) == [False]
    assert queue.dead_letter([first.receipt], "dlq") == [False]
    assert queue.counts("q").in_flight == 1
    assert queue.delete([second.receipt]) == [True]
    assert queue.delete([second.receipt]) == [False]  # gone
    assert queue.counts("q").total == 0


def test_delay_visibility_change_and_release(queue: MessageQueue, clock: Clock) -> None:
    queue.send("q", [Outgoing(b"later", delay_s=10), Outgoing(b"now")])
    assert queue.counts("q").delayed == 1
    (now,) = queue.receive("q", 10, 30)
    assert now.body == b"now"
    assert queue.change_visibility([now.receipt], 0) == [True]
    (again,) = queue.receive("q", 10, 30)  # visible at once; "later" still delayed
    assert again.id == now.id and again.receive_count == 2
    assert queue.release([again.receipt], delay_s=5) == [True]
    assert queue.delete([again.receipt]) == [False]  # released: the lease ended
    clock.now += 10
    assert sorted(m.body for m in queue.receive("q", 10, 30)) == [b"later", b"now"]


def test_past_max_receive_count_a_message_moves_to_the_dead_letter_queue(
    queue: MessageQueue, clock: Clock
) -> None:
    _send(queue, 3)
    redrive = DeadLetter("dlq", max_receive_count=2)
    for _ in range(2):
        assert len(queue.receive("q", 10, 5, dead_letter=redrive)) == 3
        clock.now += 6
    assert queue.receive("q", 10, 5, dead_letter=redrive) == []
    assert queue.counts("q").total == 0
    moved = queue.receive("dlq", 10, 5)
    assert sorted(m.body for m in moved) == [b"m0", b"m1", b"m2"]
    assert all(m.receive_count == 3 for m in moved)  # SQS counts receives across queues
    assert all(m.first_received_at == 1_800_000_000.0 for m in moved)


def test_concurrent_consumers_never_share_a_lease(queue: MessageQueue) -> None:
    ids = _send(queue, 300)
    got: list[list[str]] = [[] for _ in range(4)]

    def consume(slot: int) -> None:
        for _ in range(200):
            batch = queue.receive("q", 7, 300)
            if not batch:
                return
            got[slot] += [m.id for m in batch]
            assert all(queue.delete([m.receipt for m in batch]))

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [i for slot in got for i in slot]
    assert sorted(everything) == sorted(ids)  # each exactly once
    assert queue.counts("q").total == 0


def test_purge_expire_peek_take_and_queues_stay_apart(queue: MessageQueue, clock: Clock) -> None:
    _send(queue, 3, "a")
    clock.now += 100
    ids_b = _send(queue, 2, "b")
    assert sorted(m["body"] for m in queue.peek("b")) == [b"m0", b"m1"]
    assert queue.expire("a", retention_s=50) == 3
    assert queue.expire("b", retention_s=50) == 0
    taken = queue.take("b", [ids_b[1], "missing"])
    assert [m["id"] for m in taken] == [ids_b[1]]
    _send(queue, 4, "a")
    assert queue.purge("a") == 4
    assert (queue.counts("a").total, queue.counts("b").total) == (0, 1)


def test_send_many_and_also_commit_together(queue: MessageQueue) -> None:
    from sqlalchemy import text

    def fail(connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        queue.send("q", [Outgoing(b"x")], also=fail)
    assert queue.counts("q").total == 0  # nothing half-written
    queue.send_many([("a", Outgoing(b"1")), ("b", Outgoing(b"2", id="fixed-id"))])
    assert queue.peek("b")[0]["id"] == "fixed-id"

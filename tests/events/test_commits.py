"""Group commit: concurrent items are written together, and one bad item fails only its caller."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from lambeam.events.commits import GroupCommit


def test_concurrent_items_share_writes_and_a_bad_one_fails_alone() -> None:
    groups: list[list[int]] = []
    first_write = threading.Event()

    def flush(items: Sequence[int]) -> None:
        if 13 in items:
            raise ValueError("13 is refused")
        groups.append(list(items))
        first_write.wait(5)  # hold the first write, so that the others gather behind it

    commit: GroupCommit[int] = GroupCommit(flush)

    async def main() -> list[object]:
        first = asyncio.create_task(commit.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(commit.submit(i)) for i in range(1, 20)]
        await asyncio.sleep(0)
        assert commit.waiting == 20  # submitted, none written yet
        first_write.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(main())
    assert commit.waiting == 0
    failed = [i for i, result in enumerate(results) if isinstance(result, Exception)]
    assert failed == [13] and "13 is refused" in str(results[13])
    written = sorted(i for group in groups for i in group)
    assert written == [i for i in range(20) if i != 13]
    # 0 alone, then 1-19 together (refused because of 13), then each of those on its own
    assert groups[0] == [0] and len(groups) == 1 + 18


def test_a_caller_that_goes_away_does_not_undo_its_item() -> None:
    written: list[int] = []
    gate = threading.Event()

    def flush(items: Sequence[int]) -> None:
        gate.wait(5)
        written.extend(items)

    commit: GroupCommit[int] = GroupCommit(flush)

    async def main() -> None:
        task = asyncio.create_task(commit.submit(7))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        while commit.waiting:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert written == [7]

"""The serving benchmark's memory figures, read from /proc: the gateway's process tree.

The gateway's child running `python -m lambeam.runtime.zygote` is the zygote; the zygote's children
are function instances. An instance's USS (Private_Clean + Private_Dirty) is what it holds beyond
the pages it shares with the zygote; the tree's PSS counts each shared page once in all.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["smaps", "tree_pss_mb", "uss_mb", "zygote_and_instances"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def smaps(pid: int) -> dict[str, int]:
    """smaps_rollup's figures in kB (empty if the process is gone)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        return {}
    return values


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def zygote_and_instances(gateway_pid: int) -> tuple[int | None, list[int]]:
    """The zygote under the gateway (None if there is none) and its instances."""
    tree = _children()
    zygotes = [p for p in tree.get(gateway_pid, []) if "lambeam.runtime.zygote" in _cmdline(p)]
    if not zygotes:
        return None, []
    return zygotes[0], tree.get(zygotes[0], [])


def tree_pss_mb(gateway_pid: int) -> float:
    """The proportional set size of the gateway and every process under it, in MB."""
    return sum(smaps(pid).get("Pss", 0) for pid in _descendants(gateway_pid)) / 1024


def uss_mb(pid: int) -> float:
    """Memory only this process holds, in MB."""
    values = smaps(pid)
    return (values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)) / 1024

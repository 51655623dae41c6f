"""Directories written once and renamed into place: a reader never sees half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_once"]


def write_once(final: Path, fill: Callable[[Path], None]) -> Path:
    """`final`, filled by `fill(scratch)` in a scratch directory beside it and renamed into place.

    An existing `final` is returned as it is. When two processes race to write the same
    directory, both end up with one complete copy; a failed fill leaves nothing behind.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name[:12]}-"))
    try:
        fill(scratch)
        try:
            os.rename(scratch, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(scratch, ignore_errors=True)  # another process wrote it first
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return final

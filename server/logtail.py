"""The last lines of a log file, read backwards from its end."""

from __future__ import annotations

import os
from pathlib import Path

_BLOCK = 64 * 1024


def read_last_lines(path: Path, count: int) -> str:
    """Return the last ``count`` lines of ``path`` (all of them if it is shorter).

    Reads fixed-size blocks from the end until enough newlines are seen, so the
    cost depends on ``count``, not on the size of the file.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return ""
    with handle:
        position = handle.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        newlines = 0
        while position > 0 and newlines <= count:
            size = min(_BLOCK, position)
            position -= size
            handle.seek(position)
            block = handle.read(size)
            blocks.append(block)
            newlines += block.count(b"\n")
    data = b"".join(reversed(blocks))
    lines = data.splitlines(keepends=True)[-count:]
    return b"".join(lines).decode("utf-8", errors="replace")

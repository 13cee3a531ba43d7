"""Cut a JSON Lines file into byte ranges that processes read on their own, each line read by exactly one of them.

A line belongs to the range that holds its first byte: a reader skips the line its range starts inside (the previous
range reads it to its end) and reads past its own end to finish its last line. The ranges themselves are plain byte
offsets, so cutting a file costs nothing, and the lines of the ranges, in range order, are the lines of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

READ_BUFFER = 1 << 20  # bytes per read(2): lines are iterated from a buffer this size


def byte_ranges(size: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``size`` bytes into ``parts`` consecutive ``(start, end)`` ranges of about equal size (none empty)."""
    parts = max(1, min(parts, size))
    return [(size * k // parts, size * (k + 1) // parts) for k in range(parts)]


def read_lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    """Yield, with their line ends, the lines of a plain file whose first byte lies in ``[start, end)``."""
    with open(path, "rb", buffering=READ_BUFFER) as fh:
        position = start
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                position += len(fh.readline())  # this line began in the previous range, which reads it
        for line in fh:
            if position >= end:
                return
            yield line
            position += len(line)

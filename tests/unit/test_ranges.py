"""Byte ranges of a file: every line is read by exactly one range, in order, whatever the cuts."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import ranges

LINE = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from([b"", b"\r", b"{}"])
ENDING = st.sampled_from([b"\n", b"\r\n"])


def _lines_by_range(path: Path, parts: int) -> list[bytes]:
    return [
        line
        for start, end in ranges.byte_ranges(path.stat().st_size, parts)
        for line in ranges.read_lines(path, start, end)
    ]


def _sequential(content: bytes) -> list[bytes]:
    """The lines one pass over the file reads (split on ``\\n`` only, a lone ``\\r`` stays in its line)."""
    return io.BytesIO(content).readlines()


@settings(max_examples=300, deadline=None, database=None)
@given(
    lines=st.lists(st.tuples(LINE, ENDING), max_size=20),
    last=LINE,  # the final line, without a line end (empty: the file ends with one)
    parts=st.integers(min_value=1, max_value=40),
)
def test_ranges_read_every_line_once_in_order(lines: list[tuple[bytes, bytes]], last: bytes, parts: int) -> None:
    content = b"".join(text + end for text, end in lines) + last
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        path.write_bytes(content)
        assert _lines_by_range(path, parts) == _sequential(content)


def test_every_cut_point_of_a_small_file() -> None:
    content = b'{"a":1}\r\n\n\n{"b":"x\\ny"}\n{"c":[1,2,3]}'
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        path.write_bytes(content)
        expected = _sequential(content)
        assert len(expected) == 5
        for cut in range(len(content) + 1):  # two ranges, cut at every byte, including on line starts and ends
            got = [*ranges.read_lines(path, 0, cut), *ranges.read_lines(path, cut, len(content))]
            assert got == expected, cut


def test_byte_ranges_cover_the_file_without_empty_ranges() -> None:
    assert ranges.byte_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert ranges.byte_ranges(2, 5) == [(0, 1), (1, 2)]
    assert ranges.byte_ranges(0, 4) == [(0, 0)]

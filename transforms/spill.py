"""Building blocks for work in bounded memory: Arrow columns grown in one buffer, out-of-core sorts in DuckDB.

Holding many small results of ``orjson.dumps`` costs far more than their length (about 8 KB each was measured:
the allocator cannot reuse the space each one shrank from), so a column copies each value into one buffer and drops
it at once. Building the Arrow array from that buffer also avoids ``pa.array`` on Python objects, whose first call
imports pandas.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# DuckDB's memory limit for a sort, past which it spills to disk; one thread, since two needed more memory for the
# same sort and were no faster on two busy cores (4.5M releases: 512 MB and one thread sorted in 82 s, 624 MB peak).
SORT_MEMORY = "512MB"
SORTED_ROW_GROUP = 20_000  # rows per row group of a sorted intermediate file: one group is read at a time


class BytesColumn:
    """A string or binary Arrow column filled one value at a time."""

    def __init__(self, kind: pa.DataType) -> None:
        self.kind = kind
        self.data = bytearray()
        self.offsets = array.array("q", [0])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def append(self, value: bytes) -> None:
        """Add one value (UTF-8 bytes for a string column)."""
        self.data += value
        self.offsets.append(len(self.data))

    def take(self) -> pa.Array:
        """Return the values as an Arrow array (``large_`` offsets, cast as needed) and start again empty."""
        large = pa.large_binary() if pa.types.is_binary(self.kind) else pa.large_string()
        column = pa.Array.from_buffers(
            large, len(self), [None, pa.py_buffer(self.offsets), pa.py_buffer(bytes(self.data))]
        )
        self.data, self.offsets = bytearray(), array.array("q", [0])
        return column.cast(self.kind)


def float_column(values: array.array[float]) -> pa.Array:
    """Return a float64 Arrow array over an ``array('d')``."""
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def int_column(values: array.array[int]) -> pa.Array:
    """Return an int64 Arrow array over an ``array('q')``."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def sorting_connection(temp_dir: Path, memory: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB that sorts on one thread and spills to ``temp_dir`` past ``memory``."""
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [memory or SORT_MEMORY])
    con.execute("SET temp_directory = ?", [str(temp_dir)])
    con.execute("SET threads = 1")
    con.execute("SET enable_progress_bar = false")
    return con


def sorted_batches(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any], folder: Path, rows: int
) -> Iterator[pa.RecordBatch]:
    """Run a sorting query into a Parquet file in ``folder``, then yield its rows in batches of at most ``rows``.

    DuckDB's COPY streams a sort of any size out of core under the memory limit. Read through an Arrow reader
    instead, the same sort of wide rows ran out of memory (4.5M releases with 512 MB).
    """
    target = folder / "sorted.parquet"
    copy = f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {SORTED_ROW_GROUP})"
    con.execute(copy, [*params, str(target)])
    try:
        yield from pq.ParquetFile(target).iter_batches(batch_size=rows)
    finally:
        target.unlink()


def exact_batches(batches: Iterable[pa.RecordBatch], rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Regroup batches into tables of exactly ``rows`` rows (the last one may be shorter), one chunk per column.

    Parquet row groups written from them then do not depend on how the producer happened to cut its batches.
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending).cast(schema)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).cast(schema).combine_chunks()

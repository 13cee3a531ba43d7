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

import duckdb
import pyarrow as pa

SORT_MEMORY = "256MB"  # DuckDB's memory limit for a sort: past it, the sort spills to disk


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
    """Open an in-memory DuckDB that spills to ``temp_dir`` past ``memory`` (default ``SORT_MEMORY``)."""
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [memory or SORT_MEMORY])
    con.execute("SET temp_directory = ?", [str(temp_dir)])
    return con


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

"""Building blocks for work in bounded memory: Arrow columns grown in one buffer, an external merge sort.

Holding many small results of ``orjson.dumps`` costs far more than their length (about 8 KB each was measured:
the allocator cannot reuse the space each one shrank from), so a column copies each value into one buffer and drops
it at once. Building the Arrow array from that buffer also avoids ``pa.array`` on Python objects, whose first call
imports pandas.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# DuckDB's memory limit for the joins and groups that feed a sort, past which it spills to disk.
SORT_MEMORY = "512MB"
RUN_BYTES = 128 << 20  # Arrow bytes per sorted run of an external sort
MERGE_ROWS = 2_048  # rows per run held while merging (and per row group of a run file)
_ROW = "__input_position"  # tie-breaker added to every run


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
    """Open an in-memory DuckDB on one thread that spills to ``temp_dir`` past ``memory`` (for joins and groups)."""
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [memory or SORT_MEMORY])
    con.execute("SET temp_directory = ?", [str(temp_dir)])
    con.execute("SET threads = 1")
    con.execute("SET enable_progress_bar = false")
    return con


def external_sort(
    batches: Iterable[pa.RecordBatch], keys: list[str], folder: Path, run_bytes: int = RUN_BYTES
) -> Iterator[pa.RecordBatch]:
    """Yield the rows of ``batches`` sorted by ``keys`` (ascending, ties in input order), in batches of any size.

    A merge sort on disk: sorted runs of about ``run_bytes`` are written to ``folder`` as they fill, then merged a
    few thousand rows per run at a time, so memory holds one run while sorting and one batch per run while merging,
    whatever the input size. Key values must not be null. DuckDB's own ORDER BY ran out of memory on wide rows (6M
    releases under a 512 MB limit); this holds at any size.
    """
    runs = _sorted_runs(batches, keys, folder, run_bytes)
    try:
        for table in _merged(runs, [*keys, _ROW]):
            yield from table.to_batches()
    finally:
        for run in runs:
            run.unlink(missing_ok=True)


def _sorted_runs(batches: Iterable[pa.RecordBatch], keys: list[str], folder: Path, run_bytes: int) -> list[Path]:
    """Write ``batches`` as sorted runs (each with its rows' input positions, ``_ROW``); return their paths."""
    runs: list[Path] = []
    pending: list[pa.RecordBatch] = []
    held = position = 0

    def flush() -> None:
        nonlocal pending, held, position
        table = pa.Table.from_batches(pending)
        rows = pa.array(range(position, position + table.num_rows), pa.int64())
        position += table.num_rows
        table = table.append_column(_ROW, rows).sort_by([(key, "ascending") for key in [*keys, _ROW]])
        runs.append(folder / f"run-{len(runs):05d}.parquet")
        pq.write_table(table, runs[-1], row_group_size=MERGE_ROWS, compression="zstd")
        pending, held = [], 0

    for batch in batches:
        if batch.num_rows:
            pending.append(batch)
            held += batch.nbytes
        if held >= run_bytes:
            flush()
    if pending:
        flush()
    return runs


class _Run:
    """One sorted run being merged: its current batch and that batch's sort keys."""

    def __init__(self, path: Path, keys: list[str]) -> None:
        self.batches = pq.ParquetFile(path).iter_batches(batch_size=MERGE_ROWS)
        self.names = keys
        self.table: pa.Table | None = None
        self.keys: list[tuple[Any, ...]] = []
        self.advance(0)

    def advance(self, taken: int) -> None:
        """Drop the first ``taken`` rows; read the next batch when none is left."""
        if self.table is not None and taken < self.table.num_rows:
            self.table, self.keys = self.table.slice(taken), self.keys[taken:]
            return
        batch = next(self.batches, None)
        self.table = None if batch is None else pa.Table.from_batches([batch])
        self.keys = [] if batch is None else list(zip(*(batch.column(k).to_pylist() for k in self.names), strict=True))


def _merged(runs: list[Path], keys: list[str]) -> Iterator[pa.Table]:
    """Merge sorted runs whose ``keys`` are unique: each round emits every held row up to the least last key."""
    active = [_Run(path, keys) for path in runs]
    active = [run for run in active if run.table is not None]
    order = [(key, "ascending") for key in keys]
    while active:
        bound = min(run.keys[-1] for run in active)
        parts = []
        for run in active:
            taken = bisect.bisect_right(run.keys, bound)
            if taken:
                assert run.table is not None
                parts.append(run.table.slice(0, taken))
                run.advance(taken)
        yield pa.concat_tables(parts).sort_by(order).drop_columns([_ROW])
        active = [run for run in active if run.table is not None]


def exact_batches(batches: Iterable[pa.RecordBatch], rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Regroup batches into tables of ``schema`` (its columns, in its order) of exactly ``rows`` rows (the last one
    may be shorter), one chunk per column.

    Parquet row groups written from them then do not depend on how the producer happened to cut its batches.
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.extend(pa.Table.from_batches([batch]).select(schema.names).cast(schema).to_batches())
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending, schema)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending, schema).combine_chunks()

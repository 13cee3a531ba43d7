"""The external merge sort: equal to a stable in-memory sort, whatever the runs and batches."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import spill

ROWS = st.lists(
    st.tuples(st.text("abc", max_size=3), st.integers(-3, 3), st.binary(max_size=40)), min_size=0, max_size=300
)


def _batches(rows: list[tuple[str, int, bytes]], size: int) -> list[pa.RecordBatch]:
    schema = pa.schema([("key", pa.string()), ("number", pa.int64()), ("payload", pa.binary())])
    table = pa.table(list(map(list, zip(*rows, strict=True))) if rows else [[], [], []], schema=schema)
    return table.to_batches(max_chunksize=size)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, batch=st.integers(1, 50), run_bytes=st.sampled_from([1, 200, 2_000, 1 << 20]))
def test_external_sort_equals_a_stable_sort(rows: list[tuple[str, int, bytes]], batch: int, run_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        merged = spill.external_sort(_batches(rows, batch), ["key", "number"], Path(tmp), run_bytes=run_bytes)
        got = [row for b in merged for row in zip(*(b.column(n).to_pylist() for n in b.schema.names), strict=True)]
        assert not list(Path(tmp).iterdir())  # the runs are removed
    assert got == sorted(rows, key=lambda row: (row[0], row[1]))


def test_external_sort_holds_one_batch_per_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(spill, "MERGE_ROWS", 10)
    rows = [(str(i % 7), i, b"x" * 10) for i in range(1_000)]
    batches = list(spill.external_sort(_batches(rows, 100), ["key"], tmp_path, run_bytes=1))
    assert len(batches) > 10 and max(b.num_rows for b in batches) <= 10 * 10  # ten runs of 100 rows, ten rows each
    assert [(r, n) for b in batches for r, n in zip(b["key"].to_pylist(), b["number"].to_pylist(), strict=True)] == [
        (r[0], r[1]) for r in sorted(rows, key=lambda row: row[0])
    ]


def test_exact_batches_regroups_sorted_output(tmp_path: Path) -> None:
    rows = [(str(i % 5), i, b"") for i in range(95)]
    schema = pa.schema([("number", pa.int64()), ("key", pa.string())])  # other columns, another order
    tables = list(spill.exact_batches(spill.external_sort(_batches(rows, 7), ["key"], tmp_path, 100), 20, schema))
    assert [t.num_rows for t in tables] == [20, 20, 20, 20, 15]
    assert all(t.schema == schema for t in tables)

"""Normalize a landed interval of any size in bounded memory: stage records in, sorted releases and quarantine out.

The mapping is :func:`transforms.ocds.mapping.iter_releases`, the one ``to_releases`` runs, so the outputs equal
the in-memory path's byte for byte. What has to be held across the whole window is kept on disk:

- the bids of one procedure may come on any page, so bids are spilled with their input position and read back
  grouped by procedure, groups in the order of their first bid (:class:`SpilledBidGroups`);
- releases are sorted by (ocid, date, id) out of core by :meth:`~transforms.store.Store.write_releases`;
- quarantined records are written to a file as they come.

Nothing else crosses records: each contract, amendment and payment carries its own award stub, so ``awardID``
resolves within any window, and there is no cross-record duplicate check on this path (keyset paging lands each
record once).
"""

from __future__ import annotations

import array
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms import jsonio, spill
from transforms.ocds.mapping import BidKey, iter_releases
from transforms.store import Store

log = logging.getLogger(__name__)
SPILL_ROWS = 20_000  # bids buffered before they are spilled
PROGRESS_RECORDS = 200_000  # records between progress lines
_BIDS_SCHEMA = pa.schema(
    [("seq", pa.int64()), ("numero", pa.string()), ("expediente", pa.string()), ("record", pa.binary())]
)
# Each bid with the position of its procedure's first bid; sorted by (first, seq): groups in the order of their
# first bid, bids in input order inside a group (the in-memory dict's order).
GROUPED_BIDS_SQL = """
    COPY (
        SELECT g.first, b.seq, b.record
        FROM read_parquet(?) AS b
        JOIN (SELECT numero, expediente, min(seq) AS first FROM read_parquet(?) GROUP BY numero, expediente) AS g
          USING (numero, expediente)
    ) TO ? (FORMAT parquet, COMPRESSION zstd)
"""


class SpilledBidGroups:
    """Bid groups gathered on disk: any number of bids in the memory of one batch."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "bids.parquet"
        self.count = 0
        self.seq: array.array[int] = array.array("q")
        self.columns = {name: spill.BytesColumn(_BIDS_SCHEMA.field(name).type) for name in _BIDS_SCHEMA.names[1:]}
        self.writer: pq.ParquetWriter | None = None

    def add(self, key: BidKey, record: dict[str, Any]) -> None:
        """Take one bid record."""
        self.seq.append(self.count)
        self.count += 1
        self.columns["numero"].append(key[0].encode())
        self.columns["expediente"].append(key[1].encode())
        self.columns["record"].append(jsonio.dumps(record))
        if len(self.seq) >= SPILL_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.seq:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, _BIDS_SCHEMA, compression="zstd")
        arrays = [spill.int_column(self.seq), *(column.take() for column in self.columns.values())]
        self.writer.write_table(pa.table(arrays, schema=_BIDS_SCHEMA))
        self.seq = array.array("q")

    def groups(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the groups in first-come order, each in input order."""
        self._flush()
        if self.writer is None:
            return
        self.writer.close()
        firsts = self.folder / "firsts.parquet"
        with spill.sorting_connection(self.folder / "sort") as con:
            con.execute(GROUPED_BIDS_SQL, [str(self.path), str(self.path), str(firsts)])
        unsorted = pq.ParquetFile(firsts).iter_batches(batch_size=SPILL_ROWS)
        current = -1
        group: list[dict[str, Any]] = []
        for batch in spill.external_sort(unsorted, ["first", "seq"], self.folder):
            for first, body in zip(batch.column("first").to_pylist(), batch.column("record").to_pylist(), strict=True):
                if first != current and group:
                    yield group
                    group = []
                current = first
                group.append(jsonio.loads(body))
        if group:
            yield group
        firsts.unlink()


def _counted(records: Iterable[tuple[str, dict[str, Any]]], counts: dict[str, int], key: str) -> Iterator[Any]:
    """Pass records through, counting them and logging progress."""
    started = time.perf_counter()
    for pair in records:
        counts["records_in"] += 1
        if counts["records_in"] % PROGRESS_RECORDS == 0:
            rate = counts["records_in"] / max(time.perf_counter() - started, 1e-9)
            log.info("normalize %s: %s records read (%.0f a second)", key, f"{counts['records_in']:,}", rate)
        yield pair


def distinct_sorted(path: Path, column: str) -> int:
    """Count the distinct values of a column a Parquet file is sorted by, one row group at a time."""
    distinct, last = 0, None
    handle = pq.ParquetFile(path)
    for index in range(handle.num_row_groups):
        values = handle.read_row_group(index, columns=[column]).column(column).combine_chunks()
        if not len(values):
            continue
        changes = pc.sum(pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))).as_py() or 0
        distinct += changes + (values[0].as_py() != last)
        last = values[-1].as_py()
    return distinct


def normalize(
    records: Iterable[tuple[str, dict[str, Any]]], prefix: str, store: Store, key: str, quarantine_path: Path
) -> dict[str, int]:
    """Map an interval's ``(stage, record)`` pairs to its releases and quarantine file; return the counts."""
    counts = {"records_in": 0, "records_quarantined": 0}
    store.releases_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".normalize-{key}-", dir=store.releases_root) as tmp:
        work = Path(tmp)
        with open(work / "quarantine.jsonl", "wb") as quarantined:

            def quarantine(entry: dict[str, Any]) -> None:
                quarantined.write(jsonio.dumps(entry) + b"\n")
                counts["records_quarantined"] += 1

            releases = iter_releases(_counted(records, counts, key), prefix, quarantine, SpilledBidGroups(work))
            written = store.write_releases(key, releases)
        jsonio.write_jsonl(quarantine_path, jsonio.read_jsonl(work / "quarantine.jsonl"))
    return {
        "records_in": counts["records_in"],
        "records_mapped": counts["records_in"] - counts["records_quarantined"],
        "records_quarantined": counts["records_quarantined"],
        "releases_out": written,
        "ocids": distinct_sorted(store.releases_path(key), "ocid"),
    }

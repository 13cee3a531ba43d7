"""A simulated universe on disk, written in bounded memory: what the stage API serves at the scale of all CompraNet.

Layout of a universe folder::

    config.json               the SimulationConfig
    stages/<stage>.parquet    instant (epoch seconds, float64), id, record (the record's JSON bytes, as served),
                              sorted by (instant, id), in row groups of ROW_GROUP rows
    ground_truth.jsonl        the planted patterns, in generation order (as ``Universe.ground_truth``)
    suppliers.jsonl           every supplier with the name variants the records used
    buyers.jsonl              every institution with its buying units

The generator is the one :func:`~transforms.sources.simulator.simulate` runs, so the folder holds exactly the
records of the in-memory universe of the same config. While procedures are generated, records are spilled unsorted
to one Parquet file per stage; then each stage is sorted out of core (:func:`transforms.spill.external_sort`).
Cross-procedure state stays in the generator and is small (entities, counters, the favourites' outcomes); nothing
here grows with the records but the files.

The in-memory universe orders records by their ``actualizado`` text and the files by the instant it names; the two
orders agree for the simulator's stamps (office hours, so one UTC offset per local day), and the stage API pages by
the instant either way.
"""

from __future__ import annotations

import array
import datetime as dt
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import jsonio, spill
from transforms.errors import SourceError
from transforms.sources.simulator import STAGES, SimulationConfig, generate

log = logging.getLogger(__name__)
STAGE_SCHEMA = pa.schema([("instant", pa.float64()), ("id", pa.string()), ("record", pa.binary())])
ROW_GROUP = 2_048  # rows per row group of a sorted stage file: a page reads a few groups, never the file
SPILL_ROWS = 10_000  # buffered records per stage before they are spilled
SORT_KEYS = ["instant", "id"]  # the record bytes ride along untouched


def epoch(stamp: str) -> float:
    """Return the instant an RFC 3339 timestamp names, in seconds since the epoch (what the stage API sorts by)."""
    return dt.datetime.fromisoformat(stamp).timestamp()


class _StageBuffer:
    def __init__(self) -> None:
        self.instants = array.array("d")
        self.ids = spill.BytesColumn(pa.string())
        self.records = spill.BytesColumn(pa.binary())

    def append(self, row: dict[str, Any]) -> None:
        self.instants.append(epoch(row["actualizado"]))
        self.ids.append(row["id"].encode())
        self.records.append(orjson.dumps(row))

    def take(self) -> pa.Table:
        instants = spill.float_column(self.instants)
        self.instants = array.array("d")
        return pa.table([instants, self.ids.take(), self.records.take()], schema=STAGE_SCHEMA)


class _SpillSink:
    """Take the generator's output: records buffered per stage and spilled unsorted, ground truth to JSON Lines."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.buffers = {stage: _StageBuffer() for stage in STAGES}
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.counts = dict.fromkeys(STAGES, 0)
        self.truth_file: IO[bytes] = open(folder / "ground_truth.jsonl", "wb")  # noqa: SIM115 (closed in close())

    def record(self, stage: str, row: dict[str, Any]) -> None:
        buffer = self.buffers[stage]
        buffer.append(row)
        if len(buffer.instants) >= SPILL_ROWS:
            self._spill(stage)

    def truth(self, row: dict[str, Any]) -> None:
        self.truth_file.write(orjson.dumps(row) + b"\n")

    def _spill(self, stage: str) -> None:
        buffer = self.buffers[stage]
        if not buffer.instants:
            return
        table = buffer.take()
        if stage not in self.writers:
            self.writers[stage] = pq.ParquetWriter(self.spill_path(stage), STAGE_SCHEMA, compression="zstd")
        self.writers[stage].write_table(table)
        self.counts[stage] += table.num_rows

    def spill_path(self, stage: str) -> Path:
        return self.folder / "spill" / f"{stage}.parquet"

    def close(self) -> None:
        for stage in STAGES:
            self._spill(stage)
        for writer in self.writers.values():
            writer.close()
        self.truth_file.close()


def _sort_stage(spilled: Path, target: Path) -> int:
    """Write one stage's spilled records to ``target`` sorted by (instant, id); return how many."""
    written = 0
    with pq.ParquetWriter(target, STAGE_SCHEMA, compression="zstd") as writer:
        if spilled.exists():
            unsorted = pq.ParquetFile(spilled).iter_batches(batch_size=SPILL_ROWS)
            reader = spill.external_sort(unsorted, SORT_KEYS, spilled.parent)
            for table in spill.exact_batches(reader, ROW_GROUP, STAGE_SCHEMA):
                writer.write_table(table, row_group_size=ROW_GROUP)
                written += table.num_rows
    return written


def write_universe(config: SimulationConfig, folder: Path) -> StoredUniverse:
    """Generate a universe into ``folder`` in bounded memory (replacing what was there); return it, opened."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "spill").mkdir(parents=True)
    (staging / "stages").mkdir()
    started = time.perf_counter()
    try:
        sink = _SpillSink(staging)
        try:
            buyers, suppliers = generate(config, sink)
        finally:
            sink.close()
        total = sum(sink.counts.values())
        log.info("generated %s records in %.1f s; sorting each stage", f"{total:,}", _since(started))
        jsonio.write_jsonl(staging / "buyers.jsonl", buyers)
        jsonio.write_jsonl(staging / "suppliers.jsonl", suppliers)
        for stage in STAGES:
            written = _sort_stage(sink.spill_path(stage), staging / "stages" / f"{stage}.parquet")
            if written != sink.counts[stage]:
                raise SourceError(f"{stage}: generated {sink.counts[stage]} records but sorted {written}")
            log.info("sorted %s %s records (%.1f s so far)", f"{written:,}", stage, _since(started))
        shutil.rmtree(staging / "spill")
        jsonio.write_json(staging / "config.json", config.to_dict())
        jsonio.swap_dir(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # swapped in already, or abandoned by a failure
    return StoredUniverse.open(folder)


def _since(started: float) -> float:
    return time.perf_counter() - started


@dataclass(frozen=True)
class StoredUniverse:
    """A universe written by :func:`write_universe`, read lazily: nothing is loaded until asked for."""

    folder: Path
    config: SimulationConfig

    @classmethod
    def open(cls, folder: Path) -> StoredUniverse:
        """Open a universe folder; raise :class:`SourceError` if it is not one."""
        folder = Path(folder)
        if not (folder / "config.json").is_file() or not all(
            (folder / "stages" / f"{stage}.parquet").is_file() for stage in STAGES
        ):
            raise SourceError(f"{folder} holds no simulated universe (config.json and stages/*.parquet)")
        return cls(folder, SimulationConfig.from_dict(jsonio.read_json(folder / "config.json")))

    def stage_path(self, stage: str) -> Path:
        """Return the sorted file of one stage."""
        return self.folder / "stages" / f"{stage}.parquet"

    def count(self) -> dict[str, int]:
        """Return the number of records per stage."""
        return {stage: pq.read_metadata(self.stage_path(stage)).num_rows for stage in STAGES}

    def iter_records(self, stage: str) -> Iterator[dict[str, Any]]:
        """Yield one stage's records in (instant, id) order."""
        for batch in pq.ParquetFile(self.stage_path(stage)).iter_batches(columns=["record"]):
            for body in batch.column(0).to_pylist():
                yield orjson.loads(body)

    @cached_property
    def ground_truth(self) -> list[dict[str, Any]]:
        """The planted patterns (a few percent of the procedures)."""
        return list(jsonio.read_jsonl(self.folder / "ground_truth.jsonl"))

    @cached_property
    def suppliers(self) -> list[dict[str, Any]]:
        """Every supplier, as the in-memory universe lists them."""
        return list(jsonio.read_jsonl(self.folder / "suppliers.jsonl"))

    @cached_property
    def buyers(self) -> list[dict[str, Any]]:
        """Every institution, as the in-memory universe lists them."""
        return list(jsonio.read_jsonl(self.folder / "buyers.jsonl"))

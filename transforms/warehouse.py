"""The warehouse: a complete snapshot of the star schema every night, built from the snapshot before it.

Layout of one night's snapshot::

    warehouse/<key>/parquet/<table>/year=YYYY/part-0.parquet   process tables: the rows of each ocid, by process year
    warehouse/<key>/parquet/<table>/part-0.parquet             the organization map, field coverage, dataset metadata
    warehouse/<key>/observations/<name>/year=YYYY/part-0.parquet  what the indicators observed in each process
    warehouse/<key>/manifest.json                              what the snapshot was built from
    warehouse/<key>/changed.parquet                            the ocids whose rows differ from the base's

A night does the work of the day, not of the history. It starts from the *base*: the latest earlier snapshot that is
still consistent with the compiled store (its manifest lists the digest of every compiled partition it was built
from). Then it

1. flattens the compiled releases of the ocids that changed since the base (a stream, in chunks) into staged rows;
2. resolves organizations again from every identity in the tables, counted in SQL (the base's rows without the
   changed ocids, plus the staged rows), so the map is what a full rebuild would find;
3. rewrites, with DuckDB, only the year partitions that hold a changed ocid (or an organization whose canonical id
   moved): the base partition without the changed ocids plus their new rows, in ocid order. Every other partition
   is a hard link to the base's file;
4. updates field coverage by arithmetic (minus the changed ocids' previous compiled releases, plus their new ones)
   and recomputes the dataset metadata in SQL;
5. lists the ocids whose rows differ from the base's (``changed.parquet``, the changed ones), so the score step
   updates the DuckDB file process by process. A night where an organization's canonical id moved lists none (rows
   of unchanged processes changed too), and the DuckDB file is updated by year partitions.

With no base this is a full rebuild, through the same path, so a nightly snapshot equals a rebuild (tested). Memory
is bounded by the chunk size and the largest year partition, not by the history.
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from transforms import jsonio, tables
from transforms.intervals import Interval
from transforms.store import Store
from transforms.store import connect as duckdb_connect

log = logging.getLogger(__name__)
CHUNK = 5_000  # compiled releases flattened per staged batch
MANIFEST = "manifest.json"
CHANGED = "changed.parquet"  # the ocids whose rows differ from the base's (a night's snapshot, no organization moved)
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PARTITION = "part-0.parquet"
ORDINAL = "_row"  # staged rows keep their flatten order in this column, so ocid order can be restored stably


@dataclass(frozen=True)
class Base:
    """The snapshot a night starts from."""

    key: str
    folder: Path  # warehouse/<key>


@dataclass(frozen=True)
class Dataset:
    """A per-process dataset of a snapshot: the rows of each ocid, partitioned by the process's year."""

    name: str
    folder: str  # "parquet" (the published tables) or "observations" (the indicators' inputs, not published)
    schema: pa.Schema  # with `ocid` and `year`

    @property
    def canonical(self) -> tuple[str, str] | None:
        """The (id column, canonical id column) this dataset resolves, if any."""
        if self.folder != "parquet":
            return None
        return next(((c, target) for t, c, target in tables.CANONICAL_COLUMNS if t == self.name), None)


@dataclass(frozen=True)
class Observer:
    """What the indicators observe in each process (``models.scoring``): typed tables keyed by ``ocid``."""

    schemas: Mapping[str, pa.Schema]
    observe: Callable[[list[dict[str, Any]]], Mapping[str, pa.Table]]


def datasets_of(observer: Observer | None) -> list[Dataset]:
    """Return the per-process datasets of a snapshot: the core tables, then the observations."""
    found = [Dataset(name, "parquet", tables.arrow_schema(name)) for name in tables.process_tables()]
    for name, schema in sorted((observer.schemas if observer else {}).items()):
        with_year = schema if "year" in schema.names else schema.append(pa.field("year", pa.int64()))
        found.append(Dataset(name, "observations", with_year))
    return found


def compiled_digests(store: Store, up_to: str) -> dict[str, str]:
    """Return the digest of every compiled partition up to ``up_to``, by key."""
    return {key: store.compiled_digest(key) for key in store.compiled_keys(up_to)}


def find_base(root: Path, store: Store, key: str) -> Base | None:
    """Return the latest snapshot before ``key`` whose compiled inputs are unchanged, or None (a full rebuild)."""
    if not root.is_dir():
        return None
    earlier = sorted(
        (p.name for p in root.iterdir() if not p.name.startswith(".") and p.name < key and (p / MANIFEST).is_file()),
        reverse=True,
    )
    for candidate in earlier:
        manifest = jsonio.read_json(root / candidate / MANIFEST)
        if manifest.get("compiled") == compiled_digests(store, candidate):
            return Base(candidate, root / candidate)
        log.info("warehouse %s: compiled partitions changed since it was built; not a base", candidate)
    return None


def _files(folder: Path, table: str, kind: str = "parquet") -> list[str]:
    return [str(path) for path in tables.parquet_files(folder / kind, table)]


def _years(folder: Path, dataset: Dataset) -> dict[int, Path]:
    """Return the partition file of each year of a per-process dataset in a snapshot."""
    root = folder / dataset.folder / dataset.name
    found = {}
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.startswith("year=") and (entry / PARTITION).is_file():
                found[int(entry.name.removeprefix("year="))] = entry / PARTITION
    return found


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (copy across filesystems): an unchanged partition costs no bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


class _Writer:
    """Write partitions on a thread of its own while the next one is read, so that DuckDB's query and Parquet's
    encoding use both cores; one partition at most waits in memory. Leaving the block waits for the last one."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="partition-writer")
        self.pending: Future[None] | None = None

    def write(self, path: Path, table: pa.Table) -> None:
        self.wait()
        self.pending = self.pool.submit(_write, path, table)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # a failed write raises here

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown()


class _Stager:
    """Flatten (and observe) compiled releases chunk by chunk into one staged Parquet file per dataset."""

    def __init__(self, folder: Path, datasets: list[Dataset], observer: Observer | None) -> None:
        self.folder = folder
        self.datasets = datasets
        self.observer = observer
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows = {self.id(d): 0 for d in datasets}
        self.coverage = tables.Coverage()

    @staticmethod
    def id(dataset: Dataset) -> str:
        return f"{dataset.folder}.{dataset.name}"

    def path(self, dataset: Dataset) -> Path:
        return self.folder / f"{self.id(dataset)}.parquet"

    def add(self, compiled: Iterable[dict[str, Any]]) -> int:
        """Stage compiled releases (ordered by ocid); return how many."""
        count = 0
        chunk: list[dict[str, Any]] = []
        for release in compiled:
            chunk.append(release)
            count += 1
            if len(chunk) == CHUNK:
                self._stage(chunk)
                chunk = []
                log.info("warehouse: flattened %d compiled releases", count)
        self._stage(chunk)
        return count

    def _stage(self, chunk: list[dict[str, Any]]) -> None:
        rows: dict[str, list[tables.Row]] = {name: [] for name in tables.process_tables()}
        years: dict[str, int] = {}
        for release in chunk:
            self.coverage.add(release)
            for name, table_rows in tables.process_rows(release).items():
                rows[name].extend(table_rows)
            years[release["ocid"]] = rows["core_contracting_processes"][-1]["year"]
        observed = self.observer.observe(chunk) if self.observer and chunk else {}
        for dataset in self.datasets:
            if dataset.folder == "parquet":
                data = tables.to_arrow(dataset.name, rows[dataset.name])
            else:
                data = observed.get(dataset.name) or dataset.schema.empty_table()
                if "year" not in data.column_names:
                    ocids = data.column("ocid").to_pylist()
                    data = data.append_column("year", pa.array([years[o] for o in ocids], pa.int64()))
                data = data.select(dataset.schema.names).cast(dataset.schema)
            self._write(dataset, data)

    def _write(self, dataset: Dataset, data: pa.Table) -> None:
        first = self.rows[self.id(dataset)]
        data = data.append_column(ORDINAL, pa.array(range(first, first + data.num_rows), pa.int64()))
        if self.id(dataset) not in self.writers:
            self.writers[self.id(dataset)] = pq.ParquetWriter(self.path(dataset), data.schema, compression="zstd")
        self.writers[self.id(dataset)].write_table(data)
        self.rows[self.id(dataset)] += data.num_rows

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _view(
    con: duckdb.DuckDBPyConnection, view: str, schema: pa.Schema, files: list[str], src: int | None = None
) -> None:
    """Create a view with a table's declared columns over Parquet files (empty with that schema when none).

    With ``src``, two more columns order rows as a rebuild would: ``src`` (0 base, 1 staged) and ``rn`` (the row's
    place in its file, or in flatten order for staged rows).
    """
    columns = [f'"{name}"' for name in schema.names]
    if src is not None:
        columns += [f"{src} AS src", f'"{ORDINAL}" AS rn' if src else "file_row_number AS rn"]
    if files:
        relation = con.read_parquet(files, hive_partitioning=False, file_row_number=True)
    else:
        empty = schema.empty_table()
        relation = con.from_arrow(
            empty.append_column(ORDINAL, pa.array([], pa.int64())).append_column(
                "file_row_number", pa.array([], pa.int64())
            )
        )
    relation.select(", ".join(columns)).create_view(view, replace=True)


def build(
    store: Store, root: Path, interval: Interval, staging: Path, observer: Observer | None = None
) -> dict[str, Any]:
    """Build the snapshot of ``interval.key`` into the empty folder ``staging``; return a summary.

    With an ``observer``, the snapshot also holds what the indicators observe in each process, kept up to date the
    same way as the tables.
    """
    started = time.perf_counter()
    key = interval.key
    base = find_base(root, store, key)
    after = base.key if base else None
    touched = store.touched_ocids(key, after)
    delta_dir = Path(tempfile.mkdtemp(prefix=".delta-", dir=staging.parent))
    try:
        stager = _Stager(delta_dir, datasets_of(observer), observer)
        try:
            flattened = stager.add(store.iter_compiled_since(key, after))
        finally:
            stager.close()
        coverage = stager.coverage
        if base is not None:
            coverage = _updated_coverage(base, store, key, touched, stager.coverage)
        with duckdb_connect() as con:
            summary = _assemble(con, base, staging, stager, touched, coverage, interval)
    finally:
        shutil.rmtree(delta_dir, ignore_errors=True)
    manifest = {"key": key, "base": after, "compiled": compiled_digests(store, key), "rows": summary["rows"]}
    jsonio.write_json(staging / MANIFEST, manifest)
    summary.update(
        {
            "base": after,
            "ocids_changed": len(touched),
            "compiled_flattened": flattened,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
    )
    return summary


def _replaced(store: Store, base: str, key: str, touched: list[str]) -> Iterator[dict[str, Any]]:
    """Yield the compiled releases, as of the base, of the ocids that changed since (if they existed then)."""
    if store.compiled_keys(key, base) == [key]:
        kept = store.previous_compiled(key)  # the compile step kept them: no look-up in the history
        if kept is not None:
            yield from kept.values()
            return
    for start in range(0, len(touched), CHUNK):
        yield from store.compiled_of(touched[start : start + CHUNK], base).values()


def _updated_coverage(base: Base, store: Store, key: str, touched: list[str], new: tables.Coverage) -> tables.Coverage:
    """Yesterday's coverage, minus the changed ocids' previous compiled releases, plus their new ones."""
    previous = pq.read_table(base.folder / "parquet" / "core_field_coverage" / PARTITION).to_pylist()
    total = sum(pq.read_metadata(path).num_rows for path in _files(base.folder, "core_contracting_processes"))
    coverage = tables.Coverage(previous, total)
    for release in _replaced(store, base.key, key, touched):
        coverage.remove(release)
    for path, count in new.processes.items():
        coverage.processes[path] += count
    for path, count in new.values.items():
        coverage.values[path] += count
    coverage.total += new.total
    return coverage


def _assemble(
    con: duckdb.DuckDBPyConnection,
    base: Base | None,
    staging: Path,
    stager: _Stager,
    touched: list[str],
    coverage: tables.Coverage,
    interval: Interval,
) -> dict[str, Any]:
    """Write every table of the snapshot into ``staging`` from the base and the staged rows."""
    con.register("touched", pa.table({"ocid": pa.array(touched, pa.string())}))
    for dataset in stager.datasets:
        view = _view_name(dataset)
        files = _files(base.folder, dataset.name, dataset.folder) if base else []
        _view(con, f"base_{view}", dataset.schema, files, src=0)
        staged = [str(stager.path(dataset))] if stager.rows[stager.id(dataset)] else []
        _view(con, f"delta_{view}", dataset.schema, staged, src=1)
        # What the new snapshot holds, before canonical ids: the base without the changed ocids, and their new rows.
        con.execute(
            f'CREATE OR REPLACE VIEW "{view}" AS '
            f'SELECT * FROM "base_{view}" ANTI JOIN touched USING (ocid) UNION ALL SELECT * FROM "delta_{view}"'
        )
    mapping = tables.organization_map(con)
    by_party = tables.canonical_ids(mapping)
    con.register("org_map", pa.table({"party_id": list(by_party), "canonical_id": list(by_party.values())}))
    moved = _moved_parties(base, by_party)
    con.register("moved", pa.table({"party_id": pa.array(sorted(moved), pa.string())}))
    changed_years = set()
    if touched and base is not None:
        rows = con.execute(
            "SELECT DISTINCT year FROM base_core_contracting_processes SEMI JOIN touched USING (ocid)"
        ).fetchall()
        changed_years = {year for (year,) in rows}
    counts: dict[str, int] = {}
    rewritten = linked = 0
    with _Writer() as writer:
        for dataset in stager.datasets:
            view = _view_name(dataset)
            base_years = _years(base.folder, dataset) if base else {}
            delta_years = {y for (y,) in con.execute(f'SELECT DISTINCT year FROM "delta_{view}"').fetchall()}
            redo = changed_years | delta_years
            if dataset.canonical and moved:
                column = dataset.canonical[0]
                redo |= {
                    y
                    for (y,) in con.execute(
                        f'SELECT DISTINCT year FROM "base_{view}" '
                        f"WHERE coalesce(\"{column}\", '') IN (SELECT party_id FROM moved)"
                    ).fetchall()
                }
            count = 0
            for year in sorted(set(base_years) | delta_years):
                target = staging / dataset.folder / dataset.name / f"year={year}" / PARTITION
                if year not in redo:
                    _link(base_years[year], target)
                    count += pq.read_metadata(target).num_rows
                    linked += 1
                    continue
                data = _partition(con, dataset, year)
                if data.num_rows:
                    writer.write(target, data)
                    rewritten += 1
                count += data.num_rows
            if not count and not (staging / dataset.folder / dataset.name).exists():
                _write(staging / dataset.folder / dataset.name / PARTITION, dataset.schema.empty_table())
            counts[dataset.name if dataset.folder == "parquet" else f"{dataset.folder}/{dataset.name}"] = count
    if base is not None and not moved:
        # Every process whose rows differ from the base's, so that the DuckDB file can be updated process by process.
        changed = pa.table({"ocid": pa.array(touched, pa.string())})
        pq.write_table(changed, staging / CHANGED, compression="zstd")
    # Dataset-level tables, over the snapshot just written.
    for name in tables.process_tables():
        _view(con, name, tables.arrow_schema(name), _files(staging, name))
    dataset_tables: dict[str, list[tables.Row]] = {
        "core_organization_map": mapping,
        "core_field_coverage": coverage.rows(),
    }
    for name, table_rows in dataset_tables.items():
        tables.write_parquet(staging / "parquet", name, tables.to_arrow(name, table_rows))
        counts[name] = len(table_rows)
    con.register("core_organization_map", tables.to_arrow("core_organization_map", mapping))
    meta = tables.dataset_meta(con, interval)
    tables.write_parquet(staging / "parquet", "core_dataset_meta", tables.to_arrow("core_dataset_meta", [meta]))
    counts["core_dataset_meta"] = 1
    return {
        "rows": counts,
        "partitions_rewritten": rewritten,
        "partitions_linked": linked,
        "organizations_moved": len(moved),
    }


def _view_name(dataset: Dataset) -> str:
    return dataset.name if dataset.folder == "parquet" else f"{dataset.folder}_{dataset.name}"


def _moved_parties(base: Base | None, by_party: dict[str, str]) -> set[str]:
    """Return the party ids whose canonical id differs from the base's map (new ids are not moves)."""
    if base is None:
        return set()
    rows = pq.read_table(
        base.folder / "parquet" / "core_organization_map" / PARTITION, columns=["party_id", "canonical_id"]
    ).to_pylist()
    before = tables.canonical_ids(rows)
    return {party for party, canonical in before.items() if by_party.get(party, canonical) != canonical}


def _partition(con: duckdb.DuckDBPyConnection, dataset: Dataset, year: int) -> pa.Table:
    """Return one year of a dataset: the base's rows of unchanged ocids and the staged rows, in ocid order."""
    view, canonical = _view_name(dataset), dataset.canonical
    select = [
        f'm.canonical_id AS "{field}"' if canonical and field == canonical[1] else f't."{field}"'
        for field in dataset.schema.names
    ]
    join = f"LEFT JOIN org_map m ON m.party_id = coalesce(t.\"{canonical[0]}\", '')" if canonical else ""
    sql = (
        f"SELECT {', '.join(select)} FROM ("
        f'  SELECT * FROM "base_{view}" ANTI JOIN touched USING (ocid) WHERE year = $year'
        f'  UNION ALL SELECT * FROM "delta_{view}" WHERE year = $year'
        f") t {join} ORDER BY t.ocid, t.src, t.rn"
    )
    return con.sql(sql, params={"year": year}).to_arrow_table().cast(dataset.schema)


def datasets(folder: Path) -> dict[str, ds.Dataset]:
    """Return every core table of a snapshot as an Arrow dataset (read lazily, column by column)."""
    return {
        name: ds.dataset(_files(folder, name), schema=tables.arrow_schema(name), format="parquet")
        for name in tables.table_schemas()
        if name.startswith("core_")
    }


# A process's rows in one process table, in the snapshot's order (year partitions, then ocid order within each).
ROWS_OF_SQL = """
SELECT * EXCLUDE (filename, file_row_number)
FROM read_parquet(?, filename = true, file_row_number = true)
WHERE ocid IN (SELECT ocid FROM wanted)
ORDER BY filename, file_row_number
"""


def rows_of(folder: Path, ocids: list[str]) -> dict[str, pa.Table]:
    """Return the rows of the given processes from every process table of a snapshot, and the dataset tables whole.

    Only the year partitions holding one of the processes are read (a night's processes span a few years).
    """
    found = {name: d.to_table() for name, d in datasets(folder).items() if name not in tables.process_tables()}
    with duckdb_connect() as con:
        con.register("wanted", pa.table({"ocid": pa.array(ocids, pa.string())}))
        processes = _files(folder, "core_contracting_processes")
        held = "SELECT DISTINCT year FROM read_parquet(?) SEMI JOIN wanted USING (ocid)"
        years = {year for (year,) in con.execute(held, [processes]).fetchall()} if processes else set()
        for dataset in datasets_of(None):
            files = [str(path) for year, path in sorted(_years(folder, dataset).items()) if year in years]
            found[dataset.name] = (
                con.sql(ROWS_OF_SQL, params=[files]).to_arrow_table().cast(dataset.schema)
                if files
                else dataset.schema.empty_table()
            )
    return found


def prune(root: Path, key: str, keep: int) -> list[str]:
    """Remove the snapshots older than the ``keep`` latest up to ``key``; return their keys.

    Snapshots after ``key`` are never touched (a backfill of an old night must not remove newer nights), and the
    ones kept cover every base a night in flight could still be starting from.
    """
    dated = sorted(p.name for p in root.iterdir() if DATED.match(p.name) and p.name <= key and p.is_dir())
    removed = dated[:-keep] if len(dated) > keep else []
    for old in removed:
        shutil.rmtree(root / old, ignore_errors=True)
        (root / f".{old}.lock").unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold a night's snapshot lock: shared while a step reads or adds to it, exclusive while it is replaced.

    Overlapping backfills may build the same night twice; without it, one run's swap would pull the folder from
    under the other's checks or scores. An advisory ``flock`` on ``.<key>.lock`` beside the snapshot: local (or
    lock-aware) file systems only.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f".{folder.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield  # closing the handle releases the lock


def same_snapshot(built: Path, existing: Path) -> bool:
    """Whether ``existing`` holds the tables and observations just ``built`` (a night built twice), byte for byte."""
    if not (existing / MANIFEST).is_file():
        return False
    if jsonio.read_json(existing / MANIFEST).get("compiled") != jsonio.read_json(built / MANIFEST).get("compiled"):
        return False
    for kind in ("parquet", "observations"):
        for path in sorted((built / kind).rglob("*")) if (built / kind).is_dir() else []:
            twin = existing / path.relative_to(built)
            if path.is_file() and not (
                twin.is_file() and (os.path.samefile(path, twin) or filecmp.cmp(path, twin, shallow=False))
            ):
                return False
    return True


@contextlib.contextmanager
def connect(folder: Path, memory: str = "1GB") -> Iterator[duckdb.DuckDBPyConnection]:
    """Open DuckDB with a view per table and per observation table of a snapshot (read in place, never copied)."""
    with duckdb_connect(memory) as con:
        for kind in ("parquet", "observations"):
            root = folder / kind
            for entry in sorted(root.iterdir()) if root.is_dir() else []:
                files = _files(folder, entry.name, kind)
                if files and not entry.name.startswith("."):
                    con.read_parquet(files, hive_partitioning=False).create_view(entry.name, replace=True)
        yield con

"""The release store and the incremental compiled store: immutable per-interval partitions, no shared state.

- ``releases/<source>/<key>/releases.parquet``: the interval's releases (``ocid``, ``release_id``, ``date``,
  ``release`` as JSON text), sorted by (ocid, date, id). A re-run of the interval replaces the file.
- ``compiled/<source>/<key>/compiled.parquet``: the compiled releases of the ocids that received releases in that
  interval only (``ocid``, ``compiled`` JSON text). The compiled state *as of* interval K is, for each ocid, its row
  in the latest partition ≤ K.

Nightly cost therefore follows the day's data: compiling K reads only the ocids touched in K (the partitions that
hold them are found through the ``ocid`` column statistics) and writes only those. Backfills of different
intervals never write the same file (partition isolation), so concurrent runs cannot corrupt each other; the one
ordering rule — compile K after every partition before K exists — is enforced by the DAG (``depends_on_past``).
"""

from __future__ import annotations

import array
import contextlib
import datetime as dt
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import jsonio, spill
from transforms.errors import SourceError

log = logging.getLogger(__name__)
RELEASE_SCHEMA = pa.schema(
    [("ocid", pa.string()), ("release_id", pa.string()), ("date", pa.string()), ("release", pa.string())]
)
COMPILED_SCHEMA = pa.schema([("ocid", pa.string()), ("compiled", pa.string())])
ROW_GROUP = 20_000
BATCH = 5_000  # releases (or ocids) held in memory at a time when streaming a partition
LATEST_OCIDS = 50_000  # ocids per query when reading the latest compiled releases of many partitions
PREVIOUS = "previous.parquet"  # beside compiled.parquet: the compiled releases it replaced
DUCKDB_MEMORY = "1GB"  # sorts and groups past this spill to disk


def quiet_connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open DuckDB as every connection of the pipeline is opened: without the progress bar DuckDB draws on queries
    past 2 s, which would fill a task's log."""
    con = duckdb.connect(database, read_only=read_only)
    con.execute("SET enable_progress_bar = false")
    return con


def connect(memory: str = DUCKDB_MEMORY) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB that spills to the system's temporary folder past ``memory``.

    Freed memory goes back to the system as queries end (DuckDB otherwise keeps it for later queries, and a step's
    resident memory only grows), and no progress bar is drawn on a task's log.
    """
    con = quiet_connect()
    con.execute("SET memory_limit = ?", [memory])
    con.execute("SET temp_directory = ?", [str(Path(tempfile.gettempdir()) / "semaforo-duckdb")])
    con.execute("SET allocator_background_threads = true")
    con.execute("SET allocator_flush_threshold = '32MB'")
    return con


def _write_atomic(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    os.replace(tmp, path)


class CompiledWriter:
    """Compiled releases, in ocid order, into a compiled delta and its ``previous`` file, one batch at a time."""

    def __init__(self, path: Path, previous: Path) -> None:
        self.count = 0
        self._last = ""
        self._writers = [_BatchWriter(path), _BatchWriter(previous)]

    def add(self, compiled: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Add one compiled release and the one it replaces (None for a new process)."""
        ocid = compiled["ocid"]
        if ocid <= self._last:
            raise ValueError(f"compiled releases must come in ocid order: {ocid!r} after {self._last!r}")
        self._last = ocid
        self._writers[0].add(ocid, compiled)
        if previous is not None:
            self._writers[1].add(ocid, previous)
        self.count += 1

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


class _BatchWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, list[str]] = {"ocid": [], "compiled": []}
        self.writer = pq.ParquetWriter(path, COMPILED_SCHEMA, compression="zstd")

    def add(self, ocid: str, compiled: dict[str, Any]) -> None:
        self.rows["ocid"].append(ocid)
        self.rows["compiled"].append(jsonio.dumps(compiled).decode())
        if len(self.rows["ocid"]) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows["ocid"]:
            self.writer.write_table(pa.Table.from_pydict(self.rows, schema=COMPILED_SCHEMA))
            self.rows = {"ocid": [], "compiled": []}

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _file_digest(path: Path) -> str:
    """Return a file's SHA-256 from its sidecar when the sidecar is not older than the file, else by reading it."""
    sidecar = _digest_path(path)
    if sidecar.is_file() and sidecar.stat().st_mtime_ns >= path.stat().st_mtime_ns:
        return sidecar.read_text().strip()
    return sha256(path)


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rows_of_ocids(files: list[str], ocids: list[str], query: str) -> list[tuple[Any, ...]]:
    """Run ``query`` over Parquet ``files`` (its one parameter), with the ocids to find as the table ``wanted``."""
    with quiet_connect() as con:
        con.register("wanted", pa.table({"ocid": pa.array(ocids, pa.string())}))
        return con.execute(query, [files]).fetchall()


def _distinct_ocids(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[str]:
    """Return the ocids held in Parquet ``files``, sorted, each once."""
    return [
        ocid for (ocid,) in con.execute("SELECT DISTINCT ocid FROM read_parquet(?) ORDER BY ocid", [files]).fetchall()
    ]


_SPILL_SCHEMA = pa.schema([("seq", pa.int64()), *RELEASE_SCHEMA])
SORT_KEYS = ["ocid", "date", "release_id"]  # ties keep their input order


def _spill_releases(releases: Iterable[dict[str, Any]], target: Path) -> int:
    """Write releases unsorted to ``target`` with their input position (``seq``); return how many."""
    count = 0
    seq: array.array[int] = array.array("q")
    columns = {name: spill.BytesColumn(pa.string()) for name in RELEASE_SCHEMA.names}
    with pq.ParquetWriter(target, _SPILL_SCHEMA, compression="zstd") as writer:

        def flush() -> None:
            nonlocal seq
            if seq:
                arrays = [spill.int_column(seq), *(columns[name].take() for name in RELEASE_SCHEMA.names)]
                writer.write_table(pa.table(arrays, schema=_SPILL_SCHEMA))
                seq = array.array("q")

        for release in releases:
            ocid, release_id, date = release["ocid"], release["id"], release["date"]
            if not (isinstance(ocid, str) and isinstance(release_id, str) and isinstance(date, str)):
                raise SourceError(f"release {release_id!r} of {ocid!r}: ocid, id and date must be strings")
            seq.append(count)
            columns["ocid"].append(ocid.encode())
            columns["release_id"].append(release_id.encode())
            columns["date"].append(date.encode())
            columns["release"].append(jsonio.dumps(release))
            count += 1
            if len(seq) >= ROW_GROUP:
                flush()
                if count % (10 * ROW_GROUP) == 0:
                    log.info("spilled %s releases", f"{count:,}")
        flush()
    return count


class Store:
    """Release and compiled partitions of one source under a data root."""

    def __init__(self, data_root: Path, source: str) -> None:
        self.releases_root = data_root / "releases" / source
        self.compiled_root = data_root / "compiled" / source

    # -- releases ---------------------------------------------------------------------------------------------
    def releases_path(self, key: str) -> Path:
        """Return the releases file of one interval."""
        return self.releases_root / key / "releases.parquet"

    def write_releases(self, key: str, releases: Iterable[dict[str, Any]]) -> int:
        """Replace an interval's releases, sorted by (ocid, date, id); return how many were written.

        Any number of releases, in bounded memory: they are spilled to a Parquet file as they come, sorted by
        an external merge sort (ties keep their input order) and written in row groups of ``ROW_GROUP``.
        """
        path = self.releases_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".write-releases-", dir=path.parent) as tmp:
            work = Path(tmp)
            spilled = _spill_releases(releases, work / "spill.parquet")
            written = 0
            with pq.ParquetWriter(work / path.name, RELEASE_SCHEMA, compression="zstd") as writer:
                if spilled:
                    unsorted = pq.ParquetFile(work / "spill.parquet").iter_batches(batch_size=ROW_GROUP)
                    batches = spill.external_sort(unsorted, SORT_KEYS, work)
                    for table in spill.exact_batches(batches, ROW_GROUP, RELEASE_SCHEMA):
                        writer.write_table(table, row_group_size=ROW_GROUP)
                        written += table.num_rows
                else:  # one empty row group, as pyarrow writes an empty table
                    writer.write_table(RELEASE_SCHEMA.empty_table(), row_group_size=ROW_GROUP)
            if written != spilled:
                raise RuntimeError(f"releases of {key}: {spilled} spilled but {written} written")
            os.replace(work / path.name, path)
        _digest_path(path).write_text(sha256(path) + "\n")  # later nights check what the history holds by it
        if spilled >= ROW_GROUP:
            log.info("wrote %s releases of %s sorted by ocid", f"{written:,}", key)
        return written

    def releases_digest(self, key: str) -> str:
        """Return the SHA-256 of one interval's releases file (from its sidecar file when it is current)."""
        return _file_digest(self.releases_path(key))

    def history_digest(self, up_to: str) -> str:
        """Return a digest of every interval's releases up to ``up_to``: equal digests, equal stored history."""
        made_of = "".join(f"{key} {self.releases_digest(key)}\n" for key in self.keys(up_to))
        return hashlib.sha256(made_of.encode()).hexdigest()

    def record_interval(self, key: str, start: dt.datetime, end: dt.datetime) -> None:
        """Record the bounds of the interval whose releases are stored under ``key`` (``interval.json``)."""
        path = self.releases_root / key / "interval.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        jsonio.write_json(path, {"start": start.isoformat(), "end": end.isoformat()})

    def interval_end(self, key: str) -> dt.datetime | None:
        """Return when the interval stored under ``key`` ended, if recorded (stores of earlier versions did not)."""
        try:
            return dt.datetime.fromisoformat(jsonio.read_json(self.releases_root / key / "interval.json")["end"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def keys(self, up_to: str | None = None) -> list[str]:
        """Return the interval keys that have releases, oldest first (up to and including ``up_to``)."""
        if not self.releases_root.exists():
            return []
        keys = sorted(p.name for p in self.releases_root.iterdir() if (p / "releases.parquet").exists())
        return [k for k in keys if up_to is None or k <= up_to]

    def read_releases(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield one interval's releases in stored order (read in batches: memory holds one batch)."""
        for batch in pq.ParquetFile(self.releases_path(key)).iter_batches(BATCH, columns=["release"]):
            for text in batch.column(0).to_pylist():
                yield jsonio.loads(text)

    def release_groups(
        self, key: str, ocids_per_chunk: int = BATCH
    ) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
        """Yield one interval's releases grouped by ocid (stored order inside), in chunks of whole ocids."""
        chunk: list[tuple[str, list[dict[str, Any]]]] = []
        for batch in pq.ParquetFile(self.releases_path(key)).iter_batches(BATCH, columns=["ocid", "release"]):
            for ocid, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                if not chunk or chunk[-1][0] != ocid:
                    if len(chunk) >= ocids_per_chunk:
                        yield chunk
                        chunk = []
                    chunk.append((ocid, []))
                chunk[-1][1].append(jsonio.loads(text))
        if chunk:
            yield chunk

    def iter_all_releases(self, up_to: str) -> Iterator[dict[str, Any]]:
        """Yield every release of every partition up to ``up_to``: partitions in order, stored order inside."""
        for key in self.keys(up_to):
            yield from self.read_releases(key)

    def ocids(self, key: str) -> list[str]:
        """Return the distinct ocids that received releases in one interval."""
        column = pq.read_table(self.releases_path(key), columns=["ocid"]).column("ocid")
        return sorted(set(column.to_pylist()))

    def releases_of(self, ocids: list[str], up_to: str) -> dict[str, list[dict[str, Any]]]:
        """Return every release of the given ocids up to ``up_to``, each list in full-recompile order."""
        files = [str(self.releases_path(k)) for k in self.keys(up_to)]
        found: dict[str, list[dict[str, Any]]] = {ocid: [] for ocid in ocids}
        if not files or not ocids:
            return found
        # filename orders partitions (keys sort as dates); file_row_number keeps the stored order inside one.
        query = (
            "SELECT r.ocid, r.release FROM read_parquet(?, filename = true, file_row_number = true) r "
            "SEMI JOIN wanted USING (ocid) ORDER BY r.filename, r.file_row_number"
        )
        for ocid, text in _rows_of_ocids(files, ocids, query):
            found[ocid].append(jsonio.loads(text))
        return found

    # -- compiled ---------------------------------------------------------------------------------------------
    def compiled_path(self, key: str) -> Path:
        """Return the compiled delta of one interval."""
        return self.compiled_root / key / "compiled.parquet"

    def write_compiled(
        self, key: str, compiled: Iterable[dict[str, Any]], previous: Mapping[str, dict[str, Any]] | None = None
    ) -> int:
        """Replace an interval's compiled delta; return how many compiled releases were written.

        ``previous`` holds the compiled releases these replace (as of the interval before), kept beside the delta so
        later steps of the night (coverage, the change list) need not look them up in the whole history again.
        """
        previous = previous or {}
        with self.compiled_writer(key) as out:
            for release in sorted(compiled, key=lambda c: c["ocid"]):
                out.add(release, previous.get(release["ocid"]))
        return out.count

    @contextlib.contextmanager
    def compiled_writer(self, key: str) -> Iterator[CompiledWriter]:
        """Write an interval's compiled delta (and what it replaced) in ocid order, a batch at a time; swap it in."""
        path = self.compiled_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".compiled-", dir=path.parent) as tmp:
            writer = CompiledWriter(Path(tmp) / path.name, Path(tmp) / PREVIOUS)
            try:
                yield writer
            finally:
                writer.close()
            os.replace(Path(tmp) / PREVIOUS, path.with_name(PREVIOUS))
            os.replace(Path(tmp) / path.name, path)
        # Later nights check, by this digest, that the partitions a warehouse snapshot was built from are unchanged.
        _digest_path(path).write_text(sha256(path) + "\n")

    def previous_compiled(self, key: str) -> dict[str, dict[str, Any]] | None:
        """Return the compiled releases that interval ``key`` replaced, by ocid (None if they were not kept)."""
        path = self.compiled_path(key).with_name(PREVIOUS)
        if not path.is_file():
            return None
        table = pq.read_table(path)
        return {
            ocid: jsonio.loads(text)
            for ocid, text in zip(table.column("ocid").to_pylist(), table.column("compiled").to_pylist(), strict=True)
        }

    def read_compiled(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield one interval's compiled delta in ocid order (read in batches)."""
        for batch in pq.ParquetFile(self.compiled_path(key)).iter_batches(BATCH, columns=["compiled"]):
            for text in batch.column(0).to_pylist():
                yield jsonio.loads(text)

    def compiled_ocids(self, key: str) -> list[str]:
        """Return the ocids whose compiled release changed in interval ``key``, sorted."""
        return pq.read_table(self.compiled_path(key), columns=["ocid"]).column("ocid").to_pylist()

    def compiled_digest(self, key: str) -> str:
        """Return the SHA-256 of one interval's compiled delta (from its sidecar file when there is one)."""
        return _file_digest(self.compiled_path(key))

    def compiled_keys(self, up_to: str, after: str | None = None) -> list[str]:
        """Return the keys that have a compiled delta, up to ``up_to`` (and after ``after``, if given)."""
        if not self.compiled_root.exists():
            return []
        return sorted(
            p.name
            for p in self.compiled_root.iterdir()
            if (p / "compiled.parquet").exists() and p.name <= up_to and (after is None or p.name > after)
        )

    def compiled_of(self, ocids: Iterable[str], up_to: str | None) -> dict[str, dict[str, Any]]:
        """Return the compiled release of each given ocid as of ``up_to`` (ocids without one are left out).

        DuckDB reads only the ``ocid`` column of every partition to find the rows, so a night's look-up costs a scan
        of the ocids of the history, not of its JSON.
        """
        wanted = sorted(set(ocids))
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to)] if up_to is not None else []
        if not files or not wanted:
            return {}
        query = (
            "SELECT ocid, arg_max(compiled, filename) FROM read_parquet(?, filename = true) "
            "SEMI JOIN wanted USING (ocid) GROUP BY ocid"
        )
        return {ocid: jsonio.loads(text) for ocid, text in _rows_of_ocids(files, wanted, query)}

    def touched_ocids(self, up_to: str, after: str | None = None) -> list[str]:
        """Return the ocids that got a new compiled release in a key in ``(after, up_to]``, sorted."""
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to, after)]
        if not files:
            return []
        with connect() as con:
            return _distinct_ocids(con, files)

    def iter_compiled_since(self, up_to: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield, ordered by ocid, the compiled state as of ``up_to`` of the ocids touched in ``(after, up_to]``."""
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to, after)]
        yield from self._latest(files)

    def iter_compiled(self, up_to: str) -> Iterator[dict[str, Any]]:
        """Yield the compiled state as of ``up_to``: each ocid's latest compiled release, ordered by ocid."""
        yield from self._latest([str(self.compiled_path(k)) for k in self.compiled_keys(up_to)])

    @staticmethod
    def _latest(files: list[str]) -> Iterator[dict[str, Any]]:
        """Yield each ocid's compiled release from the latest of ``files`` that holds it, ordered by ocid.

        A range of ``LATEST_OCIDS`` ocids at a time: one query over the whole history held every compiled release
        in DuckDB's aggregate at once (out of memory at 1M processes under 1 GB). Each partition is sorted by ocid,
        so Parquet statistics skip the row groups outside a range.
        """
        if not files:
            return
        with connect() as con:
            ocids = _distinct_ocids(con, files)
            for start in range(0, len(ocids), LATEST_OCIDS):
                bounds = [ocids[start], ocids[min(start + LATEST_OCIDS, len(ocids)) - 1]]
                cursor = con.execute(
                    "SELECT arg_max(compiled, filename) FROM read_parquet(?, filename = true) "
                    "WHERE ocid BETWEEN ? AND ? GROUP BY ocid ORDER BY ocid",
                    [files, *bounds],
                )
                while batch := cursor.fetchmany(BATCH):
                    for (text,) in batch:
                        yield jsonio.loads(text)

    def count_compiled(self, up_to: str) -> int:
        """Return the number of processes in the compiled state as of ``up_to``."""
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to)]
        if not files:
            return 0
        with quiet_connect() as con:
            row = con.execute("SELECT count(DISTINCT ocid) FROM read_parquet(?)", [files]).fetchone()
        return int(row[0]) if row else 0

    def compiled_as_of(self, ocids: list[str], up_to: str) -> Iterator[tuple[str, str]]:
        """Yield ``(ocid, compiled JSON text)`` as of ``up_to`` for the given ocids only, ordered by ocid.

        Reads the ``ocid`` column of every partition (Parquet statistics skip row groups outside the wanted range)
        and the compiled text of the wanted rows only, so a night's few hundred ocids cost little on a long history.
        """
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to)]
        if not files or not ocids:
            return
        with quiet_connect() as con:
            con.execute("SET memory_limit = '1GB'")
            con.register("wanted", pa.table({"ocid": ocids}))
            cursor = con.execute(
                "SELECT ocid, arg_max(compiled, filename) FROM read_parquet(?, filename = true) "
                "SEMI JOIN wanted USING (ocid) GROUP BY ocid ORDER BY ocid",
                [files],
            )
            while batch := cursor.fetchmany(5000):
                yield from batch

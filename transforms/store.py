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

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import jsonio

log = logging.getLogger(__name__)
RELEASE_SCHEMA = pa.schema(
    [("ocid", pa.string()), ("release_id", pa.string()), ("date", pa.string()), ("release", pa.string())]
)
COMPILED_SCHEMA = pa.schema([("ocid", pa.string()), ("compiled", pa.string())])
ROW_GROUP = 20_000


def _write_atomic(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    os.replace(tmp, path)


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
        """Replace an interval's releases; return how many were written."""
        rows = sorted(releases, key=lambda r: (r["ocid"], r["date"], r["id"]))
        table = pa.Table.from_pydict(
            {
                "ocid": [r["ocid"] for r in rows],
                "release_id": [r["id"] for r in rows],
                "date": [r["date"] for r in rows],
                "release": [jsonio.dumps(r).decode() for r in rows],
            },
            schema=RELEASE_SCHEMA,
        )
        _write_atomic(self.releases_path(key), table)
        return len(rows)

    def keys(self, up_to: str | None = None) -> list[str]:
        """Return the interval keys that have releases, oldest first (up to and including ``up_to``)."""
        if not self.releases_root.exists():
            return []
        keys = sorted(p.name for p in self.releases_root.iterdir() if (p / "releases.parquet").exists())
        return [k for k in keys if up_to is None or k <= up_to]

    def read_releases(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield one interval's releases in stored order."""
        table = pq.read_table(self.releases_path(key), columns=["release"])
        for text in table.column("release").to_pylist():
            yield jsonio.loads(text)

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
        with duckdb.connect() as con:
            con.register("wanted", pa.table({"ocid": ocids}))
            # filename orders partitions (keys sort as dates); file_row_number keeps the stored order inside one.
            rows = con.execute(
                "SELECT r.ocid, r.release FROM read_parquet(?, filename = true, file_row_number = true) r "
                "SEMI JOIN wanted USING (ocid) ORDER BY r.filename, r.file_row_number",
                [files],
            ).fetchall()
        for ocid, text in rows:
            found[ocid].append(jsonio.loads(text))
        return found

    # -- compiled ---------------------------------------------------------------------------------------------
    def compiled_path(self, key: str) -> Path:
        """Return the compiled delta of one interval."""
        return self.compiled_root / key / "compiled.parquet"

    def write_compiled(self, key: str, compiled: Iterable[dict[str, Any]]) -> int:
        """Replace an interval's compiled delta; return how many compiled releases were written."""
        rows = sorted(compiled, key=lambda c: c["ocid"])
        table = pa.Table.from_pydict(
            {"ocid": [c["ocid"] for c in rows], "compiled": [jsonio.dumps(c).decode() for c in rows]},
            schema=COMPILED_SCHEMA,
        )
        _write_atomic(self.compiled_path(key), table)
        return len(rows)

    def compiled_keys(self, up_to: str) -> list[str]:
        """Return the keys that have a compiled delta, up to ``up_to``."""
        if not self.compiled_root.exists():
            return []
        return sorted(
            p.name for p in self.compiled_root.iterdir() if (p / "compiled.parquet").exists() and p.name <= up_to
        )

    def iter_compiled(self, up_to: str) -> Iterator[dict[str, Any]]:
        """Yield the compiled state as of ``up_to``: each ocid's latest compiled release, ordered by ocid."""
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to)]
        if not files:
            return
        with duckdb.connect() as con:
            cursor = con.execute(
                "SELECT arg_max(compiled, filename) FROM read_parquet(?, filename = true) GROUP BY ocid ORDER BY ocid",
                [files],
            )
            while batch := cursor.fetchmany(5000):
                for (text,) in batch:
                    yield jsonio.loads(text)

    def count_compiled(self, up_to: str) -> int:
        """Return the number of processes in the compiled state as of ``up_to``."""
        files = [str(self.compiled_path(k)) for k in self.compiled_keys(up_to)]
        if not files:
            return 0
        with duckdb.connect() as con:
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
        with duckdb.connect() as con:
            con.execute("SET memory_limit = '1GB'")
            con.register("wanted", pa.table({"ocid": ocids}))
            cursor = con.execute(
                "SELECT ocid, arg_max(compiled, filename) FROM read_parquet(?, filename = true) "
                "SEMI JOIN wanted USING (ocid) GROUP BY ocid ORDER BY ocid",
                [files],
            )
            while batch := cursor.fetchmany(5000):
                yield from batch

"""The OCDS files of a publication: yearly record and release package files, and the full files made of them.

Layout (OCDS hosting guidance, REFERENCE §5.3–5.4):

- ``releases/<YYYY>.jsonl.gz``: the releases dated in that year (``undated`` for the rest), ordered by ocid, date
  and id. ``records/<YYYY>.jsonl.gz``: the records of the processes whose **first** release is dated in that year,
  ordered by ocid, so a process never moves between files as it gets new releases. A file that would pass
  ``limit`` awards or contracts or 1 GB uncompressed continues in ``-2``, ``-3`` ….
- ``records.jsonl.gz`` and ``releases.jsonl.gz`` (``-2`` … past the limits): the yearly files concatenated byte
  for byte, in year order. Gzip members concatenate into a valid gzip file, so the full files cost a kernel copy,
  not a second serialization; every package keeps the ``uri`` of the yearly file it was written for, which serves
  the very same package, and records link their releases in the yearly release files.
- Package ``uri``: the file's stable URL, ``<base>/latest/<path>``. ``publishedDate``: the end of the interval in
  which the content of that yearly file last changed, read from the store partitions (each records its interval's
  end; a partition of an earlier version ends where the next stored one starts). A file whose inputs did not change
  is therefore the same bytes as the night before, and the previous publication's copy is hard-linked instead of
  rewritten.

The yearly and full files are rewritten (**refreshed**) on **cut** nights only: the first stored interval, then the
first whose end is ``publication_refresh_days`` or more after the last cut's (:func:`cut_of`; a function of the
stored intervals alone, so backfills in any order agree). A night between cuts (``base``: the publication of its cut)
links every yearly and full file from there, and writes ``releases/changes.jsonl.gz`` (the releases stored after the
cut) and ``records/changes.jsonl.gz`` (the current record of every process that got releases after the cut; it
supersedes that process's record in its yearly file). Its cost follows the releases since the cut, not the
history: each record links its earlier releases through the **link index** written with the yearly record files
(``publish/.index/links-<digest>.parquet``, named by the checksums of the year's files, outside the publication), so
no release of the history is read again. When the cut's publication or its index is missing, the night refreshes.

Which yearly files changed since the previous publication (key ``P``) comes from the store: the releases stored in
the partitions after ``P`` give the release years touched, and the processes that received them (recompiled in the
same partitions) give the record years touched, through each process's first release year before and after.
Memory stays bounded: DuckDB sorts with a memory limit and spills; Python holds one package at a time.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import hashlib
import itertools
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import jsonio
from transforms.intervals import MEXICO_CITY, Interval
from transforms.store import Store, quiet_connect, sha256

log = logging.getLogger(__name__)
PACKAGE_SIZE = 1000  # records or releases per package line
MAX_FILE_BYTES = 1_000_000_000  # OCDS hosting guidance: at most 1 GB uncompressed per file
PACKAGE_OVERHEAD = 16_384  # room for one package's metadata (its "packages" list grows with the files linked)
DUCKDB_MEMORY = "1GB"  # DuckDB spills its sorts to disk past this
BATCH = 2000
# The year cut of a release or of a process's first release, in SQL and in Python (year_of): YYYY or "undated".
YEAR_SQL = "CASE WHEN regexp_matches({0}, '^[0-9]{{4}}') THEN {0}[1:4] ELSE 'undated' END"
KEY_SQL = r"regexp_extract(filename, '([^/]+)/[^/]+$', 1)"
KINDS = {"record-package": "records", "release-package": "releases"}
CHANGES = "changes"  # the cut of the files that hold what changed since the yearly files were cut
INDEX = ".index"  # under the publication root: the link index of the yearly record files (never published)
LINK_SCHEMA = pa.schema(
    [
        ("ocid", pa.string()),
        ("date", pa.string()),
        ("release_id", pa.string()),
        ("key", pa.string()),
        ("row", pa.int64()),
        ("tag", pa.string()),  # JSON
        ("url", pa.string()),
    ]
)


def year_of(date: Any) -> str:
    """Return the year cut of an OCDS date, ``YYYY``, or ``undated``."""
    if isinstance(date, str) and len(date) >= 4 and date[:4].isdigit():
        return date[:4]
    return "undated"


@dataclass
class PackageFile:
    """One published OCDS file and what it holds."""

    path: str
    kind: str  # record-package or release-package
    cut: str  # full, YYYY or undated
    part: int
    packages: int = 0
    items: int = 0
    awards: int = 0
    contracts: int = 0
    bytes: int = 0  # uncompressed
    first: list[str] = field(default_factory=list)  # sort key of its first item: [ocid] or [ocid, date, id]
    members: list[str] = field(default_factory=list)  # full files: the yearly files it concatenates

    def properties(self) -> dict[str, Any]:
        """Return the ``ocds`` properties of this file's ``datapackage.json`` resource."""
        found = {"packageType": self.kind, **asdict(self)}
        del found["path"], found["kind"]
        del found["first" if self.cut == "full" else "members"]  # a full file is known by its members
        return found

    @classmethod
    def from_properties(cls, path: str, properties: dict[str, Any]) -> PackageFile:
        """Rebuild a file's description from its ``datapackage.json`` ``ocds`` properties."""
        known = {k: v for k, v in properties.items() if k in cls.__dataclass_fields__}
        return cls(path=path, kind=properties["packageType"], **known)


class PackageWriter:
    """Write one cut (e.g. the releases of 2026) as gzip JSON Lines of packages, in as many files as the limits need.

    An item that would take the current file past ``limit`` awards or ``limit`` contracts, or past ``max_bytes``
    uncompressed, starts the next file (``<stem>-2.jsonl.gz`` …); a single item above the limits gets a file of
    its own. The first file keeps the plain name, so a publication under the limits has the names users expect.
    """

    def __init__(
        self,
        folder: Path,
        stem: str,
        kind: str,
        cut: str,
        meta: Callable[[str], dict[str, Any]],
        *,
        limit: int,
        max_bytes: int = MAX_FILE_BYTES,
        package_size: int = PACKAGE_SIZE,
    ) -> None:
        self.folder, self.stem, self.kind, self.cut, self.meta = folder, stem, kind, cut, meta
        self.limit, self.max_bytes, self.package_size = limit, max_bytes, package_size
        self.files: list[PackageFile] = []
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._items: list[bytes] = []
        self._links: set[str] = set()

    def _name(self, part: int) -> str:
        return f"{self.stem}.jsonl.gz" if part == 1 else f"{self.stem}-{part}.jsonl.gz"

    def _fits(self, current: PackageFile, awards: int, contracts: int, size: int) -> bool:
        if not current.items:
            return True
        pending = current.bytes + size + PACKAGE_OVERHEAD  # the open package's metadata is not written yet
        return (
            current.awards + awards <= self.limit
            and current.contracts + contracts <= self.limit
            and pending <= self.max_bytes
        )

    def open(self) -> None:
        """Start the next file."""
        self._close_file()
        part = len(self.files) + 1
        path = self._name(part)
        (self.folder / path).parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self.folder / path, "wb")  # noqa: SIM115 (closed by _close_file, after the last package)
        # mtime=0 and no name in the header: the same content gives the same bytes on every re-run.
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=jsonio.GZIP_LEVEL, mtime=0)
        self.files.append(PackageFile(path, self.kind, self.cut, part))

    def add(
        self, item: bytes, awards: int, contracts: int, links: Iterable[str] = (), first: list[str] | None = None
    ) -> str:
        """Add one serialized release or record (``first``: its sort key); return the path of its file."""
        if not self.files or not self._fits(self.files[-1], awards, contracts, len(item) + 1):
            self.open()
        current = self.files[-1]
        if not current.items and first is not None:
            current.first = first
        self._items.append(item)
        self._links.update(links)
        current.items += 1
        current.awards += awards
        current.contracts += contracts
        current.bytes += len(item) + 1
        if len(self._items) >= self.package_size:
            self._flush()
        return current.path

    def _flush(self) -> None:
        if not self._items or self._gz is None:
            return
        current = self.files[-1]
        head = jsonio.dumps(self.meta(current.path))[:-1]
        if self.kind == "record-package":
            head += b',"packages":' + jsonio.dumps(sorted(self._links)) + b',"records":['
        else:
            head += b',"releases":['
        self._gz.write(head + b",".join(self._items) + b"]}\n")
        current.packages += 1
        current.bytes += len(head) + 2  # items counted one separator each; the line ends "]}\n"
        self._items, self._links = [], set()

    def _close_file(self) -> None:
        self._flush()
        if self._gz is not None and self._raw is not None:
            self._gz.close()
            self._raw.close()
        self._gz = self._raw = None

    def close(self) -> None:
        """Write the last package and close the file."""
        self._close_file()


def compiled_digest(compiled: Any) -> bytes:
    """Return a digest of a compiled release that ignores key order (to tell changed processes)."""
    return hashlib.blake2b(orjson.dumps(compiled, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target``; copy where a link cannot be made (another filesystem, no support)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:  # EXDEV, EPERM, EMLINK, ENOTSUP …: the bytes are what matter, so copy them
        log.debug("cannot link %s (%s): copying", source, exc.strerror)
        shutil.copyfile(source, target)


def interval_ends(
    keys: list[str], interval: Interval, recorded: Mapping[str, dt.datetime] | None = None
) -> dict[str, str]:
    """Return when each stored interval ended (RFC 3339, Mexico City): as ``recorded`` (:meth:`Store.interval_end`),
    else where the next stored one starts, at this night's time of day (intervals follow each other); this night's
    is its own end."""
    start = interval.start.astimezone(MEXICO_CITY)
    recorded = recorded or {}
    ends = {}
    keys = sorted({*keys, interval.key})
    for key, following in itertools.pairwise(keys):
        moment = dt.datetime.combine(dt.date.fromisoformat(following), start.timetz()).replace(tzinfo=MEXICO_CITY)
        ends[key] = recorded.get(key, moment).astimezone(MEXICO_CITY).isoformat()
    ends[interval.key] = interval.end.astimezone(MEXICO_CITY).isoformat()
    return ends


# -- the plan: which yearly files changed ---------------------------------------------------------------------
RELEASE_ROWS = f"""
CREATE VIEW release_rows AS
SELECT ocid, release_id, date, {YEAR_SQL.format("date")} AS year, {KEY_SQL} AS key, file_row_number AS row, release
FROM read_parquet($files, filename = true, file_row_number = true)
"""
PROCESS_INDEX = f"""
CREATE TABLE process_index AS
SELECT ocid, {YEAR_SQL.format("first")} AS year, last_key, first_key,
       CASE WHEN first_before IS NOT NULL THEN {YEAR_SQL.format("first_before")} END AS year_before
FROM (
    SELECT ocid, min(date) AS first, max(key) AS last_key, min(key) AS first_key,
           min(date) FILTER (WHERE key <= $previous) AS first_before
    FROM release_rows GROUP BY ocid
)
"""
RELEASE_YEARS = "SELECT year, max(key), count(*) FILTER (WHERE key > $previous) FROM release_rows GROUP BY year"
RECORD_YEARS = """
SELECT year, max(last_key) FROM process_index GROUP BY year
UNION ALL
SELECT year_before, max(last_key) FROM process_index WHERE year_before <> year GROUP BY year_before
"""
# Awards and contracts count against the hosting limits; DuckDB counts them without Python parsing every release.
COUNTS = "coalesce(json_array_length({0}, '$.awards'), 0), coalesce(json_array_length({0}, '$.contracts'), 0)"
RELEASES_OF_YEAR = f"""
SELECT ocid, date, release_id, release, {COUNTS.format("release")} FROM release_rows WHERE year = $year {{prune}}
ORDER BY ocid, date, release_id, key, row
"""
# The record years of the processes with a release of a year at or after a given (ocid, date, id).
LINKED_PAST = """
SELECT DISTINCT p.year FROM release_rows r JOIN process_index p USING (ocid)
WHERE r.year = $year AND (r.ocid > ? OR (r.ocid = ? AND (coalesce(r.date, '') > ?
      OR (coalesce(r.date, '') = ? AND r.release_id >= ?))))
"""
COMPILED_KEYS_OF_YEAR = "SELECT DISTINCT last_key FROM process_index WHERE year = $year ORDER BY 1"
# The latest compiled release of each process of a year: the one stored in the partition of its last release.
COMPILED_OF_YEAR = f"""
SELECT c.ocid, c.compiled, {COUNTS.format("c.compiled")} FROM read_parquet($files, filename = true) c
JOIN process_index p ON p.ocid = c.ocid AND p.last_key = {KEY_SQL.replace("filename", "c.filename")}
WHERE p.year = $year ORDER BY c.ocid
"""
LINKS_OF_YEAR = """
SELECT r.ocid, r.release_id, r.date, r.year, CAST(json_extract(r.release, '$.tag') AS VARCHAR), r.key, r.row
FROM release_rows r SEMI JOIN (SELECT ocid FROM process_index WHERE year = $year) p USING (ocid)
WHERE true {prune}
ORDER BY r.ocid, r.date, r.release_id, r.key, r.row
"""


# Between refreshes: the releases stored after the cut (a view over their partitions only), and the processes that got
# them, with the links of their earlier releases from the index and of the new ones from the changes files.
RECENT_ROWS = f"""
CREATE VIEW recent_rows AS
SELECT ocid, release_id, date, {KEY_SQL} AS key, file_row_number AS row, release
FROM read_parquet($files, filename = true, file_row_number = true)
"""
RECENT_RELEASES = f"""
SELECT ocid, date, release_id, release, {COUNTS.format("release")} FROM recent_rows
ORDER BY ocid, date, release_id, key, row
"""
RECENT_LINKS = """
SELECT ocid, date, release_id, key, row, CAST(json_extract(release, '$.tag') AS VARCHAR) AS tag FROM recent_rows
"""
COMPILED_SINCE = f"""
SELECT c.ocid, c.compiled, {COUNTS.format("c.compiled")} FROM read_parquet($files, filename = true) c
JOIN process_index p ON p.ocid = c.ocid AND p.last_key = {KEY_SQL.replace("filename", "c.filename")}
WHERE p.last_key > $cut ORDER BY c.ocid
"""
LINKS_SINCE = """
SELECT ocid, date, release_id, key, row, tag, url FROM (SELECT * FROM old_links UNION ALL SELECT * FROM recent_links)
ORDER BY ocid, date, release_id, key, row
"""


def cut_of(ends: Mapping[str, str], days: int) -> str:
    """Return the cut night of the last interval of ``ends`` (:func:`interval_ends`): the first interval, then each
    first one that ends ``days`` or more after the last cut ends. With recorded ends, a night's end never moves when
    later nights are stored after a gap."""
    moments = {key: dt.datetime.fromisoformat(end) for key, end in ends.items()}
    ordered = sorted(moments)
    cut = ordered[0]
    for key in ordered[1:]:
        if (moments[key] - moments[cut]).total_seconds() >= days * 86_400:
            cut = key
    return cut


Split = tuple[str, tuple[str, ...]]  # a release file's path and its first release (ocid, date, id)


def _splits(parts: list[PackageFile]) -> list[Split]:
    """Return where the files of a release cut split: the path and first release of every part after the first."""
    return [(p.path, tuple(str(v or "") for v in p.first)) for p in parts[1:]]


def _first_shift(new: list[Split], old: list[Split]) -> tuple[str, ...] | None:
    """Return the first release (ocid, date, id) from which the files of a release cut may differ: the earlier first
    release of the first split that differs between the ``new`` and ``old`` files; None when none does."""
    for ours, theirs in itertools.zip_longest(new, old):
        if ours != theirs:
            return min(split[1] for split in (ours, theirs) if split is not None)
    return None


def index_name(parts: list[PackageFile], hashes: dict[str, str]) -> str:
    """Return the file name of the link index of a yearly record cut, named by its files' checksums."""
    made_of = "\n".join(hashes[p.path] for p in parts).encode()
    return f"links-{hashlib.blake2b(made_of, digest_size=16).hexdigest()}.parquet"


def prune_index(root: Path, publications: Iterable[Path], younger: float = 86_400) -> int:
    """Remove the link indexes that no cut publication among ``publications`` uses; return how many.

    A cut publication may still give the yearly files of a backfilled night, so its indexes stay while it exists.
    Indexes younger than ``younger`` seconds stay too: a run publishing at the same time may have just written them.
    """
    keep = set()
    for folder in publications:
        cut = Previous.read(folder)
        if cut.cut_key == folder.name:
            for (kind, _), parts in cut.yearly_cuts().items():
                if kind == "record-package" and all(p.path in cut.hashes for p in parts):
                    keep.add(index_name(parts, cut.hashes))
    removed = 0
    now = time.time()
    for path in (root / INDEX).glob("links-*.parquet") if (root / INDEX).is_dir() else []:
        if path.name not in keep and now - path.stat().st_mtime > younger:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _literal(paths: list[str]) -> str:
    """Return a SQL list literal of file paths (the store's own paths; quotes doubled all the same)."""
    return "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in paths) + "]"


def _prune(year: str, column: str, *, within: bool) -> str:
    """Return a date range the Parquet statistics skip row groups with: ``year`` and later (every release of a
    process comes on or after its first), or ``year`` only (``within``). Literals: ``year`` is four digits."""
    if not year.isdigit():
        return ""
    bound = f"AND {column} >= '{int(year):04d}'"
    return bound + f" AND {column} < '{int(year) + 1:04d}'" if within else bound


@dataclass
class Previous:
    """What the previous publication offers for reuse: its files, checksums and OCDS file descriptions."""

    folder: Path | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    build: str | None = None  # what its package metadata was made of: reuse only under the same
    cut_key: str | None = None  # the key of the publication its yearly and full files were written in
    history: str | None = None  # the digest of the releases stored up to it (Store.history_digest)

    @property
    def key(self) -> str | None:
        """Return the previous publication's key (its folder name)."""
        return self.folder.name if self.folder else None

    @classmethod
    def read(cls, folder: Path | None) -> Previous:
        """Read a publication's ``SHA256SUMS`` and ``datapackage.json`` (either may be missing: nothing reused)."""
        if folder is None:
            return cls()
        hashes: dict[str, str] = {}
        if (folder / "SHA256SUMS").is_file():
            for line in (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
                digest, _, relative = line.partition("  ")
                hashes[relative] = digest
        resources: dict[str, dict[str, Any]] = {}
        own: dict[str, Any] = {}
        if (folder / "datapackage.json").is_file():
            descriptor = jsonio.read_json(folder / "datapackage.json")
            resources = {r["path"]: r for r in descriptor.get("resources", [])}
            own = descriptor.get("semaforo") or {}
        return cls(folder, hashes, resources, own.get("build"), own.get("cut"), own.get("history"))

    def cut(self, kind: str, cut: str) -> list[PackageFile]:
        """Return the previous files of one cut, in part order (empty when it had none)."""
        found = [
            PackageFile.from_properties(path, r["ocds"])
            for path, r in self.resources.items()
            if "ocds" in r and r["ocds"].get("packageType") == kind and r["ocds"].get("cut") == cut
        ]
        return sorted(found, key=lambda f: f.part)

    def yearly_cuts(self) -> dict[tuple[str, str], list[PackageFile]]:
        """Return the previous yearly files by (kind, year cut), in part order."""
        found = {
            (r["ocds"]["packageType"], r["ocds"]["cut"])
            for r in self.resources.values()
            if "ocds" in r and r["ocds"].get("cut") not in ("full", CHANGES)
        }
        return {(kind, cut): self.cut(kind, cut) for kind, cut in sorted(found)}

    def reuse(self, relative: str, staging: Path, hashes: dict[str, str]) -> None:
        """Hard-link one previous file into the staging folder and take its checksum from ``SHA256SUMS``."""
        assert self.folder is not None
        link_or_copy(self.folder / relative, staging / relative)
        if relative in self.hashes:
            hashes[relative] = self.hashes[relative]


@dataclass
class OcdsResult:
    """What :func:`write_packages` wrote or reused."""

    files: list[PackageFile] = field(default_factory=list)
    record_files: pa.Table | None = None  # ocid → its yearly record file
    touched: list[str] = field(default_factory=list)  # ocids with releases stored after the previous publication
    new: set[str] = field(default_factory=set)  # … of which first stored after it
    records: int = 0
    releases: int = 0
    rewritten: list[str] = field(default_factory=list)  # yearly cuts written tonight, e.g. "records/2026"
    reused: list[str] = field(default_factory=list)  # yearly cuts linked from the previous publication
    cut: str | None = None  # the key of the publication the yearly files were written in (tonight's, if refreshed)
    base: Previous | None = None  # that publication, when it is not tonight's: its flat files are linked too


class Packages:
    """Plan and write the OCDS files of one night (one DuckDB session over the store)."""

    def __init__(
        self,
        staging: Path,
        store: Store,
        interval: Interval,
        previous: Previous,
        meta: Callable[[str, str], dict[str, Any]],
        *,
        clean: Callable[[bytes], bytes],
        limit: int,
        hashes: dict[str, str],
        spill: Path,
        max_bytes: int = MAX_FILE_BYTES,
        package_size: int = PACKAGE_SIZE,
        build: str | None = None,
        refresh_days: int = 0,
    ) -> None:
        self.staging, self.store, self.interval, self.previous = staging, store, interval, previous
        self.index = staging.parent / INDEX
        self.meta, self.clean, self.hashes = meta, clean, hashes
        self.spill = spill  # DuckDB's spill folder, removed when the files are written
        self.options = {"limit": limit, "max_bytes": max_bytes, "package_size": package_size}
        self.limit, self.max_bytes = limit, max_bytes
        # Files are reused only from a publication whose package metadata was made of the same (``build``).
        self.reusable = previous.folder is not None and previous.build == build
        self.keys = [k for k in store.keys(interval.key)]
        recorded = {key: end for key in self.keys if (end := store.interval_end(key)) is not None}
        self.ends = interval_ends(self.keys, interval, recorded)
        # Between cuts, the cut night's publication gives the yearly and full files (its stored history is checked
        # in _changes); a rebuild of such a night links them all the same.
        cut = cut_of(self.ends, refresh_days)
        base = Previous.read(staging.parent / cut) if cut != interval.key and (staging.parent / cut).is_dir() else None
        self.base = base if base is not None and base.build == build else None

    def _connect(self, tmp: Path) -> duckdb.DuckDBPyConnection:
        con = quiet_connect()
        con.execute("SET memory_limit = ?", [DUCKDB_MEMORY])
        con.execute("SET temp_directory = ?", [str(tmp)])
        con.execute("SET preserve_insertion_order = false")
        return con

    def write(self) -> OcdsResult:
        """Write or reuse every yearly file, then assemble the full files."""
        result = OcdsResult()
        files = [str(self.store.releases_path(k)) for k in self.keys]
        compiled = [str(self.store.compiled_path(k)) for k in self.store.compiled_keys(self.interval.key)]
        try:
            with self._connect(self.spill) as con:
                if files:
                    self._plan(con, files, compiled, result)
                else:  # nothing stored yet: empty full files only
                    result.cut = self.interval.key
                    result.record_files = pa.table(
                        {"ocid": pa.array([], pa.string()), "record_file": pa.array([], pa.string())}
                    )
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)
        if result.cut == self.interval.key:  # between cuts, the full files are the cut's too
            yearly = sorted(result.files, key=lambda f: (f.kind, f.cut, f.part))
            for kind in KINDS:
                result.files += self._full(kind, [f for f in yearly if f.kind == kind])
        result.files.sort(key=lambda f: f.path)
        return result

    def _plan(self, con: duckdb.DuckDBPyConnection, files: list[str], compiled: list[str], result: OcdsResult) -> None:
        previous_key = self.previous.key or ""
        # What the yearly files of the previous publication hold: the store as of their cut.
        since = self.previous.cut_key or previous_key
        # A view cannot take parameters: the file list is a literal (our own paths, quoted).
        con.execute(RELEASE_ROWS.replace("$files", _literal(files)))
        con.execute(PROCESS_INDEX.replace("$previous", "?"), [since])
        # The history under the previous publication was stored again since (a re-run of an old night, say), with
        # other releases: nothing of it is reused.
        if self.reusable and self.previous.history != self.store.history_digest(previous_key):
            log.warning(
                "publish: the releases stored up to %s changed since it was published: rewriting", previous_key
            )
            self.reusable = False
        touched = con.execute(
            "SELECT ocid, first_key > ? FROM process_index WHERE last_key > ? ORDER BY ocid",
            [previous_key, previous_key],
        ).fetchall()
        result.touched = [ocid for ocid, _ in touched]
        result.new = {ocid for ocid, new in touched if new}
        row = con.execute("SELECT count(*) FROM process_index").fetchall()[0]
        result.records = int(row[0]) if row else 0
        if self.base is not None and self._changes(con, self.base, result):
            record_parts = [f for f in result.files if f.kind == "record-package"]
            result.record_files = self._record_files(con, record_parts, result.cut)
            return
        result.cut = self.interval.key
        release_years = {
            year: (last, count)
            for year, last, count in con.execute(RELEASE_YEARS.replace("$previous", "?"), [since]).fetchall()
        }
        record_years: dict[str, str] = {}
        for year, last in con.execute(RECORD_YEARS).fetchall():
            record_years[year] = max(last, record_years.get(year, ""))
        live = {year for (year,) in con.execute("SELECT DISTINCT year FROM process_index").fetchall()}

        locations: dict[str, list[PackageFile]] = {}  # release year → its files, to link records to releases
        moved: set[str] = set()  # record years linking a release whose file moved
        for year in sorted(release_years):
            last, arrived = release_years[year]
            parts = self._reuse("release-package", year, changed=arrived > 0)
            if parts is None:
                parts = self._write_releases(con, year, self.ends[last])
                result.rewritten.append(f"releases/{year}")
                # Records link releases by file: where this year's files now split elsewhere, the record files
                # linking a release past the first moved split are written again.
                shifted = _first_shift(_splits(parts), _splits(self.previous.cut("release-package", year)))
                if shifted is not None:
                    ocid, date, release_id = shifted
                    params = [year, ocid, ocid, date, date, release_id]
                    moved |= {y for (y,) in con.execute(LINKED_PAST.replace("$year", "?"), params).fetchall()}
            else:
                result.reused.append(f"releases/{year}")
            locations[year] = parts
            result.files += parts
            result.releases += sum(p.items for p in parts)
        for year in sorted(live):
            last = record_years[year]
            parts = self._reuse("record-package", year, changed=last > since or year in moved)
            if parts is None:
                parts = self._write_records(con, compiled, year, self.ends[last], locations)
                result.rewritten.append(f"records/{year}")
            else:
                result.reused.append(f"records/{year}")
            result.files += parts
        result.record_files = self._record_files(con, [f for f in result.files if f.kind == "record-package"], None)

    def _reuse(self, kind: str, cut: str, *, changed: bool) -> list[PackageFile] | None:
        """Link a cut's previous files when nothing in it changed; None when it must be written."""
        if changed or not self.reusable:
            return None
        parts = self.previous.cut(kind, cut)
        if not parts or any(p.path not in self.previous.hashes for p in parts):
            return None
        if kind == "record-package" and not self._index_path(parts, self.previous.hashes).is_file():
            return None  # written again, with its link index
        for part in parts:
            self.previous.reuse(part.path, self.staging, self.hashes)
        return parts

    def _changes(self, con: duckdb.DuckDBPyConnection, base: Previous, result: OcdsResult) -> bool:
        """Link every yearly and full file of the cut's publication ``base`` and write the ``changes`` files.

        Returns False, having linked nothing, when that cannot be done: then the night refreshes.
        """
        cut = base.key
        kept = {**base.yearly_cuts(), **{(kind, "full"): base.cut(kind, "full") for kind in KINDS}}
        yearly = {kc: parts for kc, parts in kept.items() if kc[1] != "full"}
        if (
            cut is None
            or base.cut_key != cut
            or not yearly
            or any(not parts or any(p.path not in base.hashes for p in parts) for parts in kept.values())
        ):
            return False
        if base.history != self.store.history_digest(cut):
            log.warning("publish: the releases stored up to %s changed since it was published: cutting tonight", cut)
            return False
        index = [
            str(self._index_path(parts, base.hashes))
            for (kind, _), parts in yearly.items()
            if kind == "record-package"
        ]
        try:  # the earlier links of the processes changed since the cut (the index may be pruned meanwhile)
            con.execute(
                "CREATE TABLE old_links AS SELECT * FROM read_parquet(?) "
                "SEMI JOIN (SELECT ocid FROM process_index WHERE last_key > ?) USING (ocid)",
                [index, cut],
            )
        except (duckdb.IOException, OSError) as exc:
            log.warning("publish: cannot read the link index of %s (%s): refreshing", cut, exc)
            return False
        result.cut, result.base = cut, base
        for (kind, year), parts in kept.items():
            for part in parts:
                base.reuse(part.path, self.staging, self.hashes)
            result.files += parts
            if year != "full":
                result.reused.append(f"{KINDS[kind]}/{year}")
            if kind == "release-package" and year != "full":
                result.releases += sum(p.items for p in parts)
        recent = [k for k in self.keys if k > cut]
        if not recent:
            return True
        published = self.ends[recent[-1]]
        con.execute(RECENT_ROWS.replace("$files", _literal([str(self.store.releases_path(k)) for k in recent])))
        writer = self._writer("release-package", CHANGES, published)
        for ocid, date, release_id, text, awards, contracts in self._rows(con, RECENT_RELEASES, []):
            writer.add(self.clean(text.encode()), awards, contracts, first=[ocid, date, release_id])
        writer.close()
        self._check(con, "SELECT count(*) FROM recent_rows", None, writer.files, "releases")
        result.files += writer.files
        result.releases += sum(p.items for p in writer.files)
        url = self._linker({CHANGES: writer.files}, published)
        new = con.sql(RECENT_LINKS).to_arrow_table()
        keys = zip(*(new.column(c).to_pylist() for c in ("ocid", "date", "release_id")), strict=True)
        urls = pa.array([url(CHANGES, *key) for key in keys], pa.string())
        con.register("new_links", new.append_column("url", urls))  # a table, so the cursors see it too
        con.execute("CREATE TABLE recent_links AS SELECT * FROM new_links")
        compiled = [str(self.store.compiled_path(k)) for k in self.store.compiled_keys(self.interval.key) if k > cut]
        records = self._writer("record-package", CHANGES, published)
        query = COMPILED_SINCE.replace("$files", "?").replace("$cut", "?")
        links = self._rows(con, LINKS_SINCE, [])
        self._fill(records, self._rows(con, query, [compiled, cut]), links)
        records.close()
        self._check(con, "SELECT count(*) FROM process_index WHERE last_key > ?", cut, records.files, "records")
        result.files += records.files
        result.rewritten += [f"{KINDS[f.kind]}/{CHANGES}" for f in (*writer.files[:1], *records.files[:1])]
        log.info("publish: wrote the changes since %s (%s releases)", cut, sum(p.items for p in writer.files))
        return True

    def _index_path(self, parts: list[PackageFile], hashes: dict[str, str]) -> Path:
        return self.index / index_name(parts, hashes)

    def _writer(self, kind: str, cut: str, published: str) -> PackageWriter:
        stem = f"{KINDS[kind]}/{cut}"
        return PackageWriter(self.staging, stem, kind, cut, lambda path: self.meta(path, published), **self.options)

    def _rows(self, con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
        """Stream a query's rows on a cursor of its own (two streams are merged at once)."""
        with con.cursor() as cursor:
            cursor.execute(query, params)
            while batch := cursor.fetchmany(BATCH):
                yield from batch

    def _write_releases(self, con: duckdb.DuckDBPyConnection, year: str, published: str) -> list[PackageFile]:
        writer = self._writer("release-package", year, published)
        query = RELEASES_OF_YEAR.replace("$year", "?").format(prune=_prune(year, "date", within=True))
        for ocid, date, release_id, text, awards, contracts in self._rows(con, query, [year]):
            writer.add(self.clean(text.encode()), awards, contracts, first=[ocid, date, release_id])
        writer.close()
        self._check(con, "SELECT count(*) FROM release_rows WHERE year = ?", year, writer.files, "releases")
        log.info("publish: wrote releases/%s (%s files)", year, len(writer.files))
        return writer.files

    def _linker(self, locations: dict[str, list[PackageFile]], published: str) -> Callable[[str, str, str, str], str]:
        """Return the URL of a release (by its year cut, ocid, date and id) in the release files of ``locations``."""
        firsts = {y: [tuple(p.first) for p in parts] for y, parts in locations.items()}
        uris: dict[str, str] = {}

        def url(release_year: str, ocid: str, date: str, release_id: str) -> str:
            parts = locations[release_year]
            index = max(0, bisect.bisect_right(firsts[release_year], (ocid, date, release_id)) - 1)
            path = parts[index].path
            if path not in uris:
                uris[path] = self.meta(path, published)["uri"]
            return f"{uris[path]}#{release_id}"

        return url

    def _write_records(
        self,
        con: duckdb.DuckDBPyConnection,
        compiled: list[str],
        year: str,
        published: str,
        locations: dict[str, list[PackageFile]],
    ) -> list[PackageFile]:
        writer = self._writer("record-package", year, published)
        url = self._linker(locations, published)
        prune = _prune(year, "r.date", within=False)
        links = (
            (ocid, date, release_id, key, row, tag, url(release_year, ocid, date, release_id))
            for ocid, release_id, date, release_year, tag, key, row in self._rows(
                con, LINKS_OF_YEAR.replace("$year", "?").format(prune=prune), [year]
            )
        )
        # Only the partitions that hold the latest compiled release of one of the year's processes are read.
        wanted = {k for (k,) in con.execute(COMPILED_KEYS_OF_YEAR.replace("$year", "?"), [year]).fetchall()}
        files = [str(self.store.compiled_path(k)) for k in sorted(wanted)]
        query = COMPILED_OF_YEAR.replace("$files", "?").replace("$year", "?")
        self.index.mkdir(parents=True, exist_ok=True)
        with _LinkSink(self.index / f".links-{os.getpid()}-{year}.tmp") as index:
            self._fill(writer, self._rows(con, query, [files, year]), links, index)
        writer.close()
        self._check(con, "SELECT count(*) FROM process_index WHERE year = ?", year, writer.files, "records")
        for part in writer.files:  # the checksums name the link index (and are not computed again)
            self.hashes[part.path] = sha256(self.staging / part.path)
        os.replace(index.path, self._index_path(writer.files, self.hashes))
        log.info("publish: wrote records/%s (%s files)", year, len(writer.files))
        return writer.files

    def _fill(
        self,
        writer: PackageWriter,
        records: Iterator[tuple[Any, ...]],
        links: Iterator[tuple[Any, ...]],
        index: _LinkSink | None = None,
    ) -> None:
        """Write each ``(ocid, compiled, awards, contracts)`` as a record linking its releases.

        ``links`` yields ``(ocid, date, release_id, key, row, tag, url)`` in the order of the records' ocids, then of
        the releases; ``index`` keeps them.
        """
        pending = next(links, None)
        for ocid, text, awards, contracts in records:
            found = []
            while pending is not None and pending[0] <= ocid:
                if pending[0] == ocid:
                    found.append({"url": pending[6], "date": pending[1], "tag": jsonio.loads(pending[5])})
                    if index is not None:
                        index.add(pending)
                pending = next(links, None)
            record = b'{"ocid":%b,"releases":%b,"compiledRelease":%b}' % (
                jsonio.dumps(ocid),
                jsonio.dumps(found),
                self.clean(text.encode()),
            )
            packages = {link["url"].rsplit("#", 1)[0] for link in found}
            writer.add(record, awards, contracts, packages, first=[ocid])

    @staticmethod
    def _check(
        con: duckdb.DuckDBPyConnection, query: str, param: str | None, files: list[PackageFile], what: str
    ) -> None:
        """Stop when the files of a cut (the year ``param``, or the changes since the cut ``param``) do not hold what
        the store has (nothing is dropped silently)."""
        row = con.execute(query, [] if param is None else [param]).fetchall()[0]
        expected, written = int(row[0]) if row else 0, sum(f.items for f in files)
        if written != expected:
            raise RuntimeError(
                f"{what} of {files[0].cut if files else param}: {written:,} written but the store has {expected:,}"
            )

    def _record_files(self, con: duckdb.DuckDBPyConnection, parts: list[PackageFile], cut: str | None) -> pa.Table:
        """Return (ocid, record_file) of every process: the part of its year whose first ocid is the last ≤ it; the
        ``changes`` files for the processes that got releases after the ``cut`` (None: none)."""
        starts = pa.table(
            {
                "year": [p.cut for p in parts],
                "first": [p.first[0] if p.first else "" for p in parts],
                "path": [p.path for p in parts],
            }
        )
        con.register("record_parts", starts)
        year = "year" if cut is None else f"CASE WHEN last_key > ? THEN '{CHANGES}' ELSE year END"
        return con.sql(
            f"SELECT i.ocid, p.path AS record_file FROM (SELECT ocid, {year} AS year FROM process_index) i "
            "ASOF JOIN record_parts p ON i.year = p.year AND i.ocid >= p.first ORDER BY i.ocid",
            params=[] if cut is None else [cut],
        ).to_arrow_table()

    def _full(self, kind: str, yearly: list[PackageFile]) -> list[PackageFile]:
        """Concatenate the yearly files into full files within the limits; link one that holds a single file."""
        groups: list[list[PackageFile]] = []
        for item in yearly:
            current = groups[-1] if groups else None
            if current is None or not self._fits(current, item):
                groups.append([item])
            else:
                current.append(item)
        stem = KINDS[kind]
        full: list[PackageFile] = []
        for number, group in enumerate(groups or [[]], start=1):
            path = f"{stem}.jsonl.gz" if number == 1 else f"{stem}-{number}.jsonl.gz"
            target = PackageFile(path, kind, "full", number, members=[item.path for item in group])
            for item in group:
                target.packages += item.packages
                target.items += item.items
                target.awards += item.awards
                target.contracts += item.contracts
                target.bytes += item.bytes
            self._assemble(target, group)
            full.append(target)
        return full

    def _fits(self, group: list[PackageFile], item: PackageFile) -> bool:
        return (
            sum(g.awards for g in group) + item.awards <= self.limit
            and sum(g.contracts for g in group) + item.contracts <= self.limit
            and sum(g.bytes for g in group) + item.bytes <= self.max_bytes
        )

    def _assemble(self, target: PackageFile, group: list[PackageFile]) -> None:
        destination = self.staging / target.path
        if not group:  # nothing published yet: an empty gzip file, so the full files always exist
            destination.write_bytes(gzip.compress(b"", compresslevel=jsonio.GZIP_LEVEL, mtime=0))
            return
        if len(group) == 1:
            link_or_copy(self.staging / group[0].path, destination)
            if group[0].path in self.hashes:
                self.hashes[target.path] = self.hashes[group[0].path]
            return
        previous = self.previous.resources.get(target.path, {}).get("ocds", {})
        same = previous.get("members") == target.members and all(m in self.hashes for m in target.members)
        if same and self.reusable and target.path in self.previous.hashes:
            old = [self.previous.hashes.get(m) for m in target.members]
            if old == [self.hashes[m] for m in target.members]:  # the same files, in the same order
                self.previous.reuse(target.path, self.staging, self.hashes)
                return
        with open(destination, "wb") as out:
            for item in group:
                with open(self.staging / item.path, "rb") as source:
                    _append(source, out)


class _LinkSink:
    """Write link index rows (:data:`LINK_SCHEMA`) to a Parquet file in batches."""

    BATCH = 65_536

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = pq.ParquetWriter(path, LINK_SCHEMA, compression="zstd")
        self.rows: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            columns = list(zip(*self.rows, strict=True))
            self.writer.write_table(pa.table(dict(zip(LINK_SCHEMA.names, columns, strict=True)), schema=LINK_SCHEMA))
            self.rows = []

    def __enter__(self) -> _LinkSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._flush()
        self.writer.close()
        if exc[0] is not None:
            self.path.unlink(missing_ok=True)


def _append(source: IO[bytes], out: IO[bytes]) -> None:
    """Append one file to another: a kernel copy where the platform has one, no bytes through Python."""
    size = os.fstat(source.fileno()).st_size
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < size and (done := os.copy_file_range(source.fileno(), out.fileno(), size - copied)):
                copied += done
        except OSError as exc:  # EXDEV, ENOSYS, EINVAL on some filesystems: copy the rest through Python
            log.debug("copy_file_range failed (%s): copying", exc.strerror)
    source.seek(copied)
    out.seek(0, os.SEEK_END)
    shutil.copyfileobj(source, out)

"""Publish a dated folder for civil society, then point ``publish/latest`` at it atomically.

``publish/<key>/`` holds (REFERENCE §5):

- ``records.jsonl.gz`` and ``releases.jsonl.gz``: every OCDS 1.1 record and release as record and release packages
  (gzip JSON Lines, up to :data:`PACKAGE_SIZE` records or releases per line, ordered by ocid). ``records/<YYYY>``
  and ``releases/<YYYY>`` cut the same by year: a record by ``compiledRelease.date[:4]`` (the OCP Data Registry's
  rule), a release by its own ``date``; ``…/undated`` holds what has no date, so the years add up to the full
  files. A file that would pass the hosting limits (``publication_file_limit`` awards or contracts, 1 GB
  uncompressed) continues in ``-2``, ``-3`` …. Records link their releases as ``<release file uri>#<release id>``,
  oldest first, to the release files of the same cut (full or yearly).
- ``flat/``: CSV bundles and Excel workbooks (:mod:`transforms.flat`); ``parquet/`` and ``semaforo.duckdb``: the
  warehouse tables; ``flags.csv``, ``checks.csv``, ``field_coverage.csv`` and one CSV per other ``out_`` table.
- ``changes.csv``: the OCIDs added, changed (another compiled release) or removed since the previous publication,
  which is the latest dated folder before this one (by name, never through ``latest``).
- ``schemas/`` (the Table Schema of every table), ``data_dictionary.md``, ``indicators.md``, ``data_docs/``.
- ``index.html`` and ``lookup/``: the download page (:mod:`transforms.site`).
- ``datapackage.json`` (Frictionless) describing every file, and ``SHA256SUMS``.

Personal data is withheld or kept as ``publication_personal_data`` says (:mod:`transforms.redact`). Package metadata
(``publishedDate``) and archive times come from the data interval, never from the clock, so a re-run of an interval
gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

from transforms import flat, jsonio, site, tables
from transforms.dictionary import render_data_dictionary
from transforms.intervals import MEXICO_CITY, Interval
from transforms.ocds.mapping import EXTENSIONS
from transforms.redact import redactor
from transforms.settings import LIBRE_USO_MX, Settings
from transforms.store import Store

PACKAGE_SIZE = 1000  # records or releases per package line
MAX_FILE_BYTES = 1_000_000_000  # OCDS hosting guidance: at most 1 GB uncompressed per file
PACKAGE_OVERHEAD = 16_384  # room for one package's metadata (its "packages" list grows with the files linked)
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FULL_RECORDS = re.compile(r"^records(-\d+)?\.jsonl\.gz$")
# Two builds of the same DuckDB file differ byte for byte (random ids in its header): the page leaves its checksum to
# SHA256SUMS, so the page itself stays the same for the same data (as every file but SHA256SUMS and datapackage.json).
UNREPRODUCIBLE = (".duckdb",)
LICENCES = {
    LIBRE_USO_MX: {"path": LIBRE_USO_MX, "title": "Términos de Libre Uso MX"},
    "https://creativecommons.org/licenses/by/4.0/": {
        "name": "CC-BY-4.0",
        "path": "https://creativecommons.org/licenses/by/4.0/",
        "title": "Creative Commons Attribution 4.0",
    },
}
# The page's download groups: (id, heading, collapsed behind a <details>).
GROUPS = (
    ("ocds", "Datos OCDS: paquetes de registros y de entregas (JSON Lines, gzip)", False),
    ("flat", "Tablas planas: CSV (ZIP) y Excel", False),
    ("results", "Banderas rojas, puntajes, controles de calidad y cambios (CSV)", False),
    ("database", "Base de datos DuckDB", False),
    ("parquet", "Tablas en Parquet", True),
    ("docs", "Documentación", False),
    ("schemas", "Esquemas de las tablas (Frictionless Table Schema)", True),
    ("data_docs", "Informe de calidad de datos (Great Expectations Data Docs)", True),
    ("lookup", "Índice de búsqueda por OCID", True),
)
CSV_NAMES = {"out_flags": "flags.csv", "out_checks": "checks.csv", "core_field_coverage": "field_coverage.csv"}
CHANGES_SCHEMA = {
    "fields": [
        {"name": "ocid", "type": "string", "description": "The process (OCDS ocid)."},
        {
            "name": "change",
            "type": "string",
            "description": "added: new since the previous publication; changed: its compiled release differs; "
            "removed: no longer published.",
            "constraints": {"required": True, "enum": ["added", "changed", "removed"]},
        },
    ],
    "primaryKey": ["ocid"],
}


def package_metadata(settings: Settings, key: str, name: str, published: str) -> dict[str, Any]:
    """Return the metadata every package of a publication carries (``uri`` is the file's own URL)."""
    return {
        "uri": f"{settings.publication_base_uri.rstrip('/')}/{key}/{name}",
        "version": "1.1",
        "publishedDate": published,
        "publisher": {"name": settings.publisher_name, "uri": settings.publisher_uri},
        "license": settings.license_url,
        "publicationPolicy": settings.publication_policy_url,
        "extensions": EXTENSIONS,
    }


def year_of(date: Any) -> str:
    """Return the year cut of an OCDS date, ``YYYY``, or ``undated``."""
    if isinstance(date, str) and len(date) >= 4 and date[:4].isdigit():
        return date[:4]
    return "undated"


# -- OCDS packages --------------------------------------------------------------------------------------------
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

    def add(self, item: bytes, awards: int, contracts: int, links: Iterable[str] = ()) -> str:
        """Add one serialized release or record; return the path of the file it went to."""
        if not self.files or not self._fits(self.files[-1], awards, contracts, len(item) + 1):
            self.open()
        current = self.files[-1]
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


@dataclass
class OcdsResult:
    """What :func:`write_ocds` wrote."""

    files: list[PackageFile] = field(default_factory=list)
    record_files: dict[str, str] = field(default_factory=dict)  # ocid → its yearly record file
    digests: dict[str, bytes] = field(default_factory=dict)  # ocid → compiled_digest of what was published
    records: int = 0
    releases: int = 0


def write_ocds(
    folder: Path,
    processes: Iterable[tuple[dict[str, Any] | None, list[dict[str, Any]]]],
    meta: Callable[[str], dict[str, Any]],
    *,
    clean: Callable[[Any], Any],
    limit: int,
    max_bytes: int = MAX_FILE_BYTES,
    package_size: int = PACKAGE_SIZE,
) -> OcdsResult:
    """Write the full and yearly record and release files of ``(compiled release, releases)`` pairs.

    ``processes`` come ordered by ocid, each with its releases oldest first; ``meta(path)`` gives the package
    metadata of a file; ``clean`` applies the publication policy to each release and compiled release.
    """
    options = {"limit": limit, "max_bytes": max_bytes, "package_size": package_size}
    writers: dict[tuple[str, str], PackageWriter] = {}
    uris: dict[str, str] = {}

    def writer(kind: str, cut: str) -> PackageWriter:
        if (kind, cut) not in writers:
            stem = kind.split("-")[0] + "s"  # records, releases
            stem = stem if cut == "full" else f"{stem}/{cut}"
            writers[kind, cut] = PackageWriter(folder, stem, kind, cut, meta, **options)
        return writers[kind, cut]

    def uri(path: str) -> str:
        if path not in uris:
            uris[path] = meta(path)["uri"]
        return uris[path]

    for kind in ("record-package", "release-package"):
        writer(kind, "full").open()  # the full files exist even when there is nothing to publish
    result = OcdsResult()
    for compiled, releases in processes:
        links: dict[str, list[dict[str, Any]]] = {"full": [], "year": []}
        for release in releases:
            release = clean(release)
            data = jsonio.dumps(release)
            awards, contracts = len(release.get("awards") or []), len(release.get("contracts") or [])
            for cut, target in (("full", "full"), ("year", year_of(release.get("date")))):
                path = writer("release-package", target).add(data, awards, contracts)
                url = f"{uri(path)}#{release['id']}"
                links[cut].append({"url": url, "date": release["date"], "tag": release["tag"]})
            result.releases += 1
        if compiled is None:
            continue
        compiled = clean(compiled)
        ocid = compiled["ocid"]
        body = jsonio.dumps(compiled)
        awards, contracts = len(compiled.get("awards") or []), len(compiled.get("contracts") or [])
        for cut, target in (("full", "full"), ("year", year_of(compiled.get("date")))):
            record = b'{"ocid":%b,"releases":%b,"compiledRelease":%b}' % (
                jsonio.dumps(ocid),
                jsonio.dumps(links[cut]),
                body,
            )
            packages = {link["url"].rsplit("#", 1)[0] for link in links[cut]}
            path = writer("record-package", target).add(record, awards, contracts, packages)
            if cut == "year":
                result.record_files[ocid] = path
        result.digests[ocid] = compiled_digest(compiled)
        result.records += 1
    for item in writers.values():
        item.close()
        result.files += item.files
    result.files.sort(key=lambda f: f.path)
    return result


RELEASES_BY_OCID = """
SELECT ocid, release FROM read_parquet(?, filename = true, file_row_number = true)
ORDER BY ocid, date, release_id, filename, file_row_number
"""


def _release_groups(store: Store, key: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    files = [str(store.releases_path(k)) for k in store.keys(key)]
    if not files:
        return
    with duckdb.connect() as con:
        cursor = con.execute(RELEASES_BY_OCID, [files])
        ocid, group = "", list[dict[str, Any]]()
        while batch := cursor.fetchmany(5000):
            for row_ocid, text in batch:
                if row_ocid != ocid and group:
                    yield ocid, group
                    group = []
                ocid = row_ocid
                group.append(jsonio.loads(text))
        if group:
            yield ocid, group


def processes(store: Store, key: str) -> Iterator[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
    """Yield each process as of ``key``: (compiled release, its releases oldest first), ordered by ocid.

    Both sides stream in ocid order from DuckDB, so memory holds one process at a time. A side without the other
    (which the pipeline never produces) still comes out: ``(None, releases)`` or ``(compiled, [])``.
    """
    compiled = store.iter_compiled(key)
    groups = _release_groups(store, key)
    current, group = next(compiled, None), next(groups, None)
    while current is not None or group is not None:
        if group is None or (current is not None and current["ocid"] < group[0]):
            yield current, []
            current = next(compiled, None)
        elif current is None or group[0] < current["ocid"]:
            yield None, group[1]
            group = next(groups, None)
        else:
            yield current, group[1]
            current, group = next(compiled, None), next(groups, None)


# -- the change list ------------------------------------------------------------------------------------------
def previous_publication(root: Path, key: str) -> Path | None:
    """Return the latest dated publication folder before ``key``, found by folder name (never ``latest``)."""
    if not root.is_dir():
        return None
    keys = sorted(
        p.name for p in root.iterdir() if DATED.match(p.name) and p.name < key and p.is_dir() and not p.is_symlink()
    )
    return root / keys[-1] if keys else None


def published_digests(folder: Path) -> dict[str, bytes]:
    """Return the compiled-release digest of every record in a publication's full record files."""
    digests = {}
    for path in sorted(p for p in folder.iterdir() if FULL_RECORDS.match(p.name)):
        for package in jsonio.read_jsonl(path):
            for record in package.get("records") or []:
                digests[record["ocid"]] = compiled_digest(record.get("compiledRelease"))
    return digests


def changes(previous: dict[str, bytes], current: dict[str, bytes]) -> list[tuple[str, str]]:
    """Return ``(ocid, added|changed|removed)`` rows, ordered by ocid."""
    rows = [(ocid, "added") for ocid in current if ocid not in previous]
    rows += [(ocid, "removed") for ocid in previous if ocid not in current]
    rows += [(ocid, "changed") for ocid, digest in current.items() if ocid in previous and previous[ocid] != digest]
    return sorted(rows)


# -- files, checksums, descriptor -----------------------------------------------------------------------------
def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_of(folder: Path) -> list[str]:
    """Return every file of a folder as sorted relative POSIX paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


FORMATS = {
    ".jsonl.gz": ("jsonl", "application/jsonl"),
    ".csv.zip": ("zip", "application/zip"),
    ".csv": ("csv", "text/csv"),
    ".xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".parquet": ("parquet", "application/vnd.apache.parquet"),
    ".duckdb": ("duckdb", "application/octet-stream"),
    ".json": ("json", "application/json"),
    ".md": ("md", "text/markdown"),
    ".html": ("html", "text/html"),
}


def file_format(path: str) -> tuple[str, str]:
    """Return the Frictionless ``format`` and the media type of a published file."""
    for suffix, known in FORMATS.items():
        if path.endswith(suffix):
            return known
    suffix = Path(path).suffix.lstrip(".").lower()
    return suffix or "bin", mimetypes.guess_type(path)[0] or "application/octet-stream"


def resource_name(path: str, taken: set[str]) -> str:
    """Return a unique Frictionless resource name for a path (lower case letters, digits, ``-``, ``.``, ``_``)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.lower()).strip("-")
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    taken.add(candidate)
    return candidate


def describe(
    folder: Path, catalog: dict[str, dict[str, Any]], hashes: dict[str, str], package: dict[str, Any]
) -> dict[str, Any]:
    """Build the Frictionless data package descriptor: ``package`` plus one resource per file of ``folder``.

    ``catalog`` adds properties by path (description, profile, schema …); the page groups (``group``) stay out.
    """
    resources: list[dict[str, Any]] = []
    taken: set[str] = set()
    for relative in files_of(folder):
        if relative in ("datapackage.json", "SHA256SUMS"):
            continue
        known = catalog.get(relative, {})
        fmt, mediatype = file_format(relative)
        resource: dict[str, Any] = {
            "name": resource_name(relative, taken),
            "path": relative,
            "profile": "data-resource",
            "format": fmt,
            "mediatype": mediatype,
        }
        if relative.endswith(".gz"):
            resource["compression"] = "gz"
        if mediatype.startswith("text/") or fmt in ("json", "jsonl"):
            resource["encoding"] = "utf-8"
        resource["bytes"] = (folder / relative).stat().st_size
        resource["hash"] = f"sha256:{hashes.get(relative) or sha256(folder / relative)}"
        resource.update({k: v for k, v in known.items() if k != "group"})
        resources.append(resource)
    return {**package, "resources": resources}


def write_checksums(folder: Path, hashes: dict[str, str] | None = None) -> None:
    """Write ``SHA256SUMS`` (``sha256sum -c`` format) for every file except itself."""
    hashes = hashes or {}
    lines = [
        f"{hashes.get(relative) or sha256(folder / relative)}  {relative}\n"
        for relative in files_of(folder)
        if relative != "SHA256SUMS"
    ]
    (folder / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def switch_latest(publish_root: Path, key: str) -> None:
    """Point ``publish_root/latest`` at ``key`` atomically (a relative symlink replaced by rename)."""
    tmp = publish_root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(key, tmp)
    os.replace(tmp, publish_root / "latest")


def _indicators() -> dict[str, Any]:
    from models.indicators import registry

    return registry()


def indicator_catalogue() -> str:
    """Return the indicator catalogue (Markdown): ``models.catalogue`` when it exists, else one built here."""
    try:
        from models.catalogue import render_catalogue  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        return str(render_catalogue())
    import importlib

    parts = ["# Indicator catalogue", "", "Every red flag that `out_flags` can hold (`indicator` column).", ""]
    for code, indicator in _indicators().items():
        doc = importlib.import_module(indicator.compute.__module__).__doc__ or ""
        parts += [f"## {code} {indicator.name}", "", f"Stage: {indicator.stage}.", "", doc.strip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def _ocds_description(item: PackageFile, parts: int) -> str:
    what = "registros" if item.kind == "record-package" else "entregas (releases)"
    cut = {"full": "todos los procesos", "undated": "sin fecha"}.get(item.cut, f"año {item.cut}")
    part = f", parte {item.part} de {parts}" if parts > 1 else ""
    return (
        f"Paquetes de {what} OCDS 1.1, {cut}{part}: {item.items:,} {what.split()[0]}, {item.awards:,} "
        f"adjudicaciones, {item.contracts:,} contratos."
    )


# -- the step -------------------------------------------------------------------------------------------------
Catalog = dict[str, dict[str, Any]]  # path → datapackage resource properties, plus the page's "group"


def _publish_ocds(
    settings: Settings, staging: Path, store: Store, key: str, published: str, limit: int, catalog: Catalog
) -> OcdsResult:
    ocds = write_ocds(
        staging,
        processes(store, key),
        lambda path: package_metadata(settings, key, path, published),
        clean=redactor(settings.publication_personal_data),
        limit=limit,
    )
    parts = Counter((item.kind, item.cut) for item in ocds.files)
    for item in ocds.files:
        catalog[item.path] = {
            "group": "ocds",
            "description": _ocds_description(item, parts[item.kind, item.cut]),
            "ocds": {"packageType": item.kind, "cut": item.cut, "part": item.part, "packages": item.packages},
        }
    return ocds


def _publish_changes(
    staging: Path, previous: Path | None, digests: dict[str, bytes], catalog: Catalog
) -> dict[str, Any]:
    changed = changes(published_digests(previous) if previous else {}, digests)
    jsonio.write_json(staging / "schemas" / "changes.json", CHANGES_SCHEMA)
    with open(staging / "changes.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("ocid,change\n")
        fh.writelines(f"{ocid},{change}\n" for ocid, change in changed)
    counted = {kind: sum(1 for _, c in changed if c == kind) for kind in ("added", "changed", "removed")}
    since = f"desde la publicación {previous.name}" if previous else "(primera publicación)"
    catalog["schemas/changes.json"] = {"group": "schemas", "description": "Table Schema de changes.csv."}
    catalog["changes.csv"] = {
        "group": "results",
        "profile": "tabular-data-resource",
        "description": f"Procesos nuevos ({counted['added']:,}), modificados ({counted['changed']:,}) y retirados "
        f"({counted['removed']:,}) {since}.",
        "schema": "schemas/changes.json",
    }
    return {"previous": previous.name if previous else None, **counted}


def _publish_tables(
    staging: Path, warehouse: Path, stamp: dt.datetime, excel_rows: int, catalog: Catalog
) -> dict[str, int]:
    """Copy the DuckDB file and the Parquet files; write the schemas, one CSV per result table and the flat files."""
    shutil.copyfile(warehouse / "semaforo.duckdb", staging / "semaforo.duckdb")
    with duckdb.connect(str(staging / "semaforo.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        table_list = flat.list_tables(con)
        rows = {t.name: flat.count(con, t) for t in table_list}
        for table in table_list:
            jsonio.write_json(staging / "schemas" / f"{table.name}.json", flat.table_schema(table))
            catalog[f"schemas/{table.name}.json"] = {
                "group": "schemas",
                "description": f"Table Schema de {table.name}.",
            }
            csv_name = CSV_NAMES.get(table.name, f"{table.name[4:]}.csv" if table.name.startswith("out_") else "")
            if csv_name:
                with open(staging / csv_name, "w", newline="", encoding="utf-8") as fh:
                    flat.write_csv(con, table, fh)
                catalog[csv_name] = {
                    "group": "results",
                    "profile": "tabular-data-resource",
                    "description": f"La tabla {table.name} ({rows[table.name]:,} filas): "
                    + tables.table_schemas().get(table.name, {}).get("description", ""),
                    "schema": f"schemas/{table.name}.json",
                }
    catalog["semaforo.duckdb"] = {
        "group": "database",
        "description": "Base de datos DuckDB con todas las tablas (esquema estrella, banderas, puntajes, controles); "
        "columnas comentadas.",
        "tables": [{"name": t.name, "rows": rows[t.name], "schema": f"schemas/{t.name}.json"} for t in table_list],
    }
    for name in sorted(p.name for p in (warehouse / "parquet").iterdir() if p.is_dir() and p.name[0] != "."):
        for source in tables.parquet_files(warehouse / "parquet", name):
            relative = source.relative_to(warehouse).as_posix()
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / relative)
            partition = f", {source.parent.name.replace('=', ' ')}" if "=" in source.parent.name else ""
            catalog[relative] = {
                "group": "parquet",
                "description": f"La tabla {name} en Parquet{partition}.",
                **({"schema": f"schemas/{name}.json"} if name in rows else {}),
            }
    for export in flat.export(staging / "semaforo.duckdb", staging / "flat", stamp, excel_rows=excel_rows):
        label = "todos los procesos" if export["year"] is None else f"los procesos iniciados en {export['year']}"
        kind = "CSV en un ZIP, una por tabla" if export["kind"] == "csv-bundle" else "Excel, una hoja por tabla"
        catalog[f"flat/{export['path']}"] = {
            "group": "flat",
            "description": f"Tablas planas de {label} ({kind}).",
            "tables": [{**member, "schema": f"schemas/{member['table']}.json"} for member in export["tables"]],
        }
    return rows


def _publish_documents(staging: Path, warehouse: Path, catalog: Catalog) -> None:
    (staging / "data_dictionary.md").write_text(render_data_dictionary(), encoding="utf-8")
    (staging / "indicators.md").write_text(indicator_catalogue(), encoding="utf-8")
    catalog["data_dictionary.md"] = {"group": "docs", "description": "Diccionario de datos: tablas y columnas."}
    catalog["indicators.md"] = {"group": "docs", "description": "Catálogo de indicadores (banderas rojas)."}
    if (warehouse / "data_docs").is_dir():
        shutil.copytree(warehouse / "data_docs", staging / "data_docs")
        for relative in files_of(staging / "data_docs"):
            catalog[f"data_docs/{relative}"] = {"group": "data_docs", "description": "Great Expectations Data Docs."}
        if (staging / "data_docs" / "index.html").is_file():
            catalog["data_docs/index.html"] = {
                "group": "docs",
                "description": "Informe de calidad de datos (Great Expectations Data Docs): empiece aquí.",
            }


def _publish_page(
    settings: Settings, staging: Path, interval: Interval, facts: dict[str, Any], catalog: Catalog
) -> dict[str, str]:
    """Write the lookup index and ``index.html``; return the SHA-256 of every file so far."""
    ocds: OcdsResult = facts["ocds"]
    rows: dict[str, int] = facts["rows"]
    names = {code: indicator.name for code, indicator in _indicators().items()}
    with duckdb.connect(str(staging / "semaforo.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        shards, shard_files = site.write_lookup(staging, site.lookup_entries(con, ocds.record_files, names))
        figures = site.headline(con)
        last = con.execute("SELECT max(compiled_date) FROM core_contracting_processes").fetchone()
    for name in shard_files:
        catalog[name] = {"group": "lookup", "description": "Índice de búsqueda por OCID de la página (JSON)."}
    hashes = {relative: sha256(staging / relative) for relative in files_of(staging)}
    page = site.Page(
        title="Semáforo: contrataciones públicas de CompraNet en OCDS",
        key=interval.key,
        published=facts["published"],
        last_release=last[0].isoformat() if last and last[0] else None,
        licence_url=settings.license_url,
        licence_title=licence_of(settings)["title"],
        publisher=settings.publisher_name,
        policy_url=settings.publication_policy_url,
        personal_data=settings.publication_personal_data,
        counts={
            "processes": ocds.records,
            "releases": ocds.releases,
            "awards": rows.get("core_awards", 0),
            "contracts": rows.get("core_contracts", 0),
            "flags": rows.get("out_flags", 0),
        },
        changes=facts["changes"],
        charts=site.charts(figures),
        files=[
            site.FileEntry(
                relative,
                (staging / relative).stat().st_size,
                "" if relative.endswith(UNREPRODUCIBLE) else digest,
                catalog.get(relative, {}).get("description", ""),
                catalog.get(relative, {}).get("group", "docs"),
            )
            for relative, digest in hashes.items()
        ],
        groups=GROUPS,
        shards=shards,
        file_limit=facts["limit"],
    )
    (staging / "index.html").write_text(site.render_page(page), encoding="utf-8")
    catalog["index.html"] = {"group": "docs", "description": "Página de descarga de esta publicación."}
    hashes["index.html"] = sha256(staging / "index.html")
    return hashes


def licence_of(settings: Settings) -> dict[str, str]:
    """Return the Frictionless licence entry of the configured licence URL."""
    return LICENCES.get(settings.license_url, {"path": settings.license_url, "title": settings.license_url})


def package_descriptor(settings: Settings, key: str, published: str) -> dict[str, Any]:
    """Return the package-level properties of ``datapackage.json`` (the resources come from :func:`describe`)."""
    personal = "omitidos" if settings.publication_personal_data == "redact" else "publicados tal como en la fuente"
    return {
        "profile": "data-package",
        "name": f"semaforo-{key}",
        "title": f"Semáforo: contrataciones públicas de CompraNet en OCDS 1.1, {key}",
        "description": "Procesos de contratación de CompraNet como paquetes OCDS 1.1, tablas planas, Parquet, DuckDB "
        f"y banderas rojas. Datos personales: {personal}.",
        "homepage": f"{settings.publication_base_uri.rstrip('/')}/{key}/index.html",
        "created": published,
        "licenses": [licence_of(settings)],
        "contributors": [{"title": settings.publisher_name, "path": settings.publisher_uri, "role": "publisher"}],
        "keywords": ["OCDS", "contrataciones abiertas", "CompraNet", "México", "banderas rojas"],
    }


def publish(
    settings: Settings,
    interval: Interval,
    store: Store,
    warehouse: Path,
    *,
    file_limit: int | None = None,
    excel_rows: int = flat.EXCEL_MAX_ROWS,
) -> dict[str, Any]:
    """Write ``publish/<key>/`` from the stores and the warehouse of one interval, then switch ``latest``."""
    key = interval.key
    root = settings.data_root / "publish"
    root.mkdir(parents=True, exist_ok=True)
    # A staging folder of its own: two runs publishing the same night at once must not share one.
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{key}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; a publication is meant to be served
    try:
        # In Mexico City time whichever zone the caller used (Airflow gives UTC): the same night, the same bytes.
        stamp = interval.end.astimezone(MEXICO_CITY)
        published = stamp.isoformat()
        limit = file_limit or settings.publication_file_limit
        catalog: Catalog = {}

        ocds = _publish_ocds(settings, staging, store, key, published, limit, catalog)
        changed = _publish_changes(staging, previous_publication(root, key), ocds.digests, catalog)
        rows = _publish_tables(staging, warehouse, stamp, excel_rows, catalog)
        _publish_documents(staging, warehouse, catalog)
        facts = {"ocds": ocds, "rows": rows, "changes": changed, "published": published, "limit": limit}
        hashes = _publish_page(settings, staging, interval, facts, catalog)
        jsonio.write_json(
            staging / "datapackage.json",
            describe(staging, catalog, hashes, package_descriptor(settings, key, published)),
        )
        hashes["datapackage.json"] = sha256(staging / "datapackage.json")
        write_checksums(staging, hashes)

        final = root / key
        jsonio.swap_dir(staging, final)
        latest = root / "latest"
        current = latest.resolve().name if latest.is_symlink() else ""
        if key >= current:  # a backfill of an older date never moves "latest" backwards
            switch_latest(root, key)
        record_files = [f for f in ocds.files if f.kind == "record-package"]
        return {
            "path": str(final),
            "records": ocds.records,
            "releases": ocds.releases,
            "record_files": len(record_files),
            "release_files": len(ocds.files) - len(record_files),
            "record_packages": sum(f.packages for f in record_files if f.cut == "full"),
            "changes": changed,
            "personal_data": settings.publication_personal_data,
            "files": len(hashes) + 1,
            "bytes": sum((final / relative).stat().st_size for relative in files_of(final)),
        }
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # swapped in already, or abandoned by a failure

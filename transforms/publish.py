"""Publish a dated folder for civil society, then point ``publish/latest`` at it atomically.

``publish/<key>/`` holds (REFERENCE §5):

- ``records/<YYYY>``, ``releases/<YYYY>`` (``…/undated``) and the full ``records.jsonl.gz`` and
  ``releases.jsonl.gz``: every OCDS 1.1 record and release as record and release packages (gzip JSON Lines), cut
  by the year of each process's first release and of each release, the full files made of the yearly ones; see
  :mod:`transforms.packages`.
- ``flat/``: CSV bundles and Excel workbooks (:mod:`transforms.flat`); ``parquet/`` and ``semaforo.duckdb``: the
  warehouse tables; ``flags.csv``, ``checks.csv``, ``field_coverage.csv`` and one CSV per other ``out_`` table.
- ``changes.csv``: the OCIDs added, changed (another compiled release) or removed since the previous publication,
  which is the latest dated folder before this one (by name, never through ``latest``): from the store, comparing
  the compiled releases of the processes that received releases since then only.
- ``schemas/`` (the Table Schema of every table), ``data_dictionary.md``, ``indicators.md``, ``data_docs/``.
- ``index.html`` and ``lookup/``: the download page (:mod:`transforms.site`).
- ``datapackage.json`` (Frictionless) describing every file, and ``SHA256SUMS``.

Personal data is withheld or kept as ``publication_personal_data`` says (:mod:`transforms.redact`). Package metadata
(``publishedDate``) comes from the store's intervals and archive times from the data, never from the clock, so a
re-run of an interval gives the same bytes, and a file whose inputs did not change is the same bytes as in the
previous publication: it is hard-linked from there with its checksum (``rebuild=True`` writes every file, to the
same bytes). Memory stays bounded at a million processes: OCDS files, flat files and lookup shards stream, and
DuckDB sorts under a memory limit.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from transforms import flat, jsonio, packages, site, tables
from transforms.dictionary import render_data_dictionary
from transforms.intervals import MEXICO_CITY, Interval
from transforms.ocds.mapping import EXTENSIONS
from transforms.packages import OcdsResult, PackageFile, Previous, compiled_digest, link_or_copy, year_of
from transforms.redact import redactor, text_redactor
from transforms.settings import LIBRE_USO_MX, Settings
from transforms.store import Store, quiet_connect, sha256

__all__ = ["PackageFile", "compiled_digest", "publish", "year_of"]
log = logging.getLogger(__name__)

DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Bumped when the layout or the bytes of the OCDS files change: a previous publication of another layout is not reused.
LAYOUT = 3
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


def package_metadata(settings: Settings, name: str, published: str) -> dict[str, Any]:
    """Return the metadata of the packages of one file: ``uri`` is its stable URL, under ``latest``."""
    return {
        "uri": f"{settings.publication_base_uri.rstrip('/')}/latest/{name}",
        "version": "1.1",
        "publishedDate": published,
        "publisher": {"name": settings.publisher_name, "uri": settings.publisher_uri},
        "license": settings.license_url,
        "publicationPolicy": settings.publication_policy_url,
        "extensions": EXTENSIONS,
    }


def build_digest(settings: Settings, limit: int, excel_rows: int) -> str:
    """Return a digest of everything besides the data that shapes the published files' bytes (reuse needs the
    same): the OCDS files', and the flat files' that a night between cuts links from its cut's publication."""
    made_of = {
        "layout": LAYOUT,
        "excel_rows": excel_rows,
        "metadata": package_metadata(settings, "", ""),
        "personal_data": settings.publication_personal_data,
        "limit": limit,
        "package_size": packages.PACKAGE_SIZE,
        "max_bytes": packages.MAX_FILE_BYTES,
        "gzip": jsonio.GZIP_LEVEL,
    }
    return hashlib.blake2b(orjson.dumps(made_of, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


# -- the change list ------------------------------------------------------------------------------------------
def previous_publication(root: Path, key: str) -> Path | None:
    """Return the latest dated publication folder before ``key``, found by folder name (never ``latest``)."""
    if not root.is_dir():
        return None
    keys = sorted(
        p.name for p in root.iterdir() if DATED.match(p.name) and p.name < key and p.is_dir() and not p.is_symlink()
    )
    return root / keys[-1] if keys else None


def published_ocids(folder: Path) -> pa.Table | None:
    """Return the ocids a publication holds, from its Parquet copy of the processes (None when it has none)."""
    files = [str(p) for p in tables.parquet_files(folder / "parquet", "core_contracting_processes")]
    if not files:
        return None
    with quiet_connect() as con:
        return con.sql("SELECT DISTINCT ocid FROM read_parquet($files)", params={"files": files}).to_arrow_table()


def change_list(
    store: Store,
    key: str,
    previous: str | None,
    current: pa.Table,
    before: pa.Table | None,
    touched: list[str],
    clean: Callable[[Any], Any],
) -> list[tuple[str, str]]:
    """Return ``(ocid, added|changed|removed)`` rows since the previous publication, ordered by ocid.

    ``current`` and ``before`` hold the ocids published now and then; only the ``touched`` ocids (those that got
    releases after the previous publication) can have another compiled release, so only theirs are compared, as of
    each key, after the publication policy is applied.
    """
    if previous is None or before is None:
        return [(ocid, "added") for ocid in sorted(current.column("ocid").to_pylist())]
    with quiet_connect() as con:
        con.register("published_now", current)
        con.register("published_before", before)
        rows = con.execute(
            "SELECT ocid, 'added' FROM published_now ANTI JOIN published_before USING (ocid) "
            "UNION ALL SELECT ocid, 'removed' FROM published_before ANTI JOIN published_now USING (ocid)"
        ).fetchall()
        con.register("touched", pa.table({"ocid": pa.array(touched, pa.string())}))
        kept = [
            o
            for (o,) in con.execute(
                "SELECT ocid FROM touched SEMI JOIN published_before USING (ocid) ORDER BY 1"
            ).fetchall()
        ]
    old = {ocid: compiled_digest(clean(jsonio.loads(text))) for ocid, text in store.compiled_as_of(kept, previous)}
    for ocid, text in store.compiled_as_of(kept, key):
        if ocid in old and old[ocid] != compiled_digest(clean(jsonio.loads(text))):
            rows.append((ocid, "changed"))
    return sorted(rows)


# -- files, checksums, descriptor -----------------------------------------------------------------------------
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


def _ocds_description(item: PackageFile, parts: int, cut_key: str) -> str:
    what = "registros" if item.kind == "record-package" else "entregas (releases)"
    cut = {"full": "todos los procesos", "undated": "sin fecha"}.get(item.cut, f"año {item.cut}")
    if item.cut != "full" and item.kind == "record-package":
        cut = "procesos sin fecha" if item.cut == "undated" else f"procesos cuya primera entrega es de {item.cut}"
    if item.cut == packages.CHANGES:
        cut = (
            f"procesos con entregas posteriores al corte del {cut_key} (sustituyen su registro en el archivo anual)"
            if item.kind == "record-package"
            else f"entregas posteriores al corte del {cut_key}"
        )
    part = f", parte {item.part} de {parts}" if parts > 1 else ""
    made = f" (une {', '.join(item.members)})" if len(item.members) > 1 else ""
    return (
        f"Paquetes de {what} OCDS 1.1, {cut}{part}: {item.items:,} {what.split()[0]}, {item.awards:,} "
        f"adjudicaciones, {item.contracts:,} contratos{made}."
    )


# -- the step -------------------------------------------------------------------------------------------------
Catalog = dict[str, dict[str, Any]]  # path → datapackage resource properties, plus the page's "group"


def settle(staging: Path, relative: str, previous: Previous, hashes: dict[str, str]) -> None:
    """Replace a file just written by a link to the previous publication's copy when the bytes are the same."""
    if previous.folder is None or relative not in previous.hashes:
        return
    old, new = previous.folder / relative, staging / relative
    if not old.is_file() or old.stat().st_size != new.stat().st_size:
        return
    with open(old, "rb") as a, open(new, "rb") as b:
        while (block := a.read(1 << 20)) == b.read(1 << 20):
            if not block:
                new.unlink()
                previous.reuse(relative, staging, hashes)
                return


def linked_hash(staging: Path, relative: str, previous: Previous, hashes: dict[str, str]) -> None:
    """Take a file's checksum from the previous publication when both are links to one file (same inode)."""
    if previous.folder is None or relative not in previous.hashes:
        return
    try:
        old = (previous.folder / relative).stat()
    except FileNotFoundError:
        return
    new = (staging / relative).stat()
    if (old.st_dev, old.st_ino) == (new.st_dev, new.st_ino):
        hashes[relative] = previous.hashes[relative]


def _packages(
    settings: Settings,
    staging: Path,
    store: Store,
    interval: Interval,
    previous: Previous,
    limit: int,
    build: str,
    hashes: dict[str, str],
) -> packages.Packages:
    return packages.Packages(
        staging,
        store,
        interval,
        previous,
        lambda path, published: package_metadata(settings, path, published),
        clean=text_redactor(settings.publication_personal_data),
        limit=limit,
        hashes=hashes,
        spill=_spill(staging, "packages"),
        build=build,
        refresh_days=settings.publication_refresh_days,
    )


def _publish_ocds(ocds_files: packages.Packages, interval: Interval, catalog: Catalog) -> OcdsResult:
    ocds = ocds_files.write()
    parts = Counter((item.kind, item.cut) for item in ocds.files)
    for item in ocds.files:
        catalog[item.path] = {
            "group": "ocds",
            "description": _ocds_description(item, parts[item.kind, item.cut], ocds.cut or interval.key),
            "ocds": item.properties(),
        }
    log.info("publish %s: OCDS cuts rewritten %s, reused %s", interval.key, ocds.rewritten, ocds.reused)
    return ocds


def _publish_changes(
    staging: Path,
    store: Store,
    key: str,
    previous: Previous,
    ocds: OcdsResult,
    clean: Callable[[Any], Any],
    catalog: Catalog,
) -> dict[str, Any]:
    assert ocds.record_files is not None
    current = ocds.record_files.select(["ocid"])
    before = None
    if previous.folder is not None:
        before = published_ocids(previous.folder)
        if before is None:  # a publication without its Parquet copy: the store says what it had
            new = pa.array(sorted(ocds.new), pa.string())
            before = current.filter(pc.invert(pc.is_in(current.column("ocid"), value_set=new)))
    changed = change_list(store, key, previous.key, current, before, ocds.touched, clean)
    jsonio.write_json(staging / "schemas" / "changes.json", CHANGES_SCHEMA)
    with open(staging / "changes.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("ocid,change\n")
        fh.writelines(f"{ocid},{change}\n" for ocid, change in changed)
    counted = {kind: sum(1 for _, c in changed if c == kind) for kind in ("added", "changed", "removed")}
    since = f"desde la publicación {previous.key}" if previous.key else "(primera publicación)"
    catalog["schemas/changes.json"] = {"group": "schemas", "description": "Table Schema de changes.csv."}
    catalog["changes.csv"] = {
        "group": "results",
        "profile": "tabular-data-resource",
        "description": f"Procesos nuevos ({counted['added']:,}), modificados ({counted['changed']:,}) y retirados "
        f"({counted['removed']:,}) {since}.",
        "schema": "schemas/changes.json",
    }
    return {"previous": previous.key, **counted}


def _spill(staging: Path, part: str) -> Path:
    """The folder where DuckDB spills for one part of a publication (each part running at once has its own)."""
    return staging.parent / f"{staging.name}.{part}-tmp"


def _publish_results(
    staging: Path, warehouse: Path, previous: Previous, catalog: Catalog, hashes: dict[str, str]
) -> dict[str, int]:
    """Link the Parquet files; write the schemas and one CSV per result table of the staged DuckDB file; return the
    tables' row counts."""
    with flat.connect(staging / "semaforo.duckdb", _spill(staging, "results")) as con:
        table_list = flat.list_tables(con)
        rows = {t.name: flat.count(con, t) for t in table_list}
        for table in table_list:
            jsonio.write_json(staging / "schemas" / f"{table.name}.json", flat.table_schema(table))
            settle(staging, f"schemas/{table.name}.json", previous, hashes)
            catalog[f"schemas/{table.name}.json"] = {
                "group": "schemas",
                "description": f"Table Schema de {table.name}.",
            }
            csv_name = CSV_NAMES.get(table.name, f"{table.name[4:]}.csv" if table.name.startswith("out_") else "")
            if csv_name:
                with open(staging / csv_name, "wb") as fh:
                    flat.write_csv(con, table, fh)
                settle(staging, csv_name, previous, hashes)
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
            link_or_copy(source, staging / relative)
            linked_hash(staging, relative, previous, hashes)
            partition = f", {source.parent.name.replace('=', ' ')}" if "=" in source.parent.name else ""
            catalog[relative] = {
                "group": "parquet",
                "description": f"La tabla {name} en Parquet{partition}.",
                **({"schema": f"schemas/{name}.json"} if name in rows else {}),
            }
    return rows


def _publish_flat(
    staging: Path, previous: Previous, excel_rows: int, catalog: Catalog, hashes: dict[str, str], base: Previous | None
) -> None:
    """Write the flat files from the staged DuckDB file (or, between cuts, link those of the cut's publication
    ``base``)."""

    def reuse(path: str, fingerprint: str) -> list[dict[str, Any]] | None:
        """Link a flat file of the previous publication made from the same rows; return its tables."""
        relative = f"flat/{path}"
        old = previous.resources.get(relative, {})
        if old.get("fingerprint") != fingerprint or relative not in previous.hashes:
            return None
        previous.reuse(relative, staging, hashes)
        return [{k: v for k, v in t.items() if k != "schema"} for t in old.get("tables", [])]

    if base is not None and _link_flat(staging, base, catalog, hashes):
        return
    exports = flat.export(
        staging / "semaforo.duckdb",
        staging / "flat",
        excel_rows=excel_rows,
        reuse=reuse,
        spill=_spill(staging, "flat"),
    )
    for export in exports:
        label = "todos los procesos" if export["year"] is None else f"los procesos iniciados en {export['year']}"
        kind = "CSV en un ZIP, una por tabla" if export["kind"] == "csv-bundle" else "Excel, una hoja por tabla"
        catalog[f"flat/{export['path']}"] = {
            "group": "flat",
            "description": f"Tablas planas de {label} ({kind}).",
            "fingerprint": export["fingerprint"],
            "tables": [{**member, "schema": f"schemas/{member['table']}.json"} for member in export["tables"]],
        }
    log.info(
        "publish: flat files rewritten %s, reused %s",
        [e["path"] for e in exports if not e["reused"]],
        [e["path"] for e in exports if e["reused"]],
    )


def _publish_tables(
    staging: Path,
    warehouse: Path,
    previous: Previous,
    excel_rows: int,
    catalog: Catalog,
    hashes: dict[str, str],
    flat_files: bool,
) -> dict[str, int]:
    """The results (:func:`_publish_results`) and, if ``flat_files``, the flat files written anew."""
    rows = _publish_results(staging, warehouse, previous, catalog, hashes)
    if flat_files:
        _publish_flat(staging, previous, excel_rows, catalog, hashes, None)
    return rows


def _link_flat(staging: Path, base: Previous, catalog: Catalog, hashes: dict[str, str]) -> bool:
    """Link every flat file of the cut's publication with its description; False when it has none to link."""
    found = {path: r for path, r in base.resources.items() if path.startswith("flat/") and path in base.hashes}
    if not found or base.folder is None or not all((base.folder / path).is_file() for path in found):
        return False
    for path, resource in found.items():
        base.reuse(path, staging, hashes)
        catalog[path] = {
            "group": "flat",
            **{k: resource[k] for k in ("description", "fingerprint", "tables") if k in resource},
        }
    return True


def _publish_documents(
    staging: Path, warehouse: Path, previous: Previous, catalog: Catalog, hashes: dict[str, str]
) -> None:
    (staging / "data_dictionary.md").write_text(render_data_dictionary(), encoding="utf-8")
    (staging / "indicators.md").write_text(indicator_catalogue(), encoding="utf-8")
    for relative in ("data_dictionary.md", "indicators.md"):
        settle(staging, relative, previous, hashes)
    catalog["data_dictionary.md"] = {"group": "docs", "description": "Diccionario de datos: tablas y columnas."}
    catalog["indicators.md"] = {"group": "docs", "description": "Catálogo de indicadores (banderas rojas)."}
    if (warehouse / "data_docs").is_dir():
        shutil.copytree(
            warehouse / "data_docs", staging / "data_docs", copy_function=lambda a, b: link_or_copy(Path(a), Path(b))
        )
        for relative in files_of(staging / "data_docs"):
            linked_hash(staging, f"data_docs/{relative}", previous, hashes)
            catalog[f"data_docs/{relative}"] = {"group": "data_docs", "description": "Great Expectations Data Docs."}
        if (staging / "data_docs" / "index.html").is_file():
            catalog["data_docs/index.html"] = {
                "group": "docs",
                "description": "Informe de calidad de datos (Great Expectations Data Docs): empiece aquí.",
            }


def _publish_lookup(
    staging: Path,
    record_files: pa.Table | None,
    previous: Previous,
    catalog: Catalog,
    hashes: dict[str, str],
) -> int:
    """Write the page's OCID look-up index (``lookup/<n>.json``) from the staged DuckDB file; return the number of
    shards."""
    names = {code: indicator.name for code, indicator in _indicators().items()}
    # Opened under a path of its own: DuckDB shares one database (and its spill folder) between connections to
    # one path, and the tables' thread has the staged path open.
    own = _spill(staging, "lookup") / "semaforo.duckdb"
    own.parent.mkdir(parents=True, exist_ok=True)
    link_or_copy(staging / "semaforo.duckdb", own)
    with flat.connect(own, own.parent / "spill") as con:
        shards, shard_files = site.write_lookup(staging, con, record_files, names)
    for name in shard_files:
        settle(staging, name, previous, hashes)
        catalog[name] = {"group": "lookup", "description": "Índice de búsqueda por OCID de la página (JSON)."}
    return shards


def _merge(part: tuple[Catalog, dict[str, str]], catalog: Catalog, hashes: dict[str, str]) -> None:
    """Add what one part of a publication wrote in a thread to the publication's catalogue and checksums."""
    catalog.update(part[0])
    hashes.update(part[1])


def _publish_page(
    settings: Settings,
    staging: Path,
    interval: Interval,
    facts: dict[str, Any],
    catalog: Catalog,
    hashes: dict[str, str],
) -> None:
    """Write ``index.html``; complete ``hashes`` with the SHA-256 of every file so far."""
    ocds: OcdsResult = facts["ocds"]
    rows: dict[str, int] = facts["rows"]
    with flat.connect(staging / "semaforo.duckdb", _spill(staging, "page")) as con:
        figures = site.headline(con)
        last = con.execute("SELECT max(compiled_date) FROM core_contracting_processes").fetchone()
    for relative in files_of(staging):
        if relative not in hashes:
            hashes[relative] = sha256(staging / relative)
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
            for relative, digest in sorted(hashes.items())
        ],
        groups=GROUPS,
        shards=facts["shards"],
        file_limit=facts["limit"],
    )
    (staging / "index.html").write_text(site.render_page(page), encoding="utf-8")
    catalog["index.html"] = {"group": "docs", "description": "Página de descarga de esta publicación."}
    hashes["index.html"] = sha256(staging / "index.html")


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
    rebuild: bool = False,
) -> dict[str, Any]:
    """Write ``publish/<key>/`` from the stores and the warehouse of one interval, then switch ``latest``.

    Files whose inputs did not change since the previous publication are hard links to its copies (with their
    checksums), unless ``rebuild``: then every file is written, and the previous publication gives the change list
    only. Either way the bytes are the same. A night between cut nights links the yearly, full and flat files of its
    cut's publication either way (rebuild the cut night to write those again).
    """
    key = interval.key
    root = settings.data_root / "publish"
    root.mkdir(parents=True, exist_ok=True)
    # A staging folder of its own: two runs publishing the same night at once must not share one.
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{key}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; a publication is meant to be served
    try:
        # In Mexico City time whichever zone the caller used (Airflow gives UTC): the same night, the same bytes.
        published = interval.end.astimezone(MEXICO_CITY).isoformat()
        limit = file_limit or settings.publication_file_limit
        catalog: Catalog = {}
        hashes: dict[str, str] = {}  # SHA-256 of the files known without reading them (linked from the previous)
        previous = Previous.read(previous_publication(root, key))
        if rebuild:
            previous = Previous(previous.folder)
        log.info("publish %s: previous publication %s", key, previous.key)

        build = build_digest(settings, limit, excel_rows)
        ocds_files = _packages(settings, staging, store, interval, previous, limit, build, hashes)
        clean = redactor(settings.publication_personal_data)
        # The tables are written in a thread beside the OCDS files, and the page's look-up index in another once
        # those are written, beside the change list (zlib and DuckDB run without the GIL). Both read the DuckDB file
        # staged here. Each part has a catalogue and checksums of its own, merged in the order of a night that writes
        # one after the other. A cut night writes its flat files with the tables; a night between cuts links its
        # cut's once the OCDS files have checked that cut (or writes them, when they found its history changed).
        link_or_copy(warehouse / "semaforo.duckdb", staging / "semaforo.duckdb")
        linked_hash(staging, "semaforo.duckdb", previous, hashes)
        cut_night = ocds_files.base is None
        table_part: tuple[Catalog, dict[str, str]] = ({}, {})
        lookup_part: tuple[Catalog, dict[str, str]] = ({}, {})
        threads: list[Future[Any]] = []
        try:
            with ThreadPoolExecutor(2) as pool:
                threads.append(
                    pool.submit(_publish_tables, staging, warehouse, previous, excel_rows, *table_part, cut_night)
                )
                ocds = _publish_ocds(ocds_files, interval, catalog)
                if threads[0].done():
                    threads[0].result()  # the tables failed already: stop before the rest
                threads.append(pool.submit(_publish_lookup, staging, ocds.record_files, previous, *lookup_part))
                changed = _publish_changes(staging, store, key, previous, ocds, clean, catalog)
        except BaseException as exc:
            # The error raised is this one; a thread's own failure beside it is logged, not lost.
            for thread in threads:
                if thread.exception() not in (None, exc):
                    log.error("publish %s: a part written beside failed too", key, exc_info=thread.exception())
            raise
        rows, shards = threads[0].result(), threads[1].result()  # the pool's exit waited for both
        _merge(table_part, catalog, hashes)
        if not cut_night:
            _publish_flat(staging, previous, excel_rows, catalog, hashes, ocds.base)
        _publish_documents(staging, warehouse, previous, catalog, hashes)
        _merge(lookup_part, catalog, hashes)
        facts = {"ocds": ocds, "rows": rows, "changes": changed, "published": published, "limit": limit}
        _publish_page(settings, staging, interval, {**facts, "shards": shards}, catalog, hashes)
        descriptor = package_descriptor(settings, key, published)
        descriptor["semaforo"] = {
            "build": build,
            "cut": ocds.cut or key,
            "history": store.history_digest(key),
        }
        jsonio.write_json(staging / "datapackage.json", describe(staging, catalog, hashes, descriptor))
        hashes["datapackage.json"] = sha256(staging / "datapackage.json")
        write_checksums(staging, hashes)

        final = root / key
        jsonio.swap_dir(staging, final)
        latest = root / "latest"
        current = latest.resolve().name if latest.is_symlink() else ""
        if key >= current:  # a backfill of an older date never moves "latest" backwards
            switch_latest(root, key)
        if ocds.cut == key:
            dated = [p for p in root.iterdir() if DATED.match(p.name) and p.is_dir() and not p.is_symlink()]
            packages.prune_index(root, dated)
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
            "rewritten": ocds.rewritten,
            "reused": ocds.reused,
            "bytes": sum((final / relative).stat().st_size for relative in files_of(final)),
        }
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # swapped in already, or abandoned by a failure
        for spill in root.glob(f"{staging.name}.*-tmp"):  # DuckDB's spill files
            shutil.rmtree(spill, ignore_errors=True)

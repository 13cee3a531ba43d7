"""Export the tables of a DuckDB file as flat files: CSV (UTF-8) in ZIP bundles, Excel workbooks, single CSVs.

A bundle holds one CSV per table in a folder named like the bundle (the OCP Data Registry's ``{stem}.csv.tar.gz``
layout, zipped because ZIP opens everywhere). ``full`` holds every table; a year's bundle holds the rows of the
processes of that year (the ``year`` column: the year the process started, as in the Parquet partitions), so it
holds the tables with a ``year`` or an ``ocid`` column. A workbook is written only where every table fits in one
Excel sheet (1,048,576 rows including the header).

Files are byte-identical across re-runs: rows are ordered by every column (primary key first) and archive member
times come from the caller (the data interval), never from the clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pyarrow as pa

from transforms import jsonio
from transforms.intervals import MEXICO_CITY
from transforms.store import quiet_connect
from transforms.tables import table_schemas

EXCEL_MAX_ROWS = 1_048_576  # rows in one Excel sheet, header included
EXCEL_MAX_CELL = 32_767  # characters in one Excel cell
BATCH = 10_000
# Control characters XML 1.0 forbids: they are dropped in workbooks only.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
FRICTIONLESS_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "integer",
    "INTEGER": "integer",
    "HUGEINT": "integer",
    "SMALLINT": "integer",
    "DOUBLE": "number",
    "FLOAT": "number",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "TIMESTAMP": "datetime",
}


@dataclass(frozen=True)
class Table:
    """A table of the DuckDB file: its name and its columns with their DuckDB types."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        """Return the column names in order."""
        return [name for name, _ in self.columns]


def quote(identifier: str) -> str:
    """Quote a DuckDB identifier (table and column names come from our own catalog, never from user input)."""
    return '"' + identifier.replace('"', '""') + '"'


DUCKDB_MEMORY = "1GB"  # sorts past this spill to disk


def connect(database: Path, spill: Path) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file read-only, in UTC, with a memory limit and its spill files in ``spill`` (hidden)."""
    con = quiet_connect(str(database), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET memory_limit = ?", [DUCKDB_MEMORY])
    con.execute("SET temp_directory = ?", [str(spill)])
    return con


def list_tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """Return the tables of the main schema, by name, with their columns in order."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        columns.setdefault(table, []).append((column, kind))
    return [Table(name, tuple(cols)) for name, cols in columns.items()]


def frictionless_type(duckdb_type: str) -> str:
    """Return the Frictionless field type of a DuckDB column type (``string`` for anything else)."""
    if duckdb_type.startswith("DECIMAL"):
        return "number"
    return FRICTIONLESS_TYPES.get(duckdb_type, "string")


def table_schema(table: Table) -> dict[str, Any]:
    """Return the Frictionless Table Schema of a table: types from DuckDB, descriptions from ``schemas/tables``."""
    declared = table_schemas().get(table.name, {})
    described = {f["name"]: f for f in declared.get("fields", [])}
    fields = []
    for name, kind in table.columns:
        field: dict[str, Any] = {"name": name, "type": frictionless_type(kind)}
        if name in described:
            field["description"] = described[name]["description"]
            if described[name].get("constraints"):
                field["constraints"] = described[name]["constraints"]
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields}
    key = declared.get("primaryKey") or []
    if key and set(key) <= set(table.column_names):
        schema["primaryKey"] = key
    if declared.get("description"):
        schema["description"] = declared["description"]
    return schema


def _order(table: Table, alias: str = "") -> str:
    """ORDER BY every column, primary key first, so the row order (and the bytes) never depend on the scan."""
    key = [c for c in table_schemas().get(table.name, {}).get("primaryKey") or [] if c in table.column_names]
    ordered = key + [c for c in table.column_names if c not in key]
    return ", ".join(f"{alias}{quote(c)}" for c in ordered)


def select(
    table: Table, year: int | None = None, projection: str = "t.*", *, numbered: bool = False
) -> tuple[str, list[Any]]:
    """Return the query (and its parameters) that reads a table, or the rows of one process year of it
    (``projection``: what each row gives, over the table's columns as ``t``; ``numbered`` adds ``t.sheet_row``,
    the row's number in a sheet whose first row is the header)."""
    if numbered:
        query, params = select(
            table, year, f"t.*, row_number() OVER (ORDER BY {_order(table, 't.')}) + 1 AS sheet_row"
        )
        return f"SELECT {projection} FROM ({query}) t ORDER BY t.sheet_row", params
    where, params = _where(table, year)
    return f"SELECT {projection} FROM {quote(table.name)} t {where}ORDER BY {_order(table, 't.')}", params


def _where(table: Table, year: int | None) -> tuple[str, list[Any]]:
    """Return the WHERE clause (and its parameters) that keeps the rows of one process year of a table, or none."""
    if year is None:
        return "", []
    if "year" in table.column_names:
        return "WHERE t.year = ? ", [year]
    return "WHERE t.ocid IN (SELECT ocid FROM core_contracting_processes WHERE year = ?) ", [year]


def in_year_bundles(table: Table) -> bool:
    """Return whether a table goes in the yearly files: the star schema's per-process tables (``core_`` with a
    ``year`` or an ``ocid`` column). Scores and flags (``out_``) are relative to every process, so they change in
    every year each night; they are in the full files and their own CSVs, and a year's files stay byte for byte
    the same until one of its processes changes."""
    return table.name.startswith("core_") and ("year" in table.column_names or "ocid" in table.column_names)


def years(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Return the process years present, oldest first."""
    rows = con.execute("SELECT DISTINCT year FROM core_contracting_processes ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def count(con: duckdb.DuckDBPyConnection, table: Table, year: int | None = None) -> int:
    """Return how many rows :func:`select` would return (counted without sorting them)."""
    where, params = _where(table, year)
    row = con.execute(f"SELECT count(*) FROM {quote(table.name)} t {where}", params).fetchone()
    return int(row[0]) if row else 0


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    cursor = con.execute(query, list(params))
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def csv_value(value: Any) -> Any:
    """Format one value for CSV the way Frictionless reads it by default (ISO 8601 UTC datetimes, true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if isinstance(value, list | dict):
        return jsonio.dumps(value).decode()
    return value


def write_text(con: duckdb.DuckDBPyConnection, query: str, params: list[Any], out: IO[bytes]) -> int:
    """Write a query's one text column, row after row, as UTF-8; return the number of rows.

    DuckDB hands the rows over as Arrow batches, and a batch's strings are one contiguous buffer that is written
    as is: no Python object per row.
    """
    rows = 0
    with con.cursor() as cursor:
        for batch in cursor.sql(query, params=params).to_arrow_reader(BATCH):
            column = batch.column(0)
            if column.null_count:
                raise ValueError(f"a NULL line in {query[:80]}…")
            width = np.int64 if pa.types.is_large_string(column.type) else np.int32
            _, offsets, data = column.buffers()
            bounds = np.frombuffer(offsets, dtype=width)[column.offset : column.offset + len(column) + 1]
            out.write(memoryview(data)[int(bounds[0]) : int(bounds[-1])])
            rows += len(column)
    return rows


def field_sql(column: str, kind: str) -> str:
    """Return the SQL that formats one column as a CSV field, as :func:`csv_value` and Python's ``csv`` module do
    (minimal quoting, ISO 8601 UTC times, true/false), so DuckDB makes whole lines without Python per value."""
    name = f"t.{quote(column)}"
    if kind == "BOOLEAN":
        value = f"CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END"
    elif kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"):  # in UTC: the connection's time zone
        fraction = f"CASE WHEN epoch_us({name}) % 1000000 <> 0 THEN strftime({name}, '.%f') ELSE '' END"
        value = f"strftime({name}, '%Y-%m-%dT%H:%M:%S') || {fraction} || 'Z'"
    elif kind in ("VARCHAR", "DATE") or kind in FRICTIONLESS_TYPES or kind.startswith("DECIMAL"):
        value = f"{name}::VARCHAR"
    else:  # lists and structs: JSON text
        value = f"to_json({name})::VARCHAR"
    if kind == "VARCHAR" or (FRICTIONLESS_TYPES.get(kind) is None and not kind.startswith("DECIMAL")):
        quoted = f"""'"' || replace({value}, '"', '""') || '"'"""
        value = f"CASE WHEN regexp_matches({value}, '[,\"\n]') THEN {quoted} ELSE {value} END"
    return f"coalesce({value}, '')"


def write_csv(con: duckdb.DuckDBPyConnection, table: Table, out: IO[bytes], year: int | None = None) -> int:
    """Write a table (or one year of it) as UTF-8 CSV with a header; return the number of rows."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    out.write(header.getvalue().encode())
    fields = ", ".join(field_sql(column, kind) for column, kind in table.columns)
    query, params = select(table, year, f"concat_ws(',', {fields}) || chr(10)")
    return write_text(con, query, params, out)


def _zip_info(name: str, stamp: dt.datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_bundle(
    con: duckdb.DuckDBPyConnection, tables: Sequence[Table], path: Path, stamp: dt.datetime, year: int | None = None
) -> list[dict[str, Any]]:
    """Write a ZIP holding ``<stem>/<table>.csv`` for each table; return what it holds (member, table, rows)."""
    stem = path.name.removesuffix(".csv.zip")
    members = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for table in tables:
            member = f"{stem}/{table.name}.csv"
            with archive.open(_zip_info(member, stamp), "w", force_zip64=True) as raw:
                rows = write_csv(con, table, raw, year)
            members.append({"path": member, "table": table.name, "rows": rows})
    return members


def _excel_value(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones; the dictionary says UTC
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | dict):
        value = jsonio.dumps(value).decode()
    if isinstance(value, str):
        value = _ILLEGAL_XML.sub("", value)
        if len(value) > EXCEL_MAX_CELL:
            value = value[: EXCEL_MAX_CELL - 1] + "…"
    return value


# SpreadsheetML parts (ECMA-376): a workbook is a ZIP of these plus one worksheet per table.
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
STYLES = (
    f'{XML_HEAD}<styleSheet xmlns="{MAIN}"><numFmts count="2">'
    '<numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/>'
    '</numFmts><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2">'
    '<fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _column_letters(count: int) -> list[str]:
    letters = []
    for number in range(1, count + 1):
        name = ""
        while number:
            number, rest = divmod(number - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


_TEXT_SQL = "replace(replace(replace(replace({0}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;')"


def _text_sql(value: str) -> str:
    """SQL of a text value as Excel holds it: XML 1.0 control characters dropped, cut at the cell limit, escaped."""
    clean = f"regexp_replace({value}, '[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]', '', 'g')"
    limit = EXCEL_MAX_CELL
    cut = f"CASE WHEN length({clean}) > {limit} THEN left({clean}, {limit - 1}) || '…' ELSE {clean} END"
    return _TEXT_SQL.format(cut)


def cell_sql(column: str, kind: str, letter: str) -> str:
    """Return the SQL that makes one cell's XML from a column (NULL for a NULL value, so the cell is left out).

    Text is always an inline string, so a value starting with "=" never runs as a formula in the reader's
    spreadsheet; dates and times are serial numbers styled as dates (Excel has no time zones: UTC, as the data
    dictionary says).
    """
    ref = f"r=\"{letter}' || t.sheet_row || '\""
    name = f"t.{quote(column)}"
    text = f"'<c {ref} t=\"inlineStr\"><is><t xml:space=\"preserve\">' || {{}} || '</t></is></c>'"
    if kind in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
        return f"'<c {ref}><v>' || {name} || '</v></c>'"
    if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
        number = f"{name}::DOUBLE"
        return (
            f"CASE WHEN isfinite({number}) THEN '<c {ref}><v>' || {number}::VARCHAR || '</v></c>' "
            f"ELSE {text.format(number + '::VARCHAR')} END"
        )
    if kind == "BOOLEAN":
        return f"'<c {ref} t=\"b\"><v>' || CASE WHEN {name} THEN '1' WHEN NOT {name} THEN '0' END || '</v></c>'"
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"):
        return f"'<c {ref} s=\"1\"><v>' || (epoch_us({name}) / 86400000000.0 + 25569)::VARCHAR || '</v></c>'"
    if kind == "DATE":
        return f"'<c {ref} s=\"2\"><v>' || ({name} - DATE '1899-12-30')::VARCHAR || '</v></c>'"
    value = name if kind == "VARCHAR" else f"to_json({name})::VARCHAR"
    return text.format(_text_sql(value))


def _sheet(
    con: duckdb.DuckDBPyConnection,
    archive: zipfile.ZipFile,
    member: str,
    stamp: dt.datetime,
    table: Table,
    year: int | None,
) -> int:
    """Stream one worksheet into the archive: the header, then one row of cell XML per table row from DuckDB."""
    letters = _column_letters(len(table.columns))
    head = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t xml:space="preserve">{name.translate(_XML_TEXT)}</t></is></c>'
        for letter, name in zip(letters, table.column_names, strict=True)
    )
    cells = ", ".join(cell_sql(c, kind, letter) for (c, kind), letter in zip(table.columns, letters, strict=True))
    query, params = select(table, year, f"concat('<row r=\"', t.sheet_row, '\">', {cells}, '</row>')", numbered=True)
    with archive.open(_zip_info(member, stamp), "w", force_zip64=True) as raw:
        raw.write(f'{XML_HEAD}<worksheet xmlns="{MAIN}"><sheetData><row r="1">{head}</row>'.encode())
        rows = write_text(con, query, params, raw)
        raw.write(b"</sheetData></worksheet>")
    return rows


def write_workbook(
    con: duckdb.DuckDBPyConnection, tables: Sequence[Table], path: Path, stamp: dt.datetime, year: int | None = None
) -> list[dict[str, Any]]:
    """Write an Excel workbook with one sheet per table, streamed; return its sheets and row counts.

    The SpreadsheetML is written here rather than through openpyxl or xlsxwriter: both spend nearly all their time
    on per-cell Python objects (openpyxl's write-only mode took 49 s and xlsxwriter's constant_memory mode 27 s for
    the 93,582 rows of a 10k-process night, against about 3 s just to fetch the values into Python), while DuckDB
    makes each row's cell XML in vectorized SQL (:func:`cell_sql`) and Python writes DuckDB's buffers as they are. A
    workbook of inline strings, numbers, booleans and dates is a small, fixed subset of ECMA-376; the tests read it
    back with openpyxl.
    """
    names = [table.name[:31] for table in tables]
    moment = stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sheets_xml = "".join(
        f'<sheet name="{name.translate(_XML_TEXT)}" sheetId="{n}" r:id="rId{n}"/>' for n, name in enumerate(names, 1)
    )
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for n in range(1, len(names) + 1)
    )
    sheet_rels = "".join(
        f'<Relationship Id="rId{n}" Type="{RELS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(names) + 1)
    )
    parts = {
        "[Content_Types].xml": f"{XML_HEAD}<Types "
        'xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        f"{overrides}</Types>",
        "_rels/.rels": f'{XML_HEAD}<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
        'core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{RELS}/extended-properties" Target="docProps/app.xml"/></Relationships>',
        "docProps/core.xml": f"{XML_HEAD}<cp:coreProperties "
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Semáforo</dc:creator>'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{moment}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{moment}</dcterms:modified></cp:coreProperties>',
        "docProps/app.xml": f"{XML_HEAD}<Properties "
        'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>Semáforo</Application></Properties>",
        "xl/workbook.xml": f'{XML_HEAD}<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>{sheets_xml}</sheets>'
        "</workbook>",
        "xl/_rels/workbook.xml.rels": f'{XML_HEAD}<Relationships xmlns="{PACKAGE_RELS}">{sheet_rels}'
        f'<Relationship Id="rId{len(names) + 1}" Type="{RELS}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": STYLES,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    sheets = []
    with jsonio.atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for member, text in parts.items():
            with archive.open(_zip_info(member, stamp), "w") as fh:
                fh.write(text.encode())
        for number, (table, name) in enumerate(zip(tables, names, strict=True), start=1):
            rows = _sheet(con, archive, f"xl/worksheets/sheet{number}.xml", stamp, table, year)
            sheets.append({"sheet": name, "table": table.name, "rows": rows})
    return sheets


# Bumped when the bytes of a flat file change for the same rows: then no previous file is reused.
FLAT_LAYOUT = 2
ZIP_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)  # the earliest time a ZIP member can carry


@dataclass(frozen=True)
class Cut:
    """One flat file pair: ``full`` (year None) or one process year, with its tables and what they hold."""

    stem: str
    year: int | None
    tables: tuple[Table, ...]
    fingerprint: str
    stamp: dt.datetime  # member times: the latest release of its processes, so the bytes follow the rows only


def _fingerprints(con: duckdb.DuckDBPyConnection, tables: Sequence[Table]) -> dict[int | None, list[Any]]:
    """Return, per cut, each table's row count and sum of row hashes (DuckDB ``hash``: order does not matter)."""
    found: dict[int | None, list[Any]] = {}
    for table in tables:
        name = quote(table.name)
        full = con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {name} t").fetchone()
        found.setdefault(None, []).append([table.name, table.columns, *(full or (0, 0))])
        if "year" in table.column_names:
            query = f"SELECT year, count(*), sum(hash(t)::HUGEINT) FROM {name} t GROUP BY year"
        elif "ocid" in table.column_names:
            query = (
                f"SELECT p.year, count(*), sum(hash(t)::HUGEINT) FROM {name} t "
                "JOIN core_contracting_processes p ON p.ocid = t.ocid GROUP BY p.year"
            )
        else:
            continue
        for year, rows, digest in con.execute(query).fetchall():
            found.setdefault(year, []).append([table.name, table.columns, rows, digest])
    return found


def cuts(con: duckdb.DuckDBPyConnection, excel_rows: int) -> list[Cut]:
    """Return the ``full`` cut and one per process year, each with a fingerprint of everything its files show."""
    tables = list_tables(con)
    parts = _fingerprints(con, tables)
    latest: dict[int | None, Any] = {}
    if "compiled_date" in next((t.column_names for t in tables if t.name == "core_contracting_processes"), []):
        query = "SELECT year, max(compiled_date) FROM core_contracting_processes GROUP BY ROLLUP (year)"
        latest = dict(con.execute(query).fetchall())
    result = []
    for stem, year, selected in [("full", None, tables)] + [
        (str(y), y, [t for t in tables if in_year_bundles(t)]) for y in years(con)
    ]:
        wanted = {t.name for t in selected}
        made_of = [FLAT_LAYOUT, excel_rows, stem, [part for part in parts.get(year, []) if part[0] in wanted]]
        fingerprint = hashlib.blake2b(repr(made_of).encode(), digest_size=16).hexdigest()
        moment = latest.get(year)
        stamp = max(moment.astimezone(MEXICO_CITY), ZIP_EPOCH) if isinstance(moment, dt.datetime) else ZIP_EPOCH
        result.append(Cut(stem, year, tuple(selected), fingerprint, stamp))
    return result


Reuse = Callable[[str, str], "list[dict[str, Any]] | None"]


def _entry(path: str, kind: str, cut: Cut, reused: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Describe one file of a cut: its members or sheets as reused (else filled in once written)."""
    return {
        "path": path,
        "kind": kind,
        "year": cut.year,
        "tables": reused,
        "fingerprint": cut.fingerprint,
        "reused": reused is not None,
    }


def export(
    database: Path,
    folder: Path,
    *,
    excel_rows: int = EXCEL_MAX_ROWS,
    reuse: Reuse | None = None,
    spill: Path | None = None,
) -> list[dict[str, Any]]:
    """Write ``full`` and per-year CSV bundles (and workbooks that fit Excel) of a DuckDB file's tables.

    ``reuse(path, fingerprint)`` may provide a file instead (the previous publication's, made of the same rows) and
    return its tables; otherwise the file is written. Returns one entry per file: ``path`` (relative to
    ``folder``), ``kind`` (``csv-bundle`` or ``workbook``), ``year`` (``None`` for full), ``tables`` (member or
    sheet, table and rows), ``fingerprint`` and ``reused``. DuckDB spills its sorts to ``spill`` (default: a
    temporary folder).
    """
    written = []
    with tempfile.TemporaryDirectory(prefix=".flat-") as tmp, connect(database, spill or Path(tmp)) as con:
        for cut in cuts(con, excel_rows):
            bundle, book = f"{cut.stem}.csv.zip", f"{cut.stem}.xlsx"
            members = reuse(bundle, cut.fingerprint) if reuse else None
            written.append(_entry(bundle, "csv-bundle", cut, members))
            if members is None:
                members = written[-1]["tables"] = write_bundle(con, cut.tables, folder / bundle, cut.stamp, cut.year)
            if all(member["rows"] + 1 <= excel_rows for member in members):
                sheets = reuse(book, cut.fingerprint) if reuse else None
                written.append(_entry(book, "workbook", cut, sheets))
                if sheets is None:
                    written[-1]["tables"] = write_workbook(con, cut.tables, folder / book, cut.stamp, cut.year)
    return written

"""Read CompraNet "Contratos" bulk exports (CSV or xlsx) and turn each row into one OCDS release (REFERENCE §1–§2).

The layout is worked out from the header row, never from the year or the file name (§1.2); the header orders and
column keys live in ``schemas/sources/compranet_layouts.json``. A row is one contract together with its procedure,
so each row becomes one release tagged ``tender`` + ``award`` + ``contract``. Rows that cannot be mapped go to the
quarantine with their reason: rows in = releases out + rows quarantined.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from transforms import jsonio
from transforms.errors import LayoutError, SourceError
from transforms.ocds import vocab
from transforms.ocds.mapping import (
    EXTENSIONS,
    Unmappable,
    _clean,
    _item,
    _ref,
    buyer_party,
    money,
    ocid_for,
    procuring_party,
    rfc3339,
    supplier_party,
)

log = logging.getLogger(__name__)

LAYOUTS_PATH = Path(__file__).resolve().parents[2] / "schemas" / "sources" / "compranet_layouts.json"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
TAG = ["tender", "award", "contract"]
AMENDMENT_DESCRIPTION = "Convenio modificatorio reportado (sin detalle en la exportación)"
DUPLICATE_ROW = "duplicate row"
COMPETITIVE_METHODS = ("open", "selective", "limited")
# The release date is the latest event the row records; the contract start is only a fallback, because a start
# date can lie months after the moment the contract was published.
EVENT_DATES = ("fecha_publicacion", "fecha_apertura", "fecha_fallo", "fecha_celebracion")
CHUNK = 1 << 20

Row = dict[str, str]


# -- layouts --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """One header generation of the Contratos export, as described in ``compranet_layouts.json``."""

    key: str
    cells: int
    columns: tuple[str, ...]
    keys: dict[str, str]
    order_confirmed: bool = True
    optional: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    empty_first_cell: str | None = None
    signature_all: tuple[str, ...] = ()
    signature_any: tuple[str, ...] = ()
    signature_repeated: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    slash_dates: str = "MDY"
    loose_keys: dict[str, str] = field(default_factory=dict)

    def signature_matches(self, normalised: Sequence[str]) -> bool:
        """Tell whether the normalised header cells carry this layout's signature names (§1.2 rule 3)."""
        names = set(normalised)
        if not all(vocab.norm(name) in names for name in self.signature_all):
            return False
        if not (self.signature_any or self.signature_repeated):
            return True
        counts = Counter(normalised)
        return any(vocab.norm(name) in names for name in self.signature_any) or any(
            counts[vocab.norm(name)] > 1 for name in self.signature_repeated
        )

    def expected_cells(self, header: Sequence[str]) -> int:
        """Return the cell count this layout expects for a header, counting the optional columns it carries."""
        return self.cells + sum(name in header for name in self.optional)


def _nfc(text: str) -> str:
    # Composed and decomposed accents, or a stray space, are invisible in a header: the exact comparison ignores them.
    return unicodedata.normalize("NFC", text).strip()


@lru_cache(maxsize=1)
def layouts() -> tuple[Layout, ...]:
    """Return the known layouts in detection order."""
    document = jsonio.read_json(LAYOUTS_PATH)
    result = []
    for spec in document["layouts"]:
        columns = [(_nfc(c["name"]), c["key"]) for c in spec["columns"]]
        optional = [(_nfc(c["name"]), c["key"]) for c in spec.get("optional", [])]
        signature = spec["signature"]
        result.append(
            Layout(
                key=spec["key"],
                cells=spec["cells"],
                columns=tuple(name for name, _ in columns),
                keys=dict(columns + optional),
                order_confirmed=spec.get("order_confirmed", True),
                optional=tuple(name for name, _ in optional),
                aliases=spec.get("aliases", {}),
                empty_first_cell=spec.get("empty_first_cell"),
                signature_all=tuple(signature.get("all", [])),
                signature_any=tuple(signature.get("any", [])),
                signature_repeated=tuple(signature.get("repeated", [])),
                required=tuple(spec.get("required", [])),
                slash_dates=spec.get("slash_dates", "MDY"),
                # A partial header's names come from secondary loaders, so they match ignoring case and accents.
                loose_keys={vocab.norm(name): key for name, key in reversed(columns + optional)},
            )
        )
    return tuple(result)


def _fixed_header(layout: Layout, header: Sequence[str]) -> list[str]:
    names = [layout.aliases.get(name, name) for name in header]
    if layout.empty_first_cell and names and not names[0]:
        names[0] = layout.empty_first_cell
    return names


def _missing_extra(expected: Sequence[str], actual: Sequence[str]) -> tuple[list[str], list[str]]:
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    return missing, extra


def _describe(layout: Layout, missing: Sequence[str], extra: Sequence[str]) -> str:
    return (
        f"closest layout is {layout.key} ({layout.cells} columns); "
        f"missing: {', '.join(map(repr, missing)) or 'none'}; extra: {', '.join(map(repr, extra)) or 'none'}"
    )


def _check_exact(layout: Layout, header: list[str]) -> None:
    """Raise :class:`LayoutError` unless a header whose signature matched has the layout's exact columns."""
    if not layout.order_confirmed:
        # Only part of this header is known (§1.3): insist on the names the mapping cannot do without.
        present = {vocab.norm(name) for name in header}
        missing = [name for name in layout.required if vocab.norm(name) not in present]
        if missing:
            raise LayoutError(f"header has the {layout.key} signature but lacks {', '.join(map(repr, missing))}")
        return
    core = [name for name in header if name not in layout.optional]
    if core == list(layout.columns):
        return
    missing, extra = _missing_extra(layout.columns, core)
    if not missing and not extra:
        position = next(i for i, (a, b) in enumerate(zip(core, layout.columns, strict=True)) if a != b)
        raise LayoutError(
            f"header has the {layout.key} columns in another order: position {position + 1} is {core[position]!r}, "
            f"expected {layout.columns[position]!r}"
        )
    raise LayoutError(
        f"header has the {layout.key} signature but not its exact columns; {_describe(layout, missing, extra)}"
    )


def detect_layout(header: Sequence[str]) -> Layout:
    """Return the layout of a header row (REFERENCE §1.2), or raise :class:`LayoutError` naming the closest one."""
    cells = [_nfc(str(name or "")) for name in header]
    normalised = [vocab.norm(name) for name in cells]
    for layout in layouts():
        if not layout.signature_matches(normalised):
            continue
        fixed = _fixed_header(layout, cells)
        if len(fixed) != layout.expected_cells(fixed):
            continue
        if layout.empty_first_cell and cells[0] not in ("", layout.empty_first_cell):
            continue
        _check_exact(layout, fixed)
        return layout
    raise LayoutError(f"header of {len(cells)} cells matches no known CompraNet layout; {_closest(cells)}")


def _closest(cells: list[str]) -> str:
    normalised = {vocab.norm(name) for name in cells if name}

    def distance(layout: Layout) -> int:
        known = {vocab.norm(name) for name in layout.columns}
        return len(known - normalised) + len(normalised - known)

    layout = min(layouts(), key=distance)  # min() keeps the first of equals: detection order breaks ties
    expected = list(layout.columns) + [name for name in layout.optional if name in cells]
    missing, extra = _missing_extra(expected, _fixed_header(layout, cells))
    return _describe(layout, missing, extra)


# -- reading --------------------------------------------------------------------------------------------------
def detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig`` when the whole file is strict UTF-8, else ``cp1252``, else ``latin-1`` (§1.2 rule 1)."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"  # every byte is a Latin-1 character, so this never fails


def _delimiter(first_line: str) -> str:
    # The exports are comma-separated; a semicolon or tab file re-saved by a spreadsheet is still readable.
    return max((",", ";", "\t", "|"), key=first_line.count)


def _cell_text(value: object) -> str:
    """Render an xlsx cell the way the CSV exports write the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # codes stored as numbers must not turn into "285948.0"
    return str(value)


@dataclass
class Table:
    """An opened export: its layout, header (as mapped) and a way to iterate its data records."""

    path: Path
    layout: Layout
    header: list[str]
    encoding: str | None

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(line, cells)`` for every data record; blank lines are yielded with no cells."""
        if self.encoding is None:
            yield from _xlsx_records(self.path, len(self.header))
        else:
            yield from _csv_records(self.path, self.encoding)


def _read_csv_header(path: Path, encoding: str) -> list[str]:
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_delimiter(first))
        return next(reader, [])


def _csv_records(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_delimiter(first))
        next(reader, None)
        while True:
            line = reader.line_num + 1  # quoted cells may span lines: report where the record starts
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise SourceError(f"{path.name}: line {line}: {exc}") from exc
            yield line, cells


def _xlsx_rows(path: Path) -> Generator[list[str], None, None]:
    import openpyxl  # imported here: only xlsx exports need it, and it is slow to import

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # stored dimensions are often wrong; let every row be as long as it is
        for values in sheet.iter_rows(values_only=True):
            cells = [_cell_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()
            yield cells
    finally:
        workbook.close()


def _read_xlsx_header(path: Path) -> list[str]:
    rows = _xlsx_rows(path)
    try:
        return next(rows, [])
    finally:
        rows.close()  # closes the workbook too


def _xlsx_records(path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    rows = _xlsx_rows(path)
    next(rows, None)
    for line, cells in enumerate(rows, start=2):
        # xlsx stores no empty trailing cells, so a short row is padded; a long one stays long and is quarantined.
        yield line, (cells + [""] * (width - len(cells))) if cells else []


def open_table(path: Path) -> Table:
    """Open an export: decode it, read its header and detect its layout."""
    try:
        if path.suffix.lower() in XLSX_SUFFIXES:
            encoding = None
            header = _read_xlsx_header(path)
        else:
            encoding = detect_encoding(path)
            header = _read_csv_header(path, encoding)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from exc
    if not header:
        raise LayoutError(f"{path.name}: the file has no header row")
    try:
        layout = detect_layout(header)
    except LayoutError as exc:
        raise LayoutError(f"{path.name}: {exc}") from exc
    return Table(path, layout, _fixed_header(layout, [_nfc(name) for name in header]), encoding)


# -- rows -----------------------------------------------------------------------------------------------------
_TEMPLATE_JUNK = re.compile(r"^.*?(?=\d{2}\. )")
_YMD_SLASH = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_SHORT_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_GMT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?) GMT$")
_TRUE = {"1", "SI", "TRUE", "VERDADERO"}


def clean_template(value: str | None) -> str | None:
    """Strip the junk before a ``NN. `` template number, e.g. ``sub110525_16. …`` → ``16. …`` (§1.6)."""
    if not value:
        return value
    return _TEMPLATE_JUNK.sub("", value, count=1)


def canonical_row(layout: Layout, header: Sequence[str], cells: Sequence[str]) -> Row:
    """Map one record's cells to canonical keys; blank cells are left out, the first of repeated names wins."""
    row: Row = {}
    taken: set[str] = set()
    for name, value in zip(header, cells, strict=True):
        key = layout.keys.get(name)
        if key is None and not layout.order_confirmed:
            key = layout.loose_keys.get(vocab.norm(name))
        if key is None or key in taken:
            continue
        taken.add(key)  # by position: a blank contract cell must not let the convenio's namesake fill in
        text = value.strip()
        if text:
            row[key] = text
    if "plantilla_expediente" in row:
        row["plantilla_expediente"] = clean_template(row["plantilla_expediente"]) or ""
    if layout.key == "CNET3_13" and "siglas" not in row:
        siglas = _siglas_from_uc(row.get("nombre_uc"))
        if siglas:
            row["siglas"] = siglas
    return row


def _siglas_from_uc(nombre_uc: str | None) -> str | None:
    # CompraNet 3.0 rows carry no institution acronym; the UC name reads "SIGLAS-Nombre" (§1.8) when it has one.
    match = re.match(r"^([A-Za-z0-9&.]{2,20})\s*-", nombre_uc or "")
    return match.group(1) if match else None


def repair_date(value: str, slash_dates: str = "MDY") -> str:
    """Rewrite the non-ISO date forms CompraNet publishes into ones :func:`rfc3339` parses (§1.7)."""
    text = value.strip()
    if match := _YMD_SLASH.match(text):
        year, month, day, hour, minute, second = match.groups()
        date = f"{year}-{int(month):02d}-{int(day):02d}"
        return date if hour is None else f"{date} {int(hour):02d}:{minute}" + (f":{second}" if second else "")
    if match := _SHORT_SLASH.match(text):
        first, second_part, year, hour, minute, second = match.groups()
        day, month = (first, second_part) if slash_dates == "DMY" else (second_part, first)
        year = f"20{year}" if len(year) == 2 else year  # two-digit years only occur in 2000s data (PODER)
        date = f"{year}-{int(month):02d}-{int(day):02d}"
        return date if hour is None else f"{date} {int(hour):02d}:{minute}" + (f":{second}" if second else "")
    if match := _GMT.match(text):
        date, time = match.groups()
        if time.strip("0:") == "":
            return date  # "YYYY-MM-DD 00:00:00 GMT" is a date with a misleading label: keep the calendar day
        return f"{date}T{time}+00:00"
    return text


def _date(row: Row, key: str, slash_dates: str) -> str | None:
    value = row.get(key)
    return rfc3339(repair_date(value, slash_dates), key) if value else None


def _latest(dates: Sequence[str | None]) -> str | None:
    known = [d for d in dates if d]
    return max(known, key=dt.datetime.fromisoformat) if known else None


def _method_from_template(template: str | None) -> str | None:
    # When the procedure type is blank (§1.9) the numbered template still names the procedure, e.g.
    # "22. Adjudicación Directa Nacional Art. 43 LOPSRM"; a "Proyecto de Convocatoria a la Licitación Pública" is the
    # draft call of a public tender, which PODER also maps to open.
    text = re.sub(r"^\d{2}\. ", "", vocab.norm(template))
    text = text.removeprefix("PROYECTO DE CONVOCATORIA A LA ")
    return vocab.procurement_method(text)


def _is_url(value: str | None) -> bool:
    # documents/url must be an absolute URI; the exports sometimes hold a fragment of one.
    return bool(value) and str(value).startswith(("http://", "https://"))


def release_from_row(row: Row, prefix: str, slash_dates: str = "MDY") -> dict[str, Any]:
    """Map one canonical Contratos row to one release carrying its tender, award and contract.

    ``awards/id`` = ``contracts/id`` = ``contracts/awardID`` = the contract code (REFERENCE §1.4); the release date is
    the latest of the publication, opening, award and signature dates, else the contract start. A 0/1 convenio flag
    becomes one amendment with a stable id and a description, since the export has no detail (§2.6).
    """
    code = row.get("codigo_contrato")
    if not code:
        raise Unmappable("codigo_contrato: the row has no contract code")
    ocid = ocid_for(row, prefix)
    buyer = buyer_party(row)
    procuring = procuring_party(row)
    raw_type = row.get("tipo_procedimiento")
    method = vocab.procurement_method(raw_type) or _method_from_template(row.get("plantilla_expediente"))
    competitive = method in COMPETITIVE_METHODS
    supplier = supplier_party(row, ["tenderer", "supplier"] if competitive else ["supplier"])
    # ComprasMX has no single amount column; "Importe DRC" is read first, the maximum before tax next (unconfirmed).
    value = money(row.get("importe") or row.get("monto_maximo_sin_imp"), row.get("moneda"), "importe")

    dates = {key: _date(row, key, slash_dates) for key in (*EVENT_DATES, "fecha_inicio", "fecha_fin")}
    date = _latest([dates[key] for key in EVENT_DATES]) or dates["fecha_inicio"]
    if date is None:
        raise Unmappable("date: the row has no publication, award, signature or start date")

    cucop = row.get("clave_cucop")
    items = [_item("1", cucop, None)] if cucop else None
    amended = vocab.norm(row.get("convenio_modificatorio")) in _TRUE
    release = {
        "ocid": ocid,
        "id": f"contratos-{code}",
        "date": date,
        "tag": TAG,
        "initiationType": "tender",
        "parties": [buyer, procuring, supplier],
        "buyer": _ref(buyer),
        "tender": {
            "id": row.get("codigo_expediente") or row.get("numero_procedimiento"),
            "title": row.get("titulo_expediente"),
            # A reported contract means the procedure reached its award.
            "status": "complete",
            "procurementMethod": method,
            "procurementMethodDetails": raw_type,
            "procurementMethodRationale": row.get("fundamento_legal"),
            "mainProcurementCategory": vocab.CATEGORIES.get(vocab.norm(row.get("tipo_contratacion"))),
            "submissionMethod": vocab.SUBMISSION.get(vocab.norm(row.get("forma_procedimiento"))),
            # Like the stage mapper: direct awards have no period in which bids are invited.
            "tenderPeriod": {"startDate": dates["fecha_publicacion"], "endDate": dates["fecha_apertura"]}
            if competitive
            else None,
            "procuringEntity": _ref(procuring) if procuring else None,
            "items": items,
            "documents": [{"id": "anuncio", "documentType": "tenderNotice", "url": row["anuncio"]}]
            if _is_url(row.get("anuncio"))
            else None,
            "procurementMethodCharacterMxCnet": row.get("caracter"),
            "procurementMethodDetailsTemplateMxCnet": row.get("plantilla_expediente"),
        },
        "awards": [
            {
                "id": code,
                # The export has no award status; a reported contract implies the award stands.
                "status": "active",
                "date": dates["fecha_fallo"],
                "value": value,
                "suppliers": [_ref(supplier)],
                "items": items,
            }
        ],
        "contracts": [
            {
                "id": code,
                "awardID": code,
                "title": row.get("titulo_contrato"),
                "description": row.get("descripcion_contrato"),
                "status": vocab.CONTRACT_STATUS.get(vocab.norm(row.get("estatus"))),
                "period": {"startDate": dates["fecha_inicio"], "endDate": dates["fecha_fin"]},
                "value": value,
                "dateSigned": dates["fecha_celebracion"],
                "amendments": [{"id": f"{code}-convenio", "description": AMENDMENT_DESCRIPTION}] if amended else None,
            }
        ],
    }
    return _clean(release)


# -- conversion -----------------------------------------------------------------------------------------------
def _raw(header: Sequence[str], cells: Sequence[str]) -> dict[str, str] | list[Any]:
    if len(cells) != len(header):
        return list(cells)
    if len(set(header)) == len(header):
        return dict(zip(header, cells, strict=True))
    return [[name, value] for name, value in zip(header, cells, strict=True)]  # repeated names (ComprasMX)


@dataclass
class _Run:
    prefix: str
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    seen_rows: dict[bytes, tuple[str, int]] = field(default_factory=dict)
    seen_codes: dict[str, tuple[str, int, bytes]] = field(default_factory=dict)

    def releases(self, tables: Sequence[Table]) -> Iterator[dict[str, Any]]:
        for table in tables:
            yield from self._table(table)

    def _table(self, table: Table) -> Iterator[dict[str, Any]]:
        name, layout, header = table.path.name, table.layout, table.header
        counts: dict[str, Any] = {
            "file": name,
            "layout": layout.key,
            "encoding": table.encoding or "xlsx",
            "rows": 0,
            "releases": 0,
            "quarantined": 0,
            "blank_lines": 0,
        }
        reasons: Counter[str] = Counter()
        for line, cells in table.records():
            if not cells:
                counts["blank_lines"] += 1
                continue
            counts["rows"] += 1
            try:
                release = self._convert(table, line, cells)
            except Unmappable as exc:
                reason = str(exc)
                entry = {"file": name, "line": line, "raw": _raw(header, cells), "reason": reason}
                if reason == DUPLICATE_ROW:
                    first_file, first_line = self.seen_rows[_digest(layout, cells)]
                    entry["duplicate_of"] = {"file": first_file, "line": first_line}
                self.quarantine.append(entry)
                counts["quarantined"] += 1
                reasons[reason.split(":")[0]] += 1
                continue
            counts["releases"] += 1
            yield release
        counts["quarantine_reasons"] = dict(reasons)
        unmapped = [h for h in header if h not in layout.keys and vocab.norm(h) not in layout.loose_keys]
        if unmapped:
            counts["unmapped_columns"] = unmapped
        log.info(
            "%s (%s): %d rows → %d releases + %d quarantined",
            name,
            layout.key,
            counts["rows"],
            counts["releases"],
            counts["quarantined"],
        )
        self.files.append(counts)

    def _convert(self, table: Table, line: int, cells: list[str]) -> dict[str, Any]:
        """Return the release of one record, or raise :class:`Unmappable` with the quarantine reason."""
        header, layout = table.header, table.layout
        if len(cells) != len(header):
            raise Unmappable(f"cells: expected {len(header)} cells for {layout.key}, found {len(cells)}")
        digest = _digest(layout, cells)
        if digest in self.seen_rows:
            raise Unmappable(DUPLICATE_ROW)
        self.seen_rows[digest] = (table.path.name, line)
        release = release_from_row(canonical_row(layout, header, cells), self.prefix, layout.slash_dates)
        code = release["contracts"][0]["id"]
        if code in self.seen_codes:
            first_file, first_line, _ = self.seen_codes[code]
            raise Unmappable(
                f"codigo_contrato: contract {code} was already converted from {first_file} line {first_line}, "
                "with different values"
            )
        self.seen_codes[code] = (table.path.name, line, digest)
        return release


def _digest(layout: Layout, cells: Sequence[str]) -> bytes:
    text = "\x1f".join([layout.key, *cells])
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def convert(paths: list[Path], out_dir: Path, prefix: str) -> dict[str, Any]:
    """Convert Contratos exports to ``out_dir/releases.jsonl`` and ``out_dir/quarantine.jsonl``; return the counts.

    Every layout is detected before any row is converted, so an unknown header fails the run at once. Exact
    duplicate rows (within and across the files) are quarantined after the first; so is a later row that reuses an
    already converted contract code with different values, since release ids must be unique.
    """
    tables = [open_table(Path(path)) for path in paths]
    run = _Run(prefix)
    releases_path = out_dir / "releases.jsonl"
    quarantine_path = out_dir / "quarantine.jsonl"
    jsonio.write_jsonl(releases_path, run.releases(tables))
    jsonio.write_jsonl(quarantine_path, run.quarantine)
    totals = {key: sum(f[key] for f in run.files) for key in ("rows", "releases", "quarantined", "blank_lines")}
    if totals["rows"] != totals["releases"] + totals["quarantined"]:  # a bug, never bad data
        raise AssertionError(f"row counts do not reconcile: {totals}")
    return {
        "files": run.files,
        "totals": totals,
        "releases_path": str(releases_path),
        "quarantine_path": str(quarantine_path),
        "extensions": list(EXTENSIONS),
    }

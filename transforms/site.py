"""The static download page of a publication (``index.html``), its OCID lookup index, and a small server for it.

The page is one self-contained file: inline CSS, inline SVG charts drawn here in Python (so they show without
JavaScript) and a short inline script for the OCID lookup, which fetches one shard of ``lookup/<n>.json``. The
shard is chosen by a 31-multiplier hash of the OCID's UTF-16 code units, computed the same way in Python
(:func:`shard_of`, and :func:`shards_of` over arrays) and in the page's script. Everything else, the download list
included, works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import itertools
import math
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from transforms import jsonio
from transforms.intervals import MEXICO_CITY

LOOKUP_SHARD_SIZE = 1000  # processes per lookup shard: a few hundred kB, one fetch per search
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F")  # Okabe–Ito
MONTHS = (
    *("enero", "febrero", "marzo", "abril", "mayo", "junio"),
    *("julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"),
)
# tender/procurementMethod: label and colour (grey for a missing method).
METHODS = {
    "open": ("Licitación pública (open)", PALETTE[0]),
    "selective": ("Invitación a cuando menos tres (selective)", PALETTE[1]),
    "direct": ("Adjudicación directa (direct)", PALETTE[2]),
    "limited": ("Limitada (limited)", PALETTE[3]),
    "unknown": ("Sin dato", PALETTE[6]),
}

# -- headline figures ---------------------------------------------------------------------------------------------
BY_METHOD_AND_YEAR = """
SELECT year, coalesce(procurement_method, 'unknown') AS method, count(*) AS processes,
       coalesce(sum(contracted_amount) FILTER (WHERE contracted_currency = 'MXN'), 0) AS contracted_mxn
FROM core_contracting_processes GROUP BY ALL ORDER BY year, method
"""
# R018's population: competitive procedures whose number of tenderers is known.
SINGLE_BID_BY_YEAR = """
SELECT year, count(*) FILTER (WHERE number_of_tenderers = 1) AS single_bid, count(*) AS competitive
FROM core_contracting_processes
WHERE procurement_method IN ('open', 'selective') AND number_of_tenderers IS NOT NULL
GROUP BY year ORDER BY year
"""
TOP_FLAGGED_BUYERS = """
SELECT coalesce(p.buyer_name, p.buyer_id, 'sin dato') AS buyer, count(DISTINCT f.ocid) AS flagged,
       count(DISTINCT p.ocid) AS processes
FROM core_contracting_processes p LEFT JOIN out_flags f USING (ocid)
GROUP BY buyer HAVING count(DISTINCT f.ocid) > 0 ORDER BY flagged DESC, buyer LIMIT 10
"""
LOOKUP_COLUMNS = (
    "year, tender_title, buyer_name, procuring_entity_name, procurement_method, procurement_method_details, "
    "tender_status, tender_amount, tender_currency, contracted_amount, contracted_currency, number_of_tenderers, "
    "award_count, contract_count"
)
# What the lookup shows besides the core columns, by the table it comes from: (join, key, value expression).
LOOKUP_JOINS = {
    "core_award_suppliers": (
        "LEFT JOIN (SELECT ocid, list(DISTINCT supplier_name ORDER BY supplier_name) AS suppliers "
        "FROM core_award_suppliers WHERE supplier_name IS NOT NULL GROUP BY ocid) s USING (ocid)",
        "suppliers",
        "s.suppliers",
    ),
    "out_flags": (
        "LEFT JOIN (SELECT ocid, list([indicator, coalesce(n.name, indicator), coalesce(explanation, '')] "
        "ORDER BY indicator, unit, unit_id) AS flags FROM out_flags LEFT JOIN lookup_names n ON n.code = indicator "
        "WHERE ocid IS NOT NULL GROUP BY ocid) f USING (ocid)",
        "flags",
        "f.flags",
    ),
    "out_process_scores": (
        "LEFT JOIN (SELECT ocid, max(cri) AS cri FROM out_process_scores WHERE cri IS NOT NULL GROUP BY ocid) c "
        "USING (ocid)",
        "cri",
        "round(c.cri, 3)",
    ),
    "record_files": ("LEFT JOIN record_files r USING (ocid)", "record_file", "r.record_file"),
}
LOOKUP_BATCH = 20_000  # entries per Arrow batch read from DuckDB


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchall()[0]
    return bool(row and row[0])


def headline(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Return the rows behind the page's charts (the flag chart is empty when there is no ``out_flags``)."""
    flagged = con.execute(TOP_FLAGGED_BUYERS).fetchall() if _has_table(con, "out_flags") else []
    return {
        "by_method_and_year": con.execute(BY_METHOD_AND_YEAR).fetchall(),
        "single_bid_by_year": con.execute(SINGLE_BID_BY_YEAR).fetchall(),
        "top_flagged_buyers": flagged,
    }


def _json_member(key: str, value: str) -> str:
    """Return SQL for ``"key":value`` as JSON text, or NULL when the value is (``concat_ws`` then leaves it out)."""
    return f"CASE WHEN {value} IS NOT NULL THEN '{orjson.dumps(key).decode()}:' || to_json({value}) END"


def lookup_entries(
    con: duckdb.DuckDBPyConnection, record_files: pa.Table | None, indicator_names: dict[str, str], shards: int
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(shard, members)`` in shard order, each member ``"ocid":{entry}`` as JSON text, in ocid order: what
    the OCID lookup shows of each process (summary, suppliers, flags, risk index and its record file).

    Shards come from :func:`shards_of`; DuckDB writes each entry's JSON (members that are NULL left out), so Python
    only joins text, a batch at a time.
    """
    present = [name for name in LOOKUP_JOINS if name != "record_files" and _has_table(con, name)]
    present += ["record_files"] if record_files is not None else []
    members = [_json_member(c.strip(), f"p.{c.strip()}") for c in LOOKUP_COLUMNS.split(",")]
    members += [_json_member(LOOKUP_JOINS[name][1], LOOKUP_JOINS[name][2]) for name in present]
    entry = f"'{{' || concat_ws(',', {', '.join(members)}) || '}}'"
    query = (
        f"SELECT h.shard, to_json(p.ocid) || ':' || {entry} AS member "
        f"FROM core_contracting_processes p JOIN lookup_shards h USING (ocid) "
        f"{' '.join(LOOKUP_JOINS[name][0] for name in present)} ORDER BY h.shard, p.ocid"
    )
    ocids = con.sql("SELECT DISTINCT ocid FROM core_contracting_processes").to_arrow_table().column("ocid")
    names = pa.schema([("code", pa.string()), ("name", pa.string())])
    registered = {
        "lookup_shards": pa.table({"ocid": ocids, "shard": shards_of(ocids, shards)}),
        "lookup_names": pa.table([list(indicator_names), list(indicator_names.values())], schema=names),
        **({"record_files": record_files} if record_files is not None else {}),
    }
    try:
        for name, table in registered.items():
            con.register(name, table)
        current, part = 0, list[str]()
        for batch in con.sql(query).to_arrow_reader(LOOKUP_BATCH):
            numbers, texts = batch.column("shard").to_numpy(), batch.column("member").to_pylist()
            # Where each shard's rows start in the batch (rows come in shard order).
            bounds = [0, *(np.flatnonzero(numbers[1:] != numbers[:-1]) + 1).tolist(), len(numbers)]
            for start, end in itertools.pairwise(bounds):
                if numbers[start] != current:
                    yield current, part
                    current, part = int(numbers[start]), []
                part.extend(texts[start:end])
        yield current, part
    finally:
        for name in registered:
            con.unregister(name)


def shard_count(processes: int) -> int:
    """Return how many lookup shards ``processes`` entries need (a power of two, at least one)."""
    return 1 << max(0, math.ceil(math.log2(max(1, math.ceil(processes / LOOKUP_SHARD_SIZE)))))


def shard_of(ocid: str, shards: int) -> int:
    """Return the lookup shard of an OCID: the page's script computes the same hash."""
    units = struct.unpack(f"<{len(ocid.encode('utf-16-le')) // 2}H", ocid.encode("utf-16-le"))
    value = 0
    for unit in units:
        value = (value * 31 + unit) & 0xFFFFFFFF
    return value % shards


def shards_of(ocids: pa.ChunkedArray | pa.Array, shards: int) -> np.ndarray:
    """Return :func:`shard_of` of every OCID, computed over the columns of their characters for ASCII ones (an ASCII
    character is its own UTF-16 code unit), one by one for the others."""
    ocids = pc.cast(ocids.combine_chunks() if isinstance(ocids, pa.ChunkedArray) else ocids, pa.large_string())
    ascii = np.asarray(pc.fill_null(pc.string_is_ascii(ocids), False).to_numpy(zero_copy_only=False), dtype=bool)
    kept = ocids.filter(pa.array(ascii))
    offsets = np.frombuffer(kept.buffers()[1], dtype=np.int64)[kept.offset : kept.offset + len(kept) + 1]
    data = np.frombuffer(kept.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if len(kept) else np.zeros(0)
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    hashed = np.zeros(len(kept), dtype=np.uint32)
    # OCIDs of one length at a time, hashed a character position at a time (uint32 wraps modulo 2**32, as the page's
    # script masks).
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        at, value = starts[rows], np.zeros(len(rows), dtype=np.uint32)
        for position in range(length):
            value = value * np.uint32(31) + data[at + position]
        hashed[rows] = value
    value = np.zeros(len(ocids), dtype=np.uint32)
    value[ascii] = hashed
    result = (value % np.uint32(shards)).astype(np.int64)
    for row in np.flatnonzero(~ascii):
        result[row] = shard_of(ocids[int(row)].as_py(), shards)
    return result


def write_lookup(
    folder: Path, con: duckdb.DuckDBPyConnection, record_files: pa.Table | None, indicator_names: dict[str, str]
) -> tuple[int, list[str]]:
    """Write ``lookup/<n>.json`` (every shard, even an empty one); return the shard count and the files written."""
    row = con.execute("SELECT count(*) FROM core_contracting_processes").fetchall()[0]
    shards = shard_count(int(row[0]) if row else 0)
    return shards, write_shards(folder, lookup_entries(con, record_files, indicator_names, shards), shards)


def write_shards(folder: Path, parts: Iterable[tuple[int, list[str]]], shards: int) -> list[str]:
    """Write the shards from ``(shard, members)`` in shard order (one JSON object each), then the empty ones."""
    names = [f"lookup/{number}.json" for number in range(shards)]
    written = set()
    for shard, members in parts:
        jsonio.write_bytes(folder / names[shard], ("{" + ",".join(members) + "}\n").encode())
        written.add(shard)
    for number in sorted(set(range(shards)) - written):
        jsonio.write_bytes(folder / names[number], b"{}\n")
    return names


# -- formatting ---------------------------------------------------------------------------------------------------
def esc(value: Any) -> str:
    """Escape a value for HTML text or an attribute."""
    return html.escape(str(value), quote=True)


def fmt_int(value: float) -> str:
    """Format a count the Mexican way (comma thousands)."""
    return f"{round(value):,}"


def fmt_mxn(value: float) -> str:
    """Format pesos in millions."""
    return f"{value / 1e6:,.1f} M MXN"


def fmt_pct(value: float) -> str:
    """Format a share as a percentage."""
    return f"{value * 100:.1f} %"


def fmt_moment(value: str) -> str:
    """Format an RFC 3339 moment as a Mexico City date and time in words."""
    moment = dt.datetime.fromisoformat(value).astimezone(MEXICO_CITY)
    return f"{moment.day} de {MONTHS[moment.month - 1]} de {moment.year}, {moment:%H:%M} (hora de la Ciudad de México)"


def fmt_bytes(size: int) -> str:
    """Format a file size in kB, MB or GB (powers of 1000, like most download pages)."""
    units = (("GB", 1e9), ("MB", 1e6), ("kB", 1e3))
    for unit, scale in units:
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size} B"


# -- charts -------------------------------------------------------------------------------------------------------
@dataclass
class Chart:
    """A chart: an SVG drawn from rows, with a title, a description and the same numbers as a table."""

    slug: str
    title: str
    description: str
    svg: str
    table_head: Sequence[str]
    table_rows: Sequence[Sequence[str]] = field(default_factory=list)


def _svg_open(slug: str, title: str, description: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{slug}-t {slug}-d" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">'
        f'<title id="{slug}-t">{esc(title)}</title><desc id="{slug}-d">{esc(description)}</desc>'
    )


def _short(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    slug: str, title: str, description: str, rows: Sequence[tuple[str, float, str]], *, colour: str = PALETTE[0]
) -> str:
    """Draw horizontal bars: one row per (label, value, value as text)."""
    label_w, bar_w, row_h, top = 270, 300, 26, 8
    width, height = label_w + bar_w + 110, top * 2 + row_h * max(1, len(rows))
    parts = [_svg_open(slug, title, description, width, height)]
    if not rows:
        parts.append(f'<text x="8" y="{top + 17}" class="t">Sin datos en esta publicación</text>')
    peak = max((value for _, value, _ in rows), default=0) or 1
    for index, (label, value, text) in enumerate(rows):
        y = top + index * row_h
        length = max(1.0, bar_w * value / peak) if value else 0
        parts.append(
            f"<g><title>{esc(label)}: {esc(text)}</title>"
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="t">{esc(_short(label))}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}" class="t">{esc(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(
    slug: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str]],
    values: dict[tuple[str, str], float],
    total_text: Any,
) -> str:
    """Draw one horizontal bar per category, stacked by series (name, colour), with a legend."""
    label_w, bar_w, row_h, legend_h = 70, 470, 30, 24 * math.ceil(max(1, len(series)) / 2) + 8
    width, height = label_w + bar_w + 150, legend_h + 8 + row_h * max(1, len(categories))
    parts = [_svg_open(slug, title, description, width, height)]
    for index, (name, colour) in enumerate(series):
        left, top = 8 + (index % 2) * 340, 6 + (index // 2) * 24
        parts.append(
            f'<rect x="{left}" y="{top + 2}" width="14" height="14" fill="{colour}"/>'
            f'<text x="{left + 20}" y="{top + 14}" class="t">{esc(name)}</text>'
        )
    if not categories:
        parts.append(f'<text x="8" y="{legend_h + 22}" class="t">Sin datos en esta publicación</text>')
    totals = {c: sum(values.get((c, name), 0) for name, _ in series) for c in categories}
    peak = max(totals.values(), default=0) or 1
    for row, category in enumerate(categories):
        y, x = legend_h + 8 + row * row_h, float(label_w)  # x: where the next segment starts
        parts.append(f'<text x="{label_w - 8}" y="{y + 19}" text-anchor="end" class="t">{esc(category)}</text>')
        for name, colour in series:
            value = values.get((category, name), 0)
            if not value:
                continue
            length = bar_w * value / peak
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 5}" width="{length:.1f}" height="{row_h - 10}" fill="{colour}">'
                f"<title>{esc(category)}, {esc(name)}: {esc(total_text(value))}</title></rect>"
            )
            x += length
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 19}" class="t">{esc(total_text(totals[category]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def charts(figures: dict[str, list[tuple[Any, ...]]]) -> list[Chart]:
    """Build the headline charts from :func:`headline`'s rows."""
    rows = figures["by_method_and_year"]
    years = sorted({str(r[0]) for r in rows})
    order = [m for m in METHODS if any(r[1] == m for r in rows)] + sorted({r[1] for r in rows} - set(METHODS))
    series = [METHODS.get(m, (m, PALETTE[4])) for m in order]
    label = {m: METHODS.get(m, (m, ""))[0] for m in order}
    count = {(str(r[0]), label[r[1]]): float(r[2]) for r in rows}
    value = {(str(r[0]), label[r[1]]): float(r[3] or 0) for r in rows}
    by_method_rows = [(str(r[0]), label[r[1]], fmt_int(r[2]), fmt_mxn(r[3] or 0)) for r in rows]
    single = figures["single_bid_by_year"]
    flagged = figures["top_flagged_buyers"]
    result = [
        Chart(
            "procesos",
            "Procedimientos por método y año",
            "Número de procedimientos de contratación por año de inicio, apilados por método de contratación.",
            stacked_chart("procesos", "Procedimientos por método y año", "Por año.", years, series, count, fmt_int),
            ("año", "método", "procedimientos", "valor contratado"),
            by_method_rows,
        ),
        Chart(
            "valor",
            "Valor contratado por método y año",
            "Suma del valor de los contratos en pesos (MXN) por año de inicio del procedimiento, apilada por método.",
            stacked_chart("valor", "Valor contratado por método y año", "Por año.", years, series, value, fmt_mxn),
            ("año", "método", "procedimientos", "valor contratado"),
            by_method_rows,
        ),
        Chart(
            "oferta-unica",
            "Procedimientos competitivos con una sola oferta",
            "Proporción de licitaciones públicas e invitaciones con número de participantes conocido que recibieron "
            "una sola oferta (indicador R018), por año.",
            bar_chart(
                "oferta-unica",
                "Procedimientos competitivos con una sola oferta",
                "Proporción por año.",
                [(str(y), s / n if n else 0, f"{fmt_pct(s / n if n else 0)} ({s} de {n})") for y, s, n in single],
                colour=PALETTE[5],
            ),
            ("año", "con una sola oferta", "competitivos", "proporción"),
            [(str(y), fmt_int(s), fmt_int(n), fmt_pct(s / n if n else 0)) for y, s, n in single],
        ),
        Chart(
            "compradores",
            "Compradores con más procesos señalados",
            "Los diez compradores con más procesos que tienen al menos una bandera roja.",
            bar_chart(
                "compradores",
                "Compradores con más procesos señalados",
                "Procesos con al menos una bandera roja, por comprador.",
                [(str(b), float(f), f"{fmt_int(f)} de {fmt_int(p)}") for b, f, p in flagged],
                colour=PALETTE[2],
            ),
            ("comprador", "procesos señalados", "procesos del comprador"),
            [(str(b), fmt_int(f), fmt_int(p)) for b, f, p in flagged],
        ),
    ]
    return result


# -- the page -----------------------------------------------------------------------------------------------------
@dataclass
class FileEntry:
    """One downloadable file as the page lists it."""

    path: str
    size: int
    sha256: str  # empty: listed in SHA256SUMS only
    description: str
    group: str


@dataclass
class Page:
    """Everything the page shows."""

    title: str
    key: str
    published: str
    last_release: str | None
    licence_url: str
    licence_title: str
    publisher: str
    policy_url: str
    personal_data: str
    counts: dict[str, int]
    changes: dict[str, Any]
    charts: list[Chart]
    files: list[FileEntry]
    groups: Sequence[tuple[str, str, bool]]  # (group id, heading, collapsed)
    shards: int
    file_limit: int


# Text colours keep at least 4.5:1 on white; bars get a dark outline because some palette colours alone fall
# below the 3:1 WCAG asks of graphics.
CSS = """
:root{color-scheme:light;--ink:#1b1b1b;--muted:#4a4a4a;--link:#0b57d0;--line:#d0d0d0;--bg:#fafafa}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
main,header,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1.5rem}
h1{font-size:1.9rem;margin:.2rem 0 .5rem}h2{margin-top:2.2rem;border-bottom:2px solid var(--line)}
a{color:var(--link)}a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid #c2410c;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:.5rem;padding:0;list-style:none}
.facts li{background:var(--bg);border:1px solid var(--line);padding:.6rem .8rem;border-radius:4px}
.facts strong{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
caption{text-align:left;font-weight:600;padding:.3rem 0}
td.num,th.num{text-align:right;white-space:nowrap}
code.hash{font-size:.78rem;word-break:break-all;color:var(--muted)}
figure{margin:1.2rem 0}figcaption{color:var(--muted)}
svg.chart{max-width:100%;height:auto}svg .t{font:13px system-ui,sans-serif;fill:#1b1b1b}
svg.chart rect{stroke:#1b1b1b;stroke-width:.6}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
label{font-weight:600;display:block}
input[type=text]{font:inherit;padding:.45rem;min-width:min(34rem,90vw);border:2px solid #595959;border-radius:4px}
button{font:inherit;padding:.45rem 1rem;border:2px solid #0b57d0;background:#0b57d0;color:#fff;border-radius:4px}
#lookup-result{margin-top:1rem}#lookup-result dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
#lookup-result dt{font-weight:600}.note{color:var(--muted)}
"""

SCRIPT = """
(function () {
  "use strict";
  var form = document.getElementById("lookup-form");
  var input = document.getElementById("ocid");
  var out = document.getElementById("lookup-result");
  var shards = Number(form.getAttribute("data-shards"));
  form.hidden = false;
  function shard(ocid) {
    var h = 0;
    for (var i = 0; i < ocid.length; i++) { h = (Math.imul(h, 31) + ocid.charCodeAt(i)) >>> 0; }
    return h % shards;
  }
  function el(tag, text) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function money(amount, currency) {
    return amount === undefined ? undefined : amount.toLocaleString("es-MX") + " " + (currency || "");
  }
  function render(ocid, p) {
    var box = el("div"), dl = el("dl");
    box.appendChild(el("h3", p.tender_title || ocid));
    var rows = [["OCID", ocid], ["Año", p.year], ["Comprador", p.buyer_name],
      ["Unidad compradora", p.procuring_entity_name],
      ["Método", [p.procurement_method, p.procurement_method_details].filter(Boolean).join(" — ")],
      ["Estado", p.tender_status], ["Valor estimado", money(p.tender_amount, p.tender_currency)],
      ["Valor contratado", money(p.contracted_amount, p.contracted_currency)],
      ["Participantes", p.number_of_tenderers], ["Proveedores", (p.suppliers || []).join("; ")],
      ["Índice de riesgo de corrupción (CRI, 0–1)", p.cri]];
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === "") { return; }
      dl.appendChild(el("dt", r[0])); dl.appendChild(el("dd", String(r[1])));
    });
    box.appendChild(dl);
    var flags = p.flags || [];
    box.appendChild(el("h4", flags.length ? "Banderas rojas (" + flags.length + ")" : "Sin banderas rojas"));
    if (flags.length) {
      var ul = el("ul");
      flags.forEach(function (f) { ul.appendChild(el("li", f[0] + " " + f[1] + ": " + f[2])); });
      box.appendChild(ul);
    }
    if (p.record_file) {
      var a = el("a", "Registro OCDS completo: " + p.record_file);
      a.href = p.record_file;
      box.appendChild(el("p")).appendChild(a);
    }
    return box;
  }
  function show(state, node) { out.setAttribute("data-state", state); out.replaceChildren(node); }
  function lookup(ocid) {
    ocid = ocid.trim();
    if (!ocid) { return; }
    show("loading", el("p", "Buscando " + ocid + "…"));
    fetch("lookup/" + shard(ocid) + ".json").then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (index) {
      if (Object.prototype.hasOwnProperty.call(index, ocid)) { show("found", render(ocid, index[ocid])); }
      else { show("missing", el("p", "No hay ningún proceso con el OCID " + ocid + " en esta publicación.")); }
    }).catch(function (error) {
      show("error", el("p", "No se pudo leer el índice de búsqueda (" + error.message + "). Abra la página desde un " +
        "servidor web, por ejemplo con «semaforo serve», no como archivo local."));
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    history.replaceState(null, "", "#ocid=" + encodeURIComponent(input.value.trim()));
    lookup(input.value);
  });
  var match = /^#ocid=(.+)$/.exec(location.hash);
  if (match) { input.value = decodeURIComponent(match[1]); lookup(input.value); }
})();
"""


def _file_rows(files: Iterable[FileEntry]) -> str:
    rows = []
    for entry in files:
        rows.append(
            f'<tr><td><a href="{esc(entry.path)}" data-download>{esc(entry.path)}</a></td>'
            f"<td>{esc(entry.description)}</td>"
            f'<td class="num"><data value="{entry.size}">{esc(fmt_bytes(entry.size))}</data></td>'
            + (
                f'<td><code class="hash">{esc(entry.sha256)}</code></td></tr>'
                if entry.sha256
                else '<td>en <a href="SHA256SUMS">SHA256SUMS</a></td></tr>'
            )
        )
    return "".join(rows)


def _file_table(caption: str, files: list[FileEntry]) -> str:
    return (
        f"<table><caption>{esc(caption)}</caption><thead><tr><th scope=col>archivo</th>"
        '<th scope=col>contenido</th><th scope=col class="num">tamaño</th><th scope=col>SHA-256</th></tr></thead>'
        f"<tbody>{_file_rows(files)}</tbody></table>"
    )


def _chart_html(chart: Chart) -> str:
    head = "".join(f"<th scope=col>{esc(h)}</th>" for h in chart.table_head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in chart.table_rows)
    return (
        f'<figure id="grafica-{chart.slug}"><h3>{esc(chart.title)}</h3>{chart.svg}'
        f"<figcaption>{esc(chart.description)}</figcaption>"
        f"<details><summary>Ver los datos de la gráfica</summary><table><caption>{esc(chart.title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details></figure>"
    )


def render_page(page: Page) -> str:
    """Return the download page as one self-contained HTML document."""
    counts = page.counts
    facts = "".join(
        f"<li><strong>{esc(fmt_int(value))}</strong>{esc(label)}</li>"
        for label, value in (
            ("procesos de contratación", counts.get("processes", 0)),
            ("entregas (releases) OCDS", counts.get("releases", 0)),
            ("adjudicaciones", counts.get("awards", 0)),
            ("contratos", counts.get("contracts", 0)),
            ("banderas rojas", counts.get("flags", 0)),
        )
    )
    changes = page.changes
    since = "Primera publicación"
    if changes.get("previous"):
        since = f"Desde la publicación anterior ({esc(changes['previous'])})"
    downloads = []
    for group, heading, collapsed in page.groups:
        members = [f for f in page.files if f.group == group]
        if not members:
            continue
        table = _file_table(heading, members)
        if collapsed:
            table = f"<details><summary>{esc(heading)} ({len(members)} archivos)</summary>{table}</details>"
        downloads.append(table)
    personal = (
        "Los datos personales (nombres y datos de contacto de servidores públicos, «contactPoint» en OCDS) se "
        "omiten en todos los formatos, según la política de publicación."
        if page.personal_data == "redact"
        else "Esta publicación incluye los datos de contacto (contactPoint) tal como los publica la fuente."
    )
    return f"""<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(page.title)} — {esc(page.key)}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<a class="skip" href="#contenido">Saltar al contenido</a>
<header>
<p class="note">Publicación del {esc(page.key)}</p>
<h1>{esc(page.title)}</h1>
<p>Datos abiertos de contrataciones públicas federales de México (CompraNet), convertidos al
<a href="https://standard.open-contracting.org/1.1/es/">Estándar de Datos de Contrataciones Abiertas (OCDS) 1.1</a>,
validados contra el esquema oficial y acompañados de tablas planas, una base de datos DuckDB y banderas rojas de
riesgo con su explicación.</p>
</header>
<main id="contenido">
<section aria-labelledby="resumen">
<h2 id="resumen">Resumen</h2>
<ul class="facts">{facts}</ul>
<dl>
<dt>Última actualización</dt><dd><time datetime="{esc(page.published)}">{esc(fmt_moment(page.published))}</time>,
el cierre del intervalo de datos{
        f"; la entrega más reciente es del <time datetime='{esc(page.last_release)}'>"
        f"{esc(fmt_moment(page.last_release))}</time>"
        if page.last_release
        else ""
    }.</dd>
<dt>Licencia</dt><dd><a href="{esc(page.licence_url)}">{esc(page.licence_title)}</a>. Los archivos CSV, Excel,
Parquet y DuckDB no pueden llevar metadatos de paquete: esta licencia también los cubre.</dd>
<dt>Publicador</dt><dd>{esc(page.publisher)}</dd>
<dt>Política de publicación</dt><dd><a href="{esc(page.policy_url)}">{esc(page.policy_url)}</a>. {esc(personal)}</dd>
<dt>Cambios</dt><dd>{since}: {fmt_int(changes.get("added", 0))} procesos nuevos,
{fmt_int(changes.get("changed", 0))} modificados y {fmt_int(changes.get("removed", 0))} retirados
(<a href="changes.csv">changes.csv</a>).</dd>
</dl>
</section>
<section aria-labelledby="buscar">
<h2 id="buscar">Buscar un proceso por OCID</h2>
<form id="lookup-form" data-shards="{page.shards}" hidden>
<div><label for="ocid">OCID del proceso</label>
<input type="text" id="ocid" name="ocid" autocomplete="off" spellcheck="false"
 placeholder="ocds-…" aria-describedby="ocid-ayuda"></div>
<button type="submit">Buscar</button>
</form>
<p id="ocid-ayuda" class="note">El OCID identifica un proceso de contratación, por ejemplo el de la columna
<code>ocid</code> de las tablas. También puede enlazar a <code>index.html#ocid=…</code>.</p>
<noscript><p>La búsqueda necesita JavaScript. Sin él, busque el OCID en <code>lookup/</code> (archivos JSON), en
las tablas planas o en la base DuckDB; todas las descargas de abajo funcionan sin JavaScript.</p></noscript>
<div id="lookup-result" aria-live="polite" data-state="idle"></div>
</section>
<section aria-labelledby="graficas">
<h2 id="graficas">Gráficas principales</h2>
{"".join(_chart_html(chart) for chart in page.charts)}
</section>
<section aria-labelledby="descargas">
<h2 id="descargas">Descargas</h2>
<p>Los paquetes OCDS son JSON Lines comprimidos con gzip: cada línea es un paquete de registros (record package) o
de entregas (release package). Las carpetas <code>records/</code> y <code>releases/</code> los dividen por año
(un registro va en el año de la primera entrega de su proceso, así que nunca cambia de archivo; una entrega, en el
de su fecha) y <code>undated</code> guarda lo que no tiene fecha; <code>records.jsonl.gz</code> y
<code>releases.jsonl.gz</code> tienen todo: son los archivos anuales unidos tal cual, de modo que los años suman el
total. Un archivo que no cambió conserva su contenido y su fecha de publicación de una noche a otra.
Ningún archivo pasa de {fmt_int(page.file_limit)}
adjudicaciones ni de {fmt_int(page.file_limit)} contratos: los que crecerían más continúan en <code>-2</code>,
<code>-3</code>, etc. Las tablas planas son la forma tabular documentada en el diccionario de datos.</p>
{"".join(downloads)}
<p>Metadatos: <a href="datapackage.json" data-download>datapackage.json</a> (Frictionless Data Package: cada
archivo con su tamaño, su SHA-256 y su esquema) y <a href="SHA256SUMS" data-download>SHA256SUMS</a>; compruebe una
descarga completa con <code>sha256sum -c SHA256SUMS</code>.</p>
</section>
</main>
<footer><p class="note">Generado por Semáforo a partir de los datos del intervalo {esc(page.key)}.</p></footer>
<script>{SCRIPT}</script>
</body>
</html>
"""


# -- serving ------------------------------------------------------------------------------------------------------
def make_server(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """Return an HTTP server for a publication folder (port 0 picks a free port); the caller runs it."""
    # Not resolved: serving publish/latest follows the symlink to each night's folder as it moves.
    handler = functools.partial(SimpleHTTPRequestHandler, directory=os.path.abspath(folder))
    return ThreadingHTTPServer((host, port), handler)


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve a publication folder (e.g. ``data/publish/latest``) over HTTP until interrupted."""
    with make_server(folder, host, port) as server:
        server.serve_forever()

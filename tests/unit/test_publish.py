"""The publication's parts on small hand-made data: file splitting, year cuts, links, change list, descriptor,
flat files and the page."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from transforms import flat, jsonio, packages, site
from transforms import publish as publishing

BASE = "https://example.org/pub/2026-11-20"
STAMP = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)


def meta(path: str) -> dict[str, Any]:
    return {
        "uri": f"{BASE}/{path}",
        "version": "1.1",
        "publishedDate": "2026-11-21T03:00:00-06:00",
        "publisher": {"name": "Semáforo"},
        "license": "https://datos.gob.mx/libreusomx",
        "publicationPolicy": "https://example.org/policy",
        "extensions": [],
    }


def make_release(ocid: str, number: int, date: str, awards: int = 0) -> dict[str, Any]:
    release: dict[str, Any] = {
        "ocid": ocid,
        "id": f"r{number}",
        "date": date,
        "tag": ["award" if awards else "tender"],
        "initiationType": "tender",
        "parties": [{"id": "UC", "name": "Unidad", "roles": ["procuringEntity"], "contactPoint": {"name": "Ana"}}],
    }
    if awards:
        release["awards"] = [{"id": f"a{number}-{i}", "status": "active"} for i in range(awards)]
    return release


def make_process(ocid: str, dates: list[str], awards: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    releases = [make_release(ocid, n, d, awards if n == len(dates) - 1 else 0) for n, d in enumerate(dates)]
    compiled = {**releases[-1], "id": f"{ocid}-compiled", "tag": ["compiled"]}
    if len(dates) == 1 and not dates[0]:
        del compiled["date"]
    return compiled, releases


def processes() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [
        make_process("ocds-x-1", ["2025-12-30T10:00:00-06:00", "2026-01-05T10:00:00-06:00"], awards=2),
        make_process("ocds-x-2", ["2025-03-01T10:00:00-06:00"], awards=1),
        make_process("ocds-x-3", ["2026-02-01T10:00:00-06:00", "2026-03-01T10:00:00-06:00"], awards=3),
        make_process("ocds-x-4", ["2026-04-01T10:00:00-06:00"], awards=0),
    ]


def read_packages(folder: Path, path: str) -> list[dict[str, Any]]:
    return list(jsonio.read_jsonl(folder / path))


def test_a_writer_splits_at_the_limit_and_keeps_the_plain_name_first(tmp_path: Path) -> None:
    writer = packages.PackageWriter(tmp_path, "releases", "release-package", "full", meta, limit=3, package_size=2)
    paths = [writer.add(jsonio.dumps({"n": n}), awards=1, contracts=0) for n in range(7)]
    paths.append(writer.add(jsonio.dumps({"n": "big"}), awards=5, contracts=0))  # above the limit: a file alone
    writer.close()
    assert paths == ["releases.jsonl.gz"] * 3 + ["releases-2.jsonl.gz"] * 3 + ["releases-3.jsonl.gz"] * 1 + [
        "releases-4.jsonl.gz"
    ]
    assert [(f.items, f.awards, f.packages) for f in writer.files] == [(3, 3, 2), (3, 3, 2), (1, 1, 1), (1, 5, 1)]
    lines = read_packages(tmp_path, "releases-2.jsonl.gz")
    assert [len(p["releases"]) for p in lines] == [2, 1]
    assert all(p["uri"] == f"{BASE}/releases-2.jsonl.gz" for p in lines)


def test_contracts_count_against_the_limit_too(tmp_path: Path) -> None:
    writer = packages.PackageWriter(tmp_path, "records", "record-package", "full", meta, limit=2)
    paths = [writer.add(jsonio.dumps({"n": n}), awards=0, contracts=1) for n in range(3)]
    writer.close()
    assert paths == ["records.jsonl.gz", "records.jsonl.gz", "records-2.jsonl.gz"]


def test_a_writer_splits_at_the_byte_limit(tmp_path: Path) -> None:
    item = jsonio.dumps({"text": "x" * 1000})
    limit = packages.PACKAGE_OVERHEAD + 2500
    writer = packages.PackageWriter(tmp_path, "releases", "release-package", "full", meta, limit=100, max_bytes=limit)
    paths = [writer.add(item, 0, 0) for _ in range(5)]
    writer.close()
    assert paths == ["releases.jsonl.gz"] * 2 + ["releases-2.jsonl.gz"] * 2 + ["releases-3.jsonl.gz"]
    for part in writer.files:
        size = len(gzip.decompress((tmp_path / part.path).read_bytes()))
        assert part.bytes == size <= limit


def test_previous_publication_is_found_by_name(tmp_path: Path) -> None:
    root = tmp_path / "publish"
    for key in ("2026-11-17", "2026-11-18", "2026-11-21", ".staging-2026-11-19"):
        (root / key).mkdir(parents=True)
    (root / "latest").symlink_to("2026-11-21")
    assert publishing.previous_publication(root, "2026-11-20") == root / "2026-11-18"
    assert publishing.previous_publication(root, "2026-11-17") is None


def test_compiled_digest_ignores_key_order() -> None:
    assert publishing.compiled_digest({"a": 1, "b": [1, 2]}) == publishing.compiled_digest({"b": [1, 2], "a": 1})
    assert publishing.compiled_digest({"a": 1}) != publishing.compiled_digest({"a": 2})


def test_interval_ends_follow_the_stored_intervals() -> None:
    from transforms.intervals import Interval

    tonight = Interval.for_day("2026-11-20")
    ends = packages.interval_ends(["2026-10-01", "2026-11-19"], tonight)
    # A history loaded as one interval ends where the next stored one starts; tonight ends at its own end.
    assert ends == {
        "2026-10-01": "2026-11-19T03:00:00-06:00",
        "2026-11-19": "2026-11-20T03:00:00-06:00",
        "2026-11-20": "2026-11-21T03:00:00-06:00",
    }


def test_full_files_are_concatenations_of_whole_yearly_files(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    yearly = []
    for number, (cut, awards) in enumerate((("2024", 2), ("2025", 2), ("2026", 3))):
        data = gzip.compress(b'{"n":%d}\n' % number, mtime=0)
        (tmp_path / f"records/{cut}.jsonl.gz").write_bytes(data)
        yearly.append(packages.PackageFile(f"records/{cut}.jsonl.gz", "record-package", cut, 1, 1, 1, awards, 0, 9))
    writer = packages.Packages.__new__(packages.Packages)
    writer.staging, writer.limit, writer.max_bytes, writer.hashes = tmp_path, 4, 10**9, {}
    writer.previous, writer.reusable = packages.Previous(), False
    full = writer._full("record-package", yearly)
    assert [(f.path, f.members, f.awards) for f in full] == [
        ("records.jsonl.gz", ["records/2024.jsonl.gz", "records/2025.jsonl.gz"], 4),
        ("records-2.jsonl.gz", ["records/2026.jsonl.gz"], 3),
    ]
    assert [p["n"] for p in jsonio.read_jsonl(tmp_path / "records.jsonl.gz")] == [0, 1], "gzip members concatenate"
    assert (tmp_path / "records-2.jsonl.gz").stat().st_ino == (tmp_path / "records/2026.jsonl.gz").stat().st_ino
    assert full[0].properties()["members"] == ["records/2024.jsonl.gz", "records/2025.jsonl.gz"]
    assert "first" not in full[0].properties() and "members" not in yearly[0].properties()


def test_describe_gives_every_file_a_unique_resource(tmp_path: Path) -> None:
    (tmp_path / "a_b.csv").write_text("x\n1\n")
    (tmp_path / "a-b.csv").write_text("x\n2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    (tmp_path / "SHA256SUMS").write_text("")
    schema = {"profile": "tabular-data-resource", "schema": "schemas/x.json", "group": "results"}
    descriptor = publishing.describe(tmp_path, {"a_b.csv": schema}, {}, {"name": "p"})
    resources = {r["path"]: r for r in descriptor["resources"]}
    assert set(resources) == {"a_b.csv", "a-b.csv", "sub/x.jsonl.gz"}
    assert len({r["name"] for r in resources.values()}) == 3
    assert resources["a_b.csv"]["schema"] == "schemas/x.json" and "group" not in resources["a_b.csv"]
    assert resources["sub/x.jsonl.gz"]["compression"] == "gz" and resources["sub/x.jsonl.gz"]["format"] == "jsonl"
    digest = hashlib.sha256((tmp_path / "a-b.csv").read_bytes()).hexdigest()
    assert resources["a-b.csv"]["hash"] == f"sha256:{digest}" and resources["a-b.csv"]["bytes"] == 4


# -- flat files ------------------------------------------------------------------------------------------------
@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE core_contracting_processes (ocid VARCHAR, year BIGINT, tender_title VARCHAR)")
        con.execute(
            "INSERT INTO core_contracting_processes VALUES ('o2', 2026, '=HYPERLINK(\"x\")'), ('o1', 2025, 'Uno'), "
            "('o3', 2026, 'Tres\x01')"
        )
        con.execute(
            "CREATE TABLE out_flags (indicator VARCHAR, unit VARCHAR, unit_id VARCHAR, ocid VARCHAR, value DOUBLE)"
        )
        con.execute(
            "INSERT INTO out_flags VALUES ('R018', 'process', 'o2', 'o2', 1.0), ('R038', 'buyer', 'B', NULL, 2)"
        )
        con.execute("CREATE TABLE core_awards (ocid VARCHAR, year BIGINT, award_date TIMESTAMPTZ)")
        con.execute("INSERT INTO core_awards VALUES ('o1', 2025, '2025-03-01 16:00:00+00')")
    return path


def test_flat_export_cuts_by_process_year_and_skips_workbooks_that_do_not_fit(database: Path, tmp_path: Path) -> None:
    written = flat.export(database, tmp_path / "flat", excel_rows=3)
    names = [item["path"] for item in written]
    # full has three processes (+ header = 4 rows > 3): no workbook; each year fits.
    assert names == ["full.csv.zip", "2025.csv.zip", "2025.xlsx", "2026.csv.zip", "2026.xlsx"]
    with zipfile.ZipFile(tmp_path / "flat" / "2026.csv.zip") as archive:
        # A year holds the star schema of its processes; flags and scores, relative to every process, are in full.
        assert sorted(archive.namelist()) == ["2026/core_awards.csv", "2026/core_contracting_processes.csv"]
        processes = archive.read("2026/core_contracting_processes.csv").decode()
        # Member times follow the rows (the latest compiled release), never the clock; none here: the ZIP epoch.
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    assert processes.splitlines()[1].startswith('o2,2026,"=HYPERLINK(""x"")"')
    with zipfile.ZipFile(tmp_path / "flat" / "2025.csv.zip") as archive:
        assert archive.read("2025/core_awards.csv").decode().splitlines()[1] == "o1,2025,2025-03-01T16:00:00Z"
    with zipfile.ZipFile(tmp_path / "flat" / "full.csv.zip") as archive:
        assert "R038,buyer,B,,2.0" in archive.read("full/out_flags.csv").decode()


def test_workbooks_hold_text_not_formulas_and_are_reproducible(database: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    flat.export(database, tmp_path / "a")
    flat.export(database, tmp_path / "b")
    for name in ("full.xlsx", "2026.xlsx", "full.csv.zip"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    sheet = load_workbook(tmp_path / "a" / "2026.xlsx")["core_contracting_processes"]
    rows = [[cell for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert rows[0][2].value == '=HYPERLINK("x")' and rows[0][2].data_type == "s"
    assert rows[1][2].value == "Tres", "control characters Excel cannot hold are dropped"
    book = load_workbook(tmp_path / "a" / "2025.xlsx")
    awards = [[cell.value for cell in row] for row in book["core_awards"].iter_rows()]
    assert awards == [["ocid", "year", "award_date"], ["o1", 2025, dt.datetime(2025, 3, 1, 16, 0)]]
    assert book["core_awards"]["C2"].number_format == "yyyy-mm-dd hh:mm:ss"
    flags = [
        [cell.value for cell in row] for row in load_workbook(tmp_path / "a" / "full.xlsx")["out_flags"].iter_rows()
    ]
    assert flags[1:] == [["R018", "process", "o2", "o2", 1.0], ["R038", "buyer", "B", None, 2.0]]


def test_counts_are_the_rows_each_selection_returns(database: Path) -> None:
    with duckdb.connect(str(database), read_only=True) as con:
        for table in flat.list_tables(con):
            for year in (None, 2025, 2026, 2027):
                query, params = flat.select(table, year)
                assert flat.count(con, table, year) == len(con.execute(query, params).fetchall()), (table.name, year)


def test_table_schema_types_come_from_duckdb_and_descriptions_from_the_schema_files(database: Path) -> None:
    with duckdb.connect(str(database), read_only=True) as con:
        found = {t.name: t for t in flat.list_tables(con)}
    schema = flat.table_schema(found["out_flags"])
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("indicator", "string"),
        ("unit", "string"),
        ("unit_id", "string"),
        ("ocid", "string"),
        ("value", "number"),
    ]
    assert schema["primaryKey"] == ["indicator", "unit", "unit_id"]
    assert all(f.get("description") for f in schema["fields"])
    assert flat.table_schema(found["core_awards"])["fields"][2]["type"] == "datetime"


# -- the page ----------------------------------------------------------------------------------------------------
def test_lookup_shards_are_stable_and_cover_every_process(tmp_path: Path) -> None:
    assert site.shard_count(0) == 1 and site.shard_count(1000) == 1 and site.shard_count(1001) == 2
    assert site.shard_count(5000) == 8
    # The page's script computes the same: h = (h * 31 + code unit) mod 2**32, then h mod shards.
    assert site.shard_of("ab", 1 << 31) == (97 * 31 + 98) % (1 << 31)
    ocids = [f"ocds-x-{n}" for n in range(2500)] + ["ocds-ñandú-1", "ocds-🌵-2"]
    # Shards are computed over arrays, a character position at a time (beyond the BMP, in UTF-16 code units).
    for shards in (1, 4, 1024, 1 << 31):
        chunked = pa.chunked_array([ocids[:7], ocids[7:]])
        assert site.shards_of(chunked, shards).tolist() == [site.shard_of(o, shards) for o in ocids]
    columns = ", ".join(f"{c.strip()} VARCHAR" for c in site.LOOKUP_COLUMNS.split(",") if c.strip() != "year")
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE core_contracting_processes (ocid VARCHAR, year BIGINT, {columns})")
        con.executemany("INSERT INTO core_contracting_processes (ocid, year) VALUES (?, 2026)", [[o] for o in ocids])
        con.execute(
            "CREATE TABLE out_flags "
            "(ocid VARCHAR, indicator VARCHAR, unit VARCHAR, unit_id VARCHAR, explanation VARCHAR)"
        )
        con.execute("INSERT INTO out_flags VALUES ('ocds-x-7', 'R018', 'process', 'ocds-x-7', 'una oferta')")
        files = pa.table({"ocid": ["ocds-x-7"], "record_file": ["records/2026.jsonl.gz"]})
        shards, names = site.write_lookup(tmp_path, con, files, {"R018": "Oferta única"})
    assert shards == 4 and names == [f"lookup/{n}.json" for n in range(4)]
    merged: dict[str, Any] = {}
    for name in names:
        part = jsonio.read_json(tmp_path / name)
        # The same hash as the page's script and shard_of.
        assert all(site.shard_of(ocid, shards) == int(name[7:-5]) for ocid in part)
        assert list(part) == sorted(part)
        merged.update(part)
    assert sorted(merged) == sorted(ocids)
    assert merged["ocds-x-7"] == {
        "year": 2026,
        "flags": [["R018", "Oferta única", "una oferta"]],
        "record_file": "records/2026.jsonl.gz",
    }


def test_the_page_escapes_data_and_draws_charts() -> None:
    figures = {
        "by_method_and_year": [(2026, "open", 3, 1e6), (2026, "direct", 5, 2e6), (2025, "unknown", 1, 0)],
        "single_bid_by_year": [(2026, 1, 3)],
        "top_flagged_buyers": [("<script>alert(1)</script>", 2, 4)],
    }
    page = site.Page(
        title="T",
        key="2026-11-20",
        published="2026-11-21T09:00:00+00:00",
        last_release=None,
        licence_url="https://datos.gob.mx/libreusomx",
        licence_title="Libre Uso MX",
        publisher="P",
        policy_url="https://example.org/policy",
        personal_data="redact",
        counts={"processes": 9},
        changes={"previous": None, "added": 9, "changed": 0, "removed": 0},
        charts=site.charts(figures),
        files=[site.FileEntry("a.csv", 1500, "ab" * 32, "una tabla", "results")],
        groups=publishing.GROUPS,
        shards=1,
        file_limit=250_000,
    )
    html = site.render_page(page)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<svg") == 4 and 'lang="es"' in html
    assert '<a href="a.csv" data-download>a.csv</a>' in html and "1.5 kB" in html and "ab" * 32 in html
    assert "21 de noviembre de 2026, 03:00" in html, "times are shown in Mexico City"
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", ""), "no external assets"


def test_csv_lines_made_in_sql_equal_pythons_csv_module() -> None:
    import csv
    import io

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TABLE out_x (ocid VARCHAR, n BIGINT, v DOUBLE, d DECIMAL(10, 2), b BOOLEAN, "
            "moment TIMESTAMPTZ, day DATE, tags VARCHAR[])"
        )
        con.execute(
            "INSERT INTO out_x VALUES "
            "('a,b', 1, 0.1, 3.50, true, '2025-03-01 16:00:00.5+00', '2025-03-01', ['x', 'y']), "
            "('say \"hi\"', NULL, 1e20, NULL, NULL, '2025-03-01 10:00:00-06', NULL, NULL), "
            "('two\nlines', -3, NULL, -1.25, false, NULL, '2024-02-29', []), "
            "('', 0, 173121.09, 0, NULL, NULL, NULL, ['a,\"b\"'])"
        )
        (table,) = [t for t in flat.list_tables(con) if t.name == "out_x"]
        ours = io.BytesIO()
        assert flat.write_csv(con, table, ours) == 4
        theirs = io.StringIO()
        writer = csv.writer(theirs, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in con.execute(flat.select(table)[0]).fetchall():
            writer.writerow([flat.csv_value(v) for v in row])
    assert ours.getvalue().decode() == theirs.getvalue()


def test_the_cut_night_follows_the_stored_intervals_only() -> None:
    from transforms.intervals import Interval

    def cut(keys: list[str], interval: Interval, days: int, recorded: dict[str, Any] | None = None) -> str:
        return packages.cut_of(packages.interval_ends(keys, interval, recorded), days)

    history = Interval(Interval.for_day("2026-02-23").start, Interval.for_day("2026-10-30").end)  # a long backfill
    nights = [history.key, *(f"2026-{m:02d}-{d:02d}" for m, d in ((10, 31), *((11, d) for d in range(1, 9))))]
    for night in nights[1:]:
        keys = nights[: nights.index(night) + 1]
        # The history ends on the 31st at 03:00: seven nights later (the 6th ends on the 7th) it is a week old.
        assert cut(keys, Interval.for_day(night), 7) == (history.key if night < "2026-11-06" else "2026-11-06"), night
    assert cut(nights[:3], Interval.for_day(nights[2]), 0) == nights[2], "0: every night"
    assert cut(nights[:1], history, 7) == history.key, "the first interval is a cut"

    # After a gap, a night's recorded end stays its own: 11-06 ended five days after 11-01, whatever came next.
    gap = ["2026-11-01", "2026-11-06", "2026-11-21"]
    recorded = {key: Interval.for_day(key).end for key in gap}
    assert cut(gap, Interval.for_day(gap[2]), 7, recorded) == gap[2]
    assert packages.cut_of(packages.interval_ends(gap[:2], Interval.for_day(gap[1]), recorded), 7) == gap[0]
    unrecorded = packages.interval_ends(gap, Interval.for_day(gap[2]))
    assert unrecorded["2026-11-06"].startswith("2026-11-21"), "without a record: where the next one starts"
    assert packages.interval_ends(gap, Interval.for_day(gap[2]), recorded)["2026-11-06"].startswith("2026-11-07")


def test_the_first_shift_of_split_release_files() -> None:
    a = ("releases/2026-2.jsonl.gz", ("ocds-b", "2026-02-01", "b-1"))
    b = ("releases/2026-2.jsonl.gz", ("ocds-c", "2026-03-01", "c-1"))
    c = ("releases/2026-3.jsonl.gz", ("ocds-d", "2026-04-01", "d-1"))
    assert packages._first_shift([a, c], [a, c]) is None
    assert packages._first_shift([], []) is None
    assert packages._first_shift([a, c], [a]) == c[1], "a new file past the old ones"
    assert packages._first_shift([b, c], [a, c]) == a[1], "the earlier of two moved splits"
    assert packages._first_shift([], [a]) == a[1]

"""The star schema: flattening, field coverage, dataset metadata, atomic partitions, DuckDB, the data dictionary."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms import jsonio, tables
from transforms.dictionary import render_data_dictionary
from transforms.intervals import Interval
from transforms.ocds.compile import compile_releases
from transforms.ocds.mapping import to_releases
from transforms.sources.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def compiled(ocds_dir: Path) -> list[dict[str, Any]]:
    from transforms import jsonio

    universe = simulate(SimulationConfig(procedures=800))
    releases, quarantined = to_releases(
        [(stage, record) for stage, rows in universe.records.items() for record in rows], "ocds-test00"
    )
    assert not quarantined
    return list(compile_releases(releases, jsonio.read_json(ocds_dir / "release-schema.json")))


@pytest.fixture(scope="module")
def rows(compiled: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return tables.flatten(compiled, interval=Interval.for_day("2026-11-10"))


def test_flatten_fills_every_table_with_declared_columns(rows: dict[str, list[dict[str, Any]]]) -> None:
    core = {name for name in tables.table_schemas() if name.startswith("core_")}
    assert set(rows) == core
    for name, table_rows in rows.items():
        assert table_rows, name
        declared = set(tables.arrow_schema(name).names)
        for row in table_rows[:50]:
            assert set(row) == declared, (name, set(row) ^ declared)
        arrow = tables.to_arrow(name, table_rows)
        assert arrow.num_rows == len(table_rows)


def test_process_columns_agree_with_the_child_tables(rows: dict[str, list[dict[str, Any]]]) -> None:
    processes = {r["ocid"]: r for r in rows["core_contracting_processes"]}
    bids: dict[str, int] = {}
    for bid in rows["core_bids"]:
        bids[bid["ocid"]] = bids.get(bid["ocid"], 0) + 1
    for ocid, process in processes.items():
        assert process["bid_count"] == bids.get(ocid, 0)
        assert process["valid_bid_count"] <= process["bid_count"]
        if process["tender_start_date"] and process["tender_end_date"]:
            assert process["tender_period_days"] > 0
    contracts = rows["core_contracts"]
    amended = [c for c in contracts if c["amendment_count"]]
    assert amended
    assert any(c["original_amount"] < c["amount"] for c in amended)
    assert all(c["original_amount"] == c["amount"] for c in contracts if not c["amendment_count"])
    paid = [c for c in contracts if c["transaction_count"]]
    assert all(0 < c["paid_amount"] <= c["amount"] for c in paid)


def test_canonical_ids_are_filled_and_follow_the_party_id(rows: dict[str, list[dict[str, Any]]]) -> None:
    mapping = rows["core_organization_map"]
    by_party: dict[str, set[str]] = {}
    for entry in mapping:
        by_party.setdefault(entry["party_id"], set()).add(entry["canonical_id"])
    assert all(len(ids) == 1 for ids in by_party.values())
    for supplier in rows["core_award_suppliers"]:
        assert supplier["supplier_canonical_id"] in by_party[supplier["supplier_id"]]
        if supplier["supplier_id"].startswith("MX-RFC-"):
            assert supplier["supplier_canonical_id"] == supplier["supplier_id"]
    name_only = [s for s in rows["core_award_suppliers"] if s["supplier_id"].startswith("MX-NAME-")]
    assert name_only, "the simulator plants suppliers without an RFC"
    # Every planted name without an RFC resolves to an RFC (the firm has RFC records elsewhere in 800 procedures).
    assert sum(s["supplier_canonical_id"].startswith("MX-RFC-") for s in name_only) / len(name_only) > 0.9
    assert {p["buyer_canonical_id"] for p in rows["core_contracting_processes"]} == {
        p["buyer_id"] for p in rows["core_contracting_processes"]
    }


def test_field_coverage_counts_a_hand_made_example() -> None:
    compiled: list[dict[str, Any]] = [
        {
            "ocid": "a",
            "tag": ["compiled"],
            "awards": [{"id": "1", "suppliers": [{"id": "x"}, {"id": "y", "name": ""}]}, {"id": "2"}],
            "tender": {"title": "T", "items": []},
        },
        {"ocid": "b", "tag": ["compiled"], "awards": [], "tender": {"title": "", "value": {"amount": None}}},
    ]
    coverage = {row["path"]: row for row in tables.field_coverage(compiled)}
    assert {path: (row["process_count"], row["value_count"]) for path, row in coverage.items()} == {
        "ocid": (2, 2),
        "tag": (2, 2),
        "awards": (1, 2),
        "awards/id": (1, 2),
        "awards/suppliers": (1, 2),
        "awards/suppliers/id": (1, 2),
        "tender": (1, 1),
        "tender/title": (1, 1),
    }
    assert coverage["awards"]["process_share"] == 0.5


def test_dataset_meta_comes_from_the_inputs_only(compiled: list[dict[str, Any]], rows: dict[str, Any]) -> None:
    meta = rows["core_dataset_meta"][0]
    again = tables.flatten(compiled, interval=Interval.for_day("2026-11-10"))["core_dataset_meta"][0]
    assert meta == again
    assert meta["interval_key"] == "2026-11-10"
    assert meta["interval_start"] == dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
    for column, table in [
        ("process_count", "core_contracting_processes"),
        ("bid_count", "core_bids"),
        ("award_count", "core_awards"),
        ("contract_count", "core_contracts"),
        ("transaction_count", "core_transactions"),
    ]:
        assert meta[column] == len(rows[table])
    assert meta["currencies"] == "MXN"
    assert meta["first_process_date"] <= meta["last_release_date"]
    assert re.fullmatch(r"[0-9a-f]{64}", meta["dataset_id"])
    changed = tables.flatten(compiled[1:])["core_dataset_meta"][0]
    assert changed["dataset_id"] != meta["dataset_id"]
    assert changed["interval_key"] is None


def _years(values: list[int], label: str) -> pa.Table:
    return pa.table({"year": values, "label": [label] * len(values)})


def _read(path: Path) -> list[str]:
    return pq.read_table(path).column("label").to_pylist()


def test_write_parquet_replaces_partitions_and_prunes(tmp_path: Path) -> None:
    tables.write_parquet(tmp_path, "t", _years([2025, 2026, 2026], "old"))
    tables.write_parquet(tmp_path, "t", _years([2026, 2027], "new"), prune=False)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["year=2025", "year=2026", "year=2027"]
    assert _read(tmp_path / "t" / "year=2025" / "part-0.parquet") == ["old"]
    assert _read(tmp_path / "t" / "year=2026" / "part-0.parquet") == ["new"]
    tables.write_parquet(tmp_path, "t", _years([2027], "newer"))
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["year=2027"]


def test_a_failed_write_leaves_no_partial_partition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables.write_parquet(tmp_path, "t", _years([2024, 2025, 2026], "old"))
    real_write = pq.write_table
    calls = []

    def failing_write(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls.append(where)
        if len(calls) == 2:
            Path(where).write_bytes(b"PAR1 half a file")  # a crash mid-write leaves a torn file behind
            raise OSError("disk full")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        tables.write_parquet(tmp_path, "t", _years([2024, 2025, 2026], "new"))
    monkeypatch.undo()
    entries = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert entries == ["year=2024", "year=2025", "year=2026"], "no temporary or half-written folder is left"
    labels = {name: _read(tmp_path / "t" / name / "part-0.parquet") for name in entries}
    assert labels == {"year=2024": ["new"], "year=2025": ["old"], "year=2026": ["old"]}
    for name in entries:
        assert [p.name for p in (tmp_path / "t" / name).iterdir()] == ["part-0.parquet"]


def test_unpartitioned_tables_are_swapped_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables.write_parquet(tmp_path, "u", pa.table({"label": ["old"]}))

    def failing_write(table: pa.Table, where: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError):
        tables.write_parquet(tmp_path, "u", pa.table({"label": ["new"]}))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["u"]
    assert _read(tmp_path / "u" / "part-0.parquet") == ["old"]


def test_parquet_round_trip_and_duckdb_skip_temporary_files(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]]
) -> None:
    root = tmp_path / "parquet"
    for name in ("core_awards", "core_dataset_meta"):
        tables.write_parquet(root, name, tables.to_arrow(name, rows[name]))
    stray = root / "core_awards" / ".year=2026.tmp-crashed"
    stray.mkdir()
    pq.write_table(tables.to_arrow("core_awards", rows["core_awards"][:5]), stray / "part-0.parquet")
    back = tables.read_table(root, "core_awards")
    assert back.num_rows == len(rows["core_awards"])
    assert back.schema.names == tables.arrow_schema("core_awards").names
    database = tmp_path / "semaforo.duckdb"
    tables.build_duckdb(database, root, ["core_awards", "core_dataset_meta"])
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core_awards").fetchone() == (len(rows["core_awards"]),)
        assert con.execute("SELECT count(*) FROM core_dataset_meta").fetchone() == (1,)


def test_data_dictionary_mentions_every_table_and_column() -> None:
    text = render_data_dictionary()
    sections = {part.split("`", 1)[0]: part for part in text.split("### `")[1:]}
    assert set(sections) == set(tables.table_schemas())
    for name, schema in tables.table_schemas().items():
        assert schema["description"] in sections[name]
        assert ", ".join(f"`{c}`" for c in schema["primaryKey"]) in sections[name]
        for field in schema["fields"]:
            assert f"| `{field['name']}` | {field['type']} |" in sections[name], (name, field["name"])
    assert "one of `open`, `selective`, `limited`, `direct`" in text
    assert text == render_data_dictionary()


def _content(database: Path) -> dict[str, list[Any]]:
    with duckdb.connect(str(database), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        comments = con.execute("SELECT table_name, comment FROM duckdb_tables() ORDER BY 1").fetchall()
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() ORDER BY ALL").fetchall()
        return {
            **{name: con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall() for name in names},
            "comments": [comments, columns],
        }


def test_the_duckdb_file_is_updated_by_year_partition_and_equals_a_fresh_build(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "parquet"
    awards = rows["core_awards"]
    assert len(awards) > 3
    early = [{**row, "year": 2025} for row in awards[:2]]
    tables.write_parquet(root, "core_awards", tables.to_arrow("core_awards", early + awards[2:]))
    tables.write_parquet(root, "core_dataset_meta", tables.to_arrow("core_dataset_meta", rows["core_dataset_meta"]))
    database = tmp_path / "semaforo.duckdb"
    assert tables.build_duckdb_if_changed(database, root)
    assert not tables.build_duckdb_if_changed(database, root), "the same inputs: the same file"
    first = database.stat().st_ino

    # One year changes and a table comes: 2025 is kept, 2026 loaded again, the new table created.
    changed = [{**row, "amount": 1.5} for row in awards[2:]]
    tables.write_parquet(root, "core_awards", tables.to_arrow("core_awards", early + changed))
    tables.write_parquet(root, "core_contracts", tables.to_arrow("core_contracts", rows["core_contracts"]))
    with caplog.at_level("INFO", logger="transforms.tables"):
        assert tables.build_duckdb_if_changed(database, root)
    assert "'core_awards': 'years 2026'" in caplog.text and "'core_contracts': 'loaded'" in caplog.text
    assert "core_dataset_meta" not in caplog.text, "unchanged: kept as it was"
    assert database.stat().st_ino != first, "a new file, not the old one written in place (publications link it)"
    stamp = jsonio.read_json(database.with_name("semaforo.duckdb.inputs"))
    assert stamp["generation"] == 1
    fresh = tmp_path / "fresh.duckdb"
    tables.build_duckdb(fresh, root, ["core_awards", "core_contracts", "core_dataset_meta"])
    assert _content(database) == _content(fresh)

    # A table that goes is dropped; after INCREMENTAL_BUILDS updates in a row the file is built afresh.
    shutil.rmtree(root / "core_contracts")
    for number in range(tables.INCREMENTAL_BUILDS):
        step = [{**row, "amount": float(number)} for row in awards[2:]]
        tables.write_parquet(root, "core_awards", tables.to_arrow("core_awards", early + step))
        assert tables.build_duckdb_if_changed(database, root)
    assert jsonio.read_json(database.with_name("semaforo.duckdb.inputs"))["generation"] == 0
    tables.build_duckdb(fresh, root, ["core_awards", "core_dataset_meta"])
    assert _content(database) == _content(fresh)


def test_a_nights_duckdb_file_is_updated_process_by_process_when_the_changes_describe_it(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    awards = rows["core_awards"]
    assert len(awards) > 3
    yesterday, tonight = tmp_path / "yesterday", tmp_path / "tonight"
    early = [{**row, "year": 2025} for row in awards[:2]]
    tables.write_parquet(yesterday / "parquet", "core_awards", tables.to_arrow("core_awards", early + awards[2:]))
    assert tables.build_duckdb_if_changed(yesterday / "semaforo.duckdb", yesterday / "parquet")
    # Tonight one process of each year changes and one moves from 2026 to 2025.
    moved = {**awards[3], "year": 2025}
    tonight_rows = [{**early[0], "amount": 7.5}, early[1], moved, {**awards[2], "amount": 8.5}, *awards[4:]]
    tables.write_parquet(tonight / "parquet", "core_awards", tables.to_arrow("core_awards", tonight_rows))
    ocids = sorted({early[0]["ocid"], awards[2]["ocid"], awards[3]["ocid"]})
    pq.write_table(pa.table({"ocid": pa.array(ocids, pa.string())}), tmp_path / "changed.parquet")
    changed = tables.Changed(yesterday / "parquet", tmp_path / "changed.parquet")
    seed = yesterday / "semaforo.duckdb"
    with caplog.at_level("INFO", logger="transforms.tables"):
        assert tables.build_duckdb_if_changed(tonight / "semaforo.duckdb", tonight / "parquet", seed, changed)
    assert "'core_awards': 'changed processes of years 2025, 2026'" in caplog.text
    tables.build_duckdb(tmp_path / "fresh.duckdb", tonight / "parquet", ["core_awards"])
    assert _content(tonight / "semaforo.duckdb") == _content(tmp_path / "fresh.duckdb")

    # Yesterday's Parquet rewritten after its DuckDB file was built: the list no longer describes the copy.
    caplog.clear()
    (tonight / "semaforo.duckdb").unlink()
    tables.write_parquet(yesterday / "parquet", "core_awards", tables.to_arrow("core_awards", awards))
    with caplog.at_level("INFO", logger="transforms.tables"):
        assert tables.build_duckdb_if_changed(tonight / "semaforo.duckdb", tonight / "parquet", seed, changed)
    assert "'core_awards': 'years 2025, 2026'" in caplog.text
    assert _content(tonight / "semaforo.duckdb") == _content(tmp_path / "fresh.duckdb")


def test_a_new_nights_duckdb_file_starts_from_the_previous_nights(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]]
) -> None:
    awards = rows["core_awards"]
    yesterday, tonight = tmp_path / "yesterday", tmp_path / "tonight"
    tables.write_parquet(yesterday / "parquet", "core_awards", tables.to_arrow("core_awards", awards))
    assert tables.build_duckdb_if_changed(yesterday / "semaforo.duckdb", yesterday / "parquet")
    changed = [{**row, "amount": 2.5} for row in awards]
    tables.write_parquet(tonight / "parquet", "core_awards", tables.to_arrow("core_awards", changed))
    seed = yesterday / "semaforo.duckdb"
    assert tables.build_duckdb_if_changed(tonight / "semaforo.duckdb", tonight / "parquet", seed=seed)
    assert jsonio.read_json(tonight / "semaforo.duckdb.inputs")["generation"] == 1
    tables.build_duckdb(tmp_path / "fresh.duckdb", tonight / "parquet", ["core_awards"])
    assert _content(tonight / "semaforo.duckdb") == _content(tmp_path / "fresh.duckdb")
    assert _content(seed) != _content(tonight / "semaforo.duckdb"), "the previous night's file is left as it was"

    # Tonight's own file from an earlier run with a record of an earlier layout: the previous night's is updated.
    (tonight / "semaforo.duckdb.inputs").write_text("0123abcd\n")
    tables.write_parquet(tonight / "parquet", "core_awards", tables.to_arrow("core_awards", awards))
    assert tables.build_duckdb_if_changed(tonight / "semaforo.duckdb", tonight / "parquet", seed=seed)
    assert jsonio.read_json(tonight / "semaforo.duckdb.inputs")["generation"] == 1
    assert _content(tonight / "semaforo.duckdb") == _content(seed)
    tables.write_parquet(tonight / "parquet", "core_awards", tables.to_arrow("core_awards", changed))

    # A record that does not describe the file beside it (replaced meanwhile) is never trusted: built afresh.
    (tonight / "semaforo.duckdb").unlink()
    record = jsonio.read_json(yesterday / "semaforo.duckdb.inputs")
    jsonio.write_json(yesterday / "semaforo.duckdb.inputs", {**record, "inode": record["inode"] + 1})
    assert tables.build_duckdb_if_changed(tonight / "semaforo.duckdb", tonight / "parquet", seed=seed)
    assert jsonio.read_json(tonight / "semaforo.duckdb.inputs")["generation"] == 0
    assert _content(tonight / "semaforo.duckdb") == _content(tmp_path / "fresh.duckdb")

"""Expectation suites: built from the table schemas, codelists as published, and what GX reports on bad rows."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from expectations.suites import AMOUNT_FLAG, AMOUNT_REJECT, build_suite, run_suites
from transforms import tables

CODELISTS = {
    ("core_contracting_processes", "procurement_method"): "method.csv",
    ("core_contracting_processes", "tender_status"): "tenderStatus.csv",
    ("core_contracting_processes", "main_procurement_category"): "procurementCategory.csv",
    ("core_awards", "status"): "awardStatus.csv",
    ("core_contracts", "status"): "contractStatus.csv",
}


def _specs(table: str, expected: int | None = None) -> dict[str, Any]:
    return {spec.check_id: spec for spec in build_suite(table, expected)}


@pytest.mark.parametrize("table", sorted(tables.table_schemas()))
def test_every_table_gets_key_expectations_from_its_schema(table: str) -> None:
    schema = tables.table_schemas()[table]
    specs = _specs(table)
    assert f"{table}.columns" in specs
    assert f"{table}.key_unique" in specs
    for column in schema["primaryKey"]:
        assert specs[f"{table}.key_not_null.{column}"].severity == "blocking"
    assert f"{table}.row_count" not in specs
    assert _specs(table, 7)[f"{table}.row_count"].kwargs == {"value": 7}
    for field in schema["fields"]:
        if field["name"].endswith("currency"):
            assert specs[f"{table}.format.{field['name']}"].kwargs["regex"] == "^[A-Z]{3}$"
    assert len({spec.check_id for spec in build_suite(table, 1)}) == len(build_suite(table, 1))


def test_amount_columns_get_three_bounds() -> None:
    specs = _specs("core_contracts")
    for column in ("amount", "original_amount", "paid_amount"):
        assert specs[f"core_contracts.amount_non_negative.{column}"].kwargs["min_value"] == 0
        assert specs[f"core_contracts.amount_rejected.{column}"].kwargs["max_value"] == AMOUNT_REJECT == 100e9
        assert specs[f"core_contracts.amount_rejected.{column}"].severity == "blocking"
        assert specs[f"core_contracts.amount_implausible.{column}"].kwargs["max_value"] == AMOUNT_FLAG
        assert specs[f"core_contracts.amount_implausible.{column}"].severity == "warning"
    assert "core_contracts.date_order.start_date.end_date" in specs


@pytest.mark.parametrize(("table", "column"), sorted(CODELISTS))
def test_codelists_match_the_official_ones(table: str, column: str, ocds_dir: Path) -> None:
    with open(ocds_dir / "codelists" / CODELISTS[(table, column)], encoding="utf-8") as fh:
        official = [row["Code"] for row in csv.DictReader(fh)]
    assert _specs(table)[f"{table}.codelist.{column}"].kwargs["value_set"] == official


def _contract(contract_id: str | None, **values: Any) -> dict[str, Any]:
    base = {
        "ocid": "ocds-x-1",
        "year": 2026,
        "contract_id": contract_id,
        "award_id": contract_id,
        "status": "active",
        "start_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "end_date": dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        "amount": 1000.0,
        "currency": "MXN",
    }
    return {**base, **values}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Any]:
    rows = [
        _contract("ok"),
        _contract("negative", amount=-5.0),
        _contract("huge", amount=2e11),
        _contract("big", amount=2e10),
        _contract("bogus", status="signed"),
        _contract("peso", currency="mxn"),
        _contract("backwards", start_date=dt.datetime(2026, 7, 1, tzinfo=dt.UTC)),
        _contract("ok"),
        _contract(None),
        _contract("old", year=0),
    ]
    frames = {
        "core_contracts": tables.to_arrow("core_contracts", rows),
        "core_dataset_meta": tables.to_arrow("core_dataset_meta", [{"dataset_id": "x"}]).to_pandas(),
    }
    docs = tmp_path_factory.mktemp("docs") / "data_docs"
    results = run_suites(frames, {"core_contracts": 99, "core_awards": 5}, data_docs_dir=docs, run_name="test")
    return {r.check_id: r for r in results}, docs, frames["core_contracts"]


@pytest.mark.parametrize(
    ("check_id", "severity", "failing_id"),
    [
        ("core_contracts.amount_non_negative.amount", "blocking", "negative"),
        ("core_contracts.amount_rejected.amount", "blocking", "huge"),
        ("core_contracts.amount_implausible.amount", "warning", "big"),
        ("core_contracts.codelist.status", "blocking", "bogus"),
        ("core_contracts.format.currency", "blocking", "peso"),
        ("core_contracts.date_order.start_date.end_date", "blocking", "backwards"),
        ("core_contracts.key_unique", "blocking", "ok"),
        ("core_contracts.key_not_null.contract_id", "blocking", None),
        ("core_contracts.year_range", "warning", "old"),
    ],
)
def test_each_expectation_finds_its_bad_row(bad_run, check_id: str, severity: str, failing_id: str | None) -> None:
    result = bad_run[0][check_id]
    assert (result.status, result.severity, result.source) == ("failed", severity, "great_expectations")
    assert result.failing >= 1 and result.checked == 10
    assert failing_id in [example["contract_id"] for example in result.examples]
    assert {"ocid", "contract_id"} <= set(result.examples[0])


def test_row_counts_reconcile_with_the_previous_step(bad_run) -> None:
    results = bad_run[0]
    assert results["core_contracts.row_count"].status == "failed"
    assert results["core_contracts.row_count"].examples[0] == {"observed": 10, "expected": 99}
    assert results["core_awards.row_count"].status == "failed"  # promised, never passed in
    assert results["core_contracts.columns"].status == "passed"
    assert results["core_dataset_meta.key_unique"].status == "passed"


def test_data_docs_are_a_static_site(bad_run) -> None:
    docs = bad_run[1]
    assert (docs / "index.html").is_file()
    pages = {p.name for p in docs.rglob("*.html")}
    assert {"core_contracts.html", "index.html"} <= pages
    assert any("core_contracts" in p for p in pages - {"core_contracts.html", "index.html"})
    assert not [p for p in docs.parent.iterdir() if p.name.startswith(".")]


def test_a_large_dataset_is_validated_file_by_file_with_the_same_results(
    bad_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from expectations import suites

    rows = tables.to_arrow("core_contracts", []).schema
    whole = bad_run[2]
    # Both "ok" rows (the duplicate key) sit in one file, as one process's rows always do.
    parts = [whole.take([0, 7, 1, 2, 3]), whole.take([4, 5, 6, 8, 9])]
    for number, part in enumerate(parts):
        pq.write_table(part, tmp_path / f"part-{number}.parquet")
    dataset = ds.dataset(sorted(str(p) for p in tmp_path.glob("*.parquet")), schema=rows, format="parquet")
    monkeypatch.setattr(suites, "BATCH_ROWS", 0)
    results = {r.check_id: r for r in run_suites({"core_contracts": dataset}, {"core_contracts": 99})}
    for check_id, expected in bad_run[0].items():
        if check_id.startswith("core_contracts.") and check_id != "core_contracts.columns":
            got = results[check_id]
            assert (got.status, got.checked, got.failing) == (expected.status, expected.checked, expected.failing)
    assert results["core_contracts.columns"].status == "passed"


def test_validated_frames_are_not_kept(bad_run) -> None:  # type: ignore[no-untyped-def]
    """GX keeps every batch's data frame unless told; a million processes then held 5.6 GB."""
    from expectations.suites import SuiteRunner

    runner = SuiteRunner()
    frame = bad_run[2].to_pandas()
    runner.validate("core_contracts", frame, [spec for spec in build_suite("core_contracts") if spec.columns][:2])
    batches = runner.source.get_execution_engine().batch_manager
    assert not batches.batch_data_cache and not batches.batch_cache

"""Cross-table checks, the gate and ``check_tables``: clean simulated data passes, injected defects are named."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from transforms import jsonio, quality, tables
from transforms.errors import ValidationFailed
from transforms.ocds.compile import compile_releases
from transforms.ocds.mapping import to_releases
from transforms.quality import REGISTRY, CheckResult, check_tables, gate, results_table, run_checks
from transforms.sources.simulator import SimulationConfig, simulate

Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def clean(ocds_dir: Path) -> tuple[Rows, int, list[dict[str, Any]]]:
    universe = simulate(SimulationConfig(procedures=800))
    releases, _ = to_releases([(s, r) for s, rows in universe.records.items() for r in rows], "ocds-test00")
    compiled = list(compile_releases(releases, jsonio.read_json(ocds_dir / "release-schema.json")))
    return tables.flatten(compiled), len(compiled), releases


def _arrow(rows: Rows) -> dict[str, pa.Table]:
    return {name: tables.to_arrow(name, table_rows) for name, table_rows in rows.items()}


def _dirty(rows: Rows) -> Rows:
    """Inject a duplicate award id, a negative amount, an award before its tender and a contract without award."""
    rows = copy.deepcopy(rows)
    rows["core_awards"].append(dict(rows["core_awards"][0]))
    rows["core_contracts"][1]["amount"] = -5.0
    process = next(p for p in rows["core_contracting_processes"] if p["tender_end_date"])
    award = next(a for a in rows["core_awards"] if a["ocid"] == process["ocid"])
    award["award_date"] = process["tender_start_date"] - dt.timedelta(days=30)
    rows["core_contracts"][2]["award_id"] = "NO-SUCH-AWARD"
    return rows


def test_registry_is_explicit_and_complete() -> None:
    families = {check.family for check in REGISTRY.values()}
    assert {"coherence", "reference", "uniqueness", "distribution", "consistency"} <= families
    for check_id, check in REGISTRY.items():
        assert check_id == check.check_id and check_id.startswith(f"{check.family}.")
        assert check.severity in ("blocking", "warning") and check.description


def test_clean_tables_pass_every_check(clean) -> None:
    rows, _, releases = clean
    inputs: dict[str, Any] = _arrow(rows)
    inputs[quality.RELEASES] = pa.table(
        {"ocid": [r["ocid"] for r in releases], "release_id": [r["id"] for r in releases]}
    )
    results = {r.check_id: r for r in run_checks(inputs)}
    assert set(results) == set(REGISTRY)
    failed = [r.describe() for r in results.values() if r.status == "failed"]
    assert not failed, failed
    assert results["uniqueness.release_id_within_ocid"].checked == len(releases)
    assert results["reference.contract_award"].checked == len(rows["core_contracts"])
    # 800 processes are below Pelican's minimum for the buyer check.
    assert results["distribution.buyer_repetition"].status == "skipped"
    assert gate(results.values()) == []


def test_injected_defects_fail_their_checks(clean) -> None:
    results = {r.check_id: r for r in run_checks(_arrow(_dirty(clean[0])))}
    assert results["coherence.award_after_tender"].failing == 1
    assert results["reference.contract_award"].examples[0]["award_id"] == "NO-SUCH-AWARD"
    assert results["consistency.award_count"].failing == 1
    assert results["coherence.contract_award_value_ratio"].severity == "warning"
    assert results["coherence.contract_award_value_ratio"].status == "failed"


def test_parquet_datasets_give_the_results_of_the_tables_they_hold(clean, tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    dirty = _arrow(_dirty(clean[0]))
    snapshot = {}
    for name, table in dirty.items():
        tables.write_parquet(tmp_path, name, table)
        snapshot[name] = ds.dataset(tables.parquet_files(tmp_path, name), format="parquet")
    with duckdb.connect() as con:
        quality._register(con, "core_awards", snapshot["core_awards"])
        plan = con.execute("EXPLAIN SELECT * FROM core_awards").fetchall()[0][1]
    assert "PARQUET_SCAN" in plan, "read by DuckDB's Parquet reader, not scanned through Arrow"
    rows = [r.to_row() for r in run_checks(dirty)]
    assert [r.to_row() for r in run_checks(snapshot)] == rows
    assert [r.to_row() for r in run_checks({}, snapshot=snapshot)] == [
        r.to_row() for r in run_checks({}, snapshot=dirty)
    ]


def test_checks_are_skipped_without_their_tables() -> None:
    results = run_checks({"core_contracts": tables.to_arrow("core_contracts", [])})
    assert {r.status for r in results} == {"skipped"}
    assert {r.checked for r in results if r.check_id != "distribution.contract_value_repetition"} == {0}


def test_distribution_checks_on_hand_made_tables() -> None:
    processes = [
        {"ocid": f"o{i}", "year": 2026, "buyer_id": "MX-CPA-BIG" if i < 700 else f"MX-CPA-{i % 7}"}
        for i in range(1200)
    ]
    contracts = [
        {
            "ocid": f"o{i}",
            "year": 2026,
            "contract_id": "1",
            "amount": 100.0 if i % 5 == 0 else float(i),
            "currency": "MXN",
        }
        for i in range(200)
    ]
    results = {
        r.check_id: r
        for r in run_checks(
            {
                "core_contracting_processes": tables.to_arrow("core_contracting_processes", processes),
                "core_contracts": tables.to_arrow("core_contracts", contracts),
            },
            [REGISTRY["distribution.buyer_repetition"], REGISTRY["distribution.contract_value_repetition"]],
        )
    }
    buyer = results["distribution.buyer_repetition"]
    assert (buyer.status, buyer.failing, buyer.checked) == ("failed", 700, 1200)
    assert buyer.observed == pytest.approx(700 / 1200)
    assert buyer.examples[0]["buyer_id"] == "MX-CPA-BIG"
    value = results["distribution.contract_value_repetition"]
    assert value.status == "failed" and value.examples[0]["amount"] == 100.0 and value.examples[0]["occurrences"] == 40


def test_gate_names_check_table_share_and_examples() -> None:
    failing = CheckResult(
        "reference.contract_award",
        "quality",
        "reference",
        "blocking",
        "core_contracts",
        "Contracts name awards.",
        "failed",
        checked=200,
        failing=3,
        examples=tuple({"contract_id": str(i)} for i in range(5)),
    )
    warning = CheckResult(
        "uniqueness.tender_id",
        "quality",
        "uniqueness",
        "warning",
        "core_contracting_processes",
        "One expediente.",
        "failed",
        checked=10,
        failing=1,
    )
    passed = CheckResult(
        "uniqueness.ocid",
        "quality",
        "uniqueness",
        "blocking",
        "core_contracting_processes",
        "Unique.",
        "passed",
        checked=10,
    )
    assert gate([warning, passed]) == [warning]
    with pytest.raises(ValidationFailed) as caught:
        gate([failing, warning, passed])
    message = str(caught.value)
    assert "reference.contract_award on core_contracts: 3 of 200 (1.50%) failing" in message
    assert '{"contract_id": "2"}' in message and '{"contract_id": "3"}' not in message
    assert "uniqueness" not in message


def test_results_table_matches_out_checks() -> None:
    result = CheckResult(
        "x.y",
        "quality",
        "coherence",
        "warning",
        "core_awards",
        "d",
        "failed",
        4,
        1,
        ({"ocid": "o", "award_date": "2026-01-01T00:00:00+00:00"},),
        0.25,
        0.1,
    )
    table = results_table([result])
    assert table.schema == tables.arrow_schema("out_checks")
    row = table.to_pylist()[0]
    assert row["pass_rate"] == 0.75 and json.loads(row["examples"])[0]["ocid"] == "o"


@pytest.fixture(scope="module")
def clean_summary(clean) -> tuple[dict[str, Any], None]:
    rows, compiled, _ = clean
    # Data Docs rendering is covered in test_expectations; skipping it here saves ~3 s.
    summary = check_tables(_arrow(rows), {"core_contracting_processes": compiled}, run_name="2026-11-10")
    return summary, None


def test_clean_data_passes_the_gate(clean_summary) -> None:
    summary, docs = clean_summary
    assert summary["blocking_failures"] == [] and summary["failed"] == 0
    assert summary["checks_run"] + summary["skipped"] == summary["expectations"] + summary["quality_checks"]
    assert summary["expectations"] > 100
    assert docs is None and summary["data_docs"] is None
    out_checks = tables.to_arrow("out_checks", summary["results"])
    assert out_checks.num_rows == summary["expectations"] + summary["quality_checks"]
    assert "core_contracting_processes.row_count" in out_checks.column("check_id").to_pylist()


def test_the_gate_fails_naming_each_injected_defect(clean) -> None:
    rows, compiled, _ = clean
    dirty = _arrow(_dirty(rows))
    # Data frames are accepted as well as Arrow tables.
    dirty["core_contracts"] = dirty["core_contracts"].to_pandas()
    with pytest.raises(ValidationFailed) as caught:
        check_tables(dirty, {"core_contracting_processes": compiled})
    message = str(caught.value)
    for check_id, table in [
        ("core_awards.key_unique", "core_awards"),
        ("core_contracts.amount_non_negative.amount", "core_contracts"),
        ("coherence.award_after_tender", "core_awards"),
        ("reference.contract_award", "core_contracts"),
    ]:
        assert f"{check_id} on {table}: " in message
    assert "NO-SUCH-AWARD" in message and "-5.0" in message
    assert re.search(r"of \d+ \(\d+\.\d+%\) failing", message)
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert {f["check_id"] for f in summary["blocking_failures"]} >= {
        "core_awards.key_unique",
        "coherence.award_after_tender",
    }
    assert summary["warnings"]

"""Competitiveness metrics (out_competition) on a hand-built set of processes whose every number is worked out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from models import competition
from transforms.tables import arrow_schema, table_schemas, to_arrow

DAY = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


def _tables() -> dict[str, pa.Table]:
    """Five processes of 2025 (and one cancelled): see the comments for the numbers they are built to give."""
    processes: list[dict[str, Any]] = []
    items, bids, awards, suppliers, contracts = [], [], [], [], []

    def add(ocid: str, method: str | None, buyer: str, *, supplier: str, awarded: float, cucop: str | None = None,
            tenderers: int | None = None, period: float | None = None, decision: float | None = None,
            estimate: float | None = None, contracted: float | None = None, amendments: int = 0,
            status: str = "active") -> None:  # fmt: skip
        end = DAY + dt.timedelta(days=period) if period is not None else None
        processes.append(
            {
                "ocid": ocid,
                "year": 2025,
                "buyer_id": buyer,
                "buyer_canonical_id": buyer,
                "buyer_name": f"Buyer {buyer}",
                "tender_status": status,
                "procurement_method": method,
                "tender_start_date": DAY if period is not None else None,
                "tender_end_date": end,
                "tender_period_days": period,
                "tender_amount": estimate,
                "tender_currency": "MXN" if estimate is not None else None,
                "number_of_tenderers": tenderers,
                "first_award_date": end + dt.timedelta(days=decision) if end and decision is not None else DAY,
            }
        )
        if cucop:
            items.append({"ocid": ocid, "item_id": "1", "classification_scheme": "CUCOP", "classification_id": cucop})
        awards.append({"ocid": ocid, "award_id": "a", "status": "active", "amount": awarded, "currency": "MXN",
                       "supplier_count": 1, "award_date": processes[-1]["first_award_date"]})  # fmt: skip
        suppliers.append({"ocid": ocid, "award_id": "a", "supplier_id": supplier, "supplier_canonical_id": supplier})
        contracts.append({"ocid": ocid, "contract_id": "a", "award_id": "a", "status": "active",
                          "amount": contracted if contracted is not None else awarded, "currency": "MXN",
                          "amendment_count": amendments, "original_amount": awarded})  # fmt: skip

    # P1: open, single bid, over its estimate (100 on 90).
    add("P1", "open", "B1", supplier="S1", awarded=100, cucop="25300010", tenderers=1, period=10, decision=5,
        estimate=90)  # fmt: skip
    # P2: open, three valid bids, amended from 300 to 330 (within its estimate of 400).
    add("P2", "open", "B1", supplier="S2", awarded=300, cucop="25300010", tenderers=3, period=20, decision=15,
        estimate=400, contracted=330, amendments=1)  # fmt: skip
    bids += [{"ocid": "P2", "bid_id": f"b{i}", "status": "valid", "tenderer_id": f"T{i}"} for i in range(3)]
    # P3: selective without numberOfTenderers: two bidders in bids/details, one of them disqualified.
    add("P3", "selective", "B2", supplier="S1", awarded=200, cucop="21100001", period=7, decision=10, estimate=250)
    bids += [
        {"ocid": "P3", "bid_id": "b1", "status": "valid", "tenderer_id": "T1"},
        {"ocid": "P3", "bid_id": "b2", "status": "disqualified", "tenderer_id": "T2"},
        {"ocid": "P3", "bid_id": "b3", "status": "withdrawn", "tenderer_id": "T3"},
    ]
    add("P4", "direct", "B2", supplier="S3", awarded=400, cucop="21100001")
    add("P5", None, "B1", supplier="S4", awarded=100)  # CompraNet's "Otro": no method, no item
    add("P6", "open", "B1", supplier="S9", awarded=10_000, cucop="25300010", status="cancelled")
    rows = {
        "core_contracting_processes": processes,
        "core_tender_items": items,
        "core_bids": bids,
        "core_awards": awards,
        "core_award_suppliers": suppliers,
        "core_contracts": contracts,
    }
    return {name: to_arrow(name, table) for name, table in rows.items()}


@pytest.fixture(scope="module")
def metrics() -> dict[tuple[str, str], dict[str, Any]]:
    out = competition.compute(_tables())
    assert out.schema == arrow_schema("out_competition")
    return {(row["dimension"], row["dimension_id"]): row for row in out.to_pylist()}


def test_dimensions(metrics: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert set(metrics) == {
        ("all", "all"),
        ("buyer", "B1"),
        ("buyer", "B2"),
        ("market", "CUCOP-253"),
        ("market", "CUCOP-211"),
    }
    assert metrics["buyer", "B1"]["process_count"] == 3 and metrics["buyer", "B1"]["dimension_name"] == "Buyer B1"
    assert metrics["market", "CUCOP-253"]["process_count"] == 2  # the cancelled P6 is left out
    assert {row["year"] for row in metrics.values()} == {2025}


def test_methods_and_values(metrics: dict[tuple[str, str], dict[str, Any]]) -> None:
    every = metrics["all", "all"]
    assert every["process_count"] == 5 and every["awarded_amount"] == 1100 and every["awarded_currency"] == "MXN"
    assert (every["open_share"], every["selective_share"], every["direct_share"]) == (0.4, 0.2, 0.2)
    assert (every["limited_share"], every["other_method_share"]) == (0.0, 0.2)
    assert every["open_value_share"] == pytest.approx(400 / 1100)
    assert every["direct_value_share"] == pytest.approx(400 / 1100)
    assert every["other_method_value_share"] == pytest.approx(100 / 1100)
    assert every["limited_value_share"] is None  # no limited procedure: no value to share


def test_bidders(metrics: dict[tuple[str, str], dict[str, Any]]) -> None:
    every = metrics["all", "all"]
    # P1 counts 1 (numberOfTenderers), P2 3, P3 2 (bids/details: the withdrawn bid does not count).
    assert (every["competitive_process_count"], every["counted_process_count"]) == (3, 3)
    assert every["single_bid_share"] == pytest.approx(1 / 3)
    assert every["single_bid_value_share"] == pytest.approx(100 / 600)
    assert (every["mean_bidders"], every["median_bidders"]) == (2.0, 2.0)
    assert every["qualified3_share"] == 0.5  # P2 has three valid bids, P3 one; P1 published no bids
    assert (
        metrics["buyer", "B2"]["single_bid_share"] == 0.0 and metrics["market", "CUCOP-253"]["median_bidders"] == 2.0
    )


def test_concentration(metrics: dict[tuple[str, str], dict[str, Any]]) -> None:
    every = metrics["all", "all"]
    # S1 300, S2 300, S3 400, S4 100 of 1100.
    assert every["supplier_count"] == 4 and every["top10_supplier_share"] == pytest.approx(1.0)
    assert every["hhi"] == pytest.approx(sum((100 * a / 1100) ** 2 for a in (300, 300, 400, 100)))
    assert every["hhi_band"] == "high"
    assert metrics["market", "CUCOP-253"]["hhi"] == pytest.approx(100**2 * (0.25**2 + 0.75**2))
    assert (
        competition.band(999.9) == "low"
        and competition.band(1000) == "moderate"
        and competition.band(1800) == "moderate"
    )
    assert competition.band(1800.1) == "high" and competition.band(None) is None


def test_contracts_periods_and_overruns(metrics: dict[tuple[str, str], dict[str, Any]]) -> None:
    every = metrics["all", "all"]
    assert every["contract_count"] == 5 and every["amendments_per_contract"] == 0.2
    assert every["amended_contract_share"] == 0.2 and every["value_increase_share"] == 0.2
    assert every["mean_tender_period_days"] == pytest.approx((10 + 20 + 7) / 3)
    assert every["mean_decision_period_days"] == pytest.approx((5 + 15 + 10) / 3)
    # Budgets (tender/value): P1 90 (overrun by 1/9), P2 400, P3 250; P4 and P5 have none.
    assert every["overrun_share"] == pytest.approx(1 / 3) and every["mean_overrun"] == pytest.approx(100 / 90 - 1)


def test_tenderer_counts_from_compiled_releases_take_precedence() -> None:
    compiled = [
        {"ocid": "P1", "tender": {"numberOfTenderers": 4}},
        {"ocid": "P3", "tender": {"tenderers": [{"id": "A"}]}},
        {"ocid": "no-count", "tender": {}},
        {"ocid": 7},
    ]
    counts = competition.tenderer_counts(compiled)
    assert counts.to_pylist() == [
        {"ocid": "P1", "tenderer_count": 4, "tenderer_count_source": "tender/numberOfTenderers"},
        {"ocid": "P3", "tenderer_count": 1, "tenderer_count_source": "tender/tenderers/id"},
    ]
    processes = competition.process_table({**_tables(), "tenderer_counts": counts}).to_pylist()
    by_ocid = {row["ocid"]: row for row in processes}
    assert (by_ocid["P1"]["tenderer_count"], by_ocid["P3"]["tenderer_count"], by_ocid["P2"]["tenderer_count"]) == (
        4,
        1,
        3,
    )
    assert by_ocid["P3"]["tenderer_count_source"] == "tender/tenderers/id"
    assert by_ocid["P2"]["tenderer_count_source"] == "tender/numberOfTenderers"


def test_empty_tables_and_the_main_currency() -> None:
    assert competition.compute({}).num_rows == 0
    assert competition.main_currency({}) == "MXN"
    awards = to_arrow("core_awards", [{"ocid": "x", "award_id": str(i), "status": "active", "currency": c}
                                      for i, c in enumerate(["USD", "USD", "MXN"])])  # fmt: skip
    assert competition.main_currency({"core_awards": awards}) == "USD"


def test_schema_is_a_table_schema_with_reasons() -> None:
    schema = table_schemas()["out_competition"]
    assert schema["primaryKey"] == ["dimension", "dimension_id", "year"]
    assert all(field["description"] for field in schema["fields"])

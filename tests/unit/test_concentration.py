"""Competition and concentration indicators (R011–R057, S002): shared readers, configuration, market units.

Their golden pairs are ``fixtures/indicators/<CODE>-*.jsonl`` (run by test_indicators.py in Cardinal's shape); the
market unit of R051, which Cardinal's shape has no group for, is checked here on out_flags rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from models.indicators import UNITS, IndicatorSettings, Outcome, registry, run, run_all
from models.indicators.cardinal import results
from models.indicators.concentration import (
    amounts_by_year,
    clusters,
    default_thresholds,
    flag_worst,
    market,
    process_year,
    share,
    tenderer_count,
    threshold_for,
)
from models.indicators.s002 import incorporated
from models.indicators.settings import IndicatorSettingsError
from transforms.sources import catalog

CONCENTRATION = ("R011", "R013", "R040", "R049", "R050", "R051", "R055", "R057", "S002")


def test_thresholds_are_the_catalogues_not_a_copy() -> None:
    thresholds = default_thresholds()
    assert thresholds == catalog.DIRECT_AWARD_THRESHOLDS and thresholds is not catalog.DIRECT_AWARD_THRESHOLDS
    for code in ("R011", "R049", "R054", "R055"):
        assert registry()[code].defaults["thresholds"] == catalog.DIRECT_AWARD_THRESHOLDS
        assert "unconfirmed" in registry()[code].reasons["thresholds"]
    # Outside the table, the nearest listed year, as the catalogue itself does.
    for year in (2009, 2018, 2031):
        assert threshold_for(thresholds, year) == catalog.direct_award_threshold(year)
    assert threshold_for({2020: 1.0, 2022: 2.0}, 2021) == 1.0  # a tie goes to the earlier year


def test_option_parsers() -> None:
    assert amounts_by_year({"2025": "750000", 2026: 7.5e5}) == {2025: 750000.0, 2026: 750000.0}
    for bad in ({}, {"x": 1}, {2025: 0}, {2025: "nan"}, [1]):
        with pytest.raises(IndicatorSettingsError):
            amounts_by_year(bad)
    assert share("0.4") == 0.4
    for bad in ("1.5", -0.1, True, "x"):
        with pytest.raises(IndicatorSettingsError):
            share(bad)


def test_tenderer_count_fallbacks() -> None:
    bids = {"details": [
        {"status": "valid", "tenderers": [{"id": "A"}]},
        {"status": "disqualified", "tenderers": [{"id": "B"}]},
        {"status": "withdrawn", "tenderers": [{"id": "C"}]},
        {"status": "valid", "tenderers": [{"id": "A"}]},
    ]}  # fmt: skip
    assert tenderer_count({"tender": {"numberOfTenderers": 3}, "bids": bids}) == (3, "tender/numberOfTenderers")
    assert tenderer_count({"tender": {"tenderers": [{"id": "A"}, {"id": "A"}]}}) == (1, "tender/tenderers/id")
    assert tenderer_count({"tender": {"numberOfTenderers": "2"}, "bids": bids}) == (2, "bids/details/tenderers/id")
    assert tenderer_count({"tender": {"numberOfTenderers": 1.5}}) is None
    assert tenderer_count({"tender": "x", "bids": {"details": "y"}}) is None


def test_process_year_and_market() -> None:
    release: dict[str, Any] = {
        "date": "2027-01-01T00:00:00-06:00",
        "tender": {"items": [{"id": "1"}, {"id": "2", "classification": {"scheme": "CUCOP", "id": "25300010"}}]},
        "awards": [{"date": "2025-12-31T20:00:00-06:00"}],
    }
    assert process_year(release) == 2026  # the tables partition by the UTC year
    assert (
        market(release) == "CUCOP-253" and market(release, 2) == "CUCOP-25" and market(release, 0) == "CUCOP-25300010"
    )
    assert market({"awards": [{"items": [{"classification": {"id": "511"}}]}]}) == "unknown-511"
    assert process_year({"tender": {}}) is None and market({}) is None


def test_clusters_keep_runs_within_the_window() -> None:
    day = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    dated = [
        (day + dt.timedelta(days=d), name) for d, name in ((0, "a"), (80, "b"), (200, "c"), (400, "d"), (410, "e"))
    ]
    assert clusters(dated, 90) == [["a", "b"], ["d", "e"]]
    assert clusters(dated, 130) == [["a", "b", "c"], ["d", "e"]]
    assert clusters(dated[:1], 90) == []


def test_flag_worst_keeps_each_units_largest_value() -> None:
    outcome = Outcome()
    flag_worst(outcome, [("Buyer", "B", 0.5, 0.4, "2025", ["p1"]), ("Buyer", "B", 0.7, 0.4, "2026", ["p2", "p3"])])
    result = outcome.results["Buyer", "B"]
    assert (result.value, result.explanation, result.ocids) == (0.7, "2026", ["p2", "p3"])


def test_incorporation_dates_from_rfcs() -> None:
    award = dt.date(2025, 6, 1)
    assert incorporated("MX-RFC-ABC250101XY1", award) == dt.date(2025, 1, 1)
    assert incorporated("MX-RFC-ABC250701XY1", award) == dt.date(1925, 7, 1)
    assert incorporated("MX-RFC-ABC251301XY1", award) is None  # month 13
    assert incorporated("MX-RFC-ABCD250101XY1", award) is None  # a natural person's RFC
    assert incorporated("MX-NAME-abc", award) is None


def _won(buyer: str, supplier: str, amount: float, ocid: str, cucop: str = "25300010") -> dict[str, Any]:
    return {
        "ocid": ocid,
        "buyer": {"id": buyer},
        "tender": {
            "procurementMethod": "direct",
            "items": [{"id": "1", "classification": {"scheme": "CUCOP", "id": cucop}}],
        },
        "awards": [
            {
                "id": "a",
                "status": "active",
                "date": "2025-03-01T10:00:00-06:00",
                "value": {"amount": amount, "currency": "MXN"},
                "suppliers": [{"id": supplier}],
            }
        ],
    }


def test_r051_flags_markets_in_out_flags_but_not_in_cardinals_shape() -> None:
    compiled = [_won(f"B{i}", "S1" if i < 3 else "S2", 100, f"p{i}") for i in range(4)]
    settings = IndicatorSettings(indicators={"R051": {"minimum_contracting_processes": 4}})
    rows = run_all(compiled, settings)
    market_row = next(r for r in rows if r["unit"] == "market")
    assert market_row["unit_id"] == "CUCOP-253/2025" and market_row["value"] == 6250.0
    assert market_row["threshold"] == 1800.0 and "(high concentration)" in market_row["explanation"]
    assert market_row["explanation"].endswith("(in 4 processes)") and market_row["ocid"] == "p0"
    leader = next(r for r in rows if r["unit"] == "tenderer")
    assert (leader["unit_id"], leader["value"], leader["threshold"]) == ("S1", 0.75, None)
    assert "market" in UNITS.values()
    assert results(run(compiled, settings), meta=False) == {"Tenderer": {"S1": {"R051": 0.75}}}


def test_r040_explains_the_share() -> None:
    compiled = [_won("B1", "S1" if i < 6 else f"S{i}", 100, f"p{i}") for i in range(10)]
    rows = run_all(compiled, IndicatorSettings(indicators={"R040": {}}))
    assert {(r["unit"], r["unit_id"], r["value"]) for r in rows} == {("buyer", "B1", 0.6), ("tenderer", "S1", 0.6)}
    assert all(
        "60% of B1's spend in 2025 (10 processes), above the threshold of 40%" in r["explanation"] for r in rows
    )
    assert all(r["fields"].startswith("buyer/id") for r in rows)


def test_new_indicators_leave_cardinals_rows_unchanged() -> None:
    # Cardinal-compatible rows are the same whether the new indicators run beside them or not.
    compiled = [_won("B1", "S1", 100, f"p{i}") for i in range(12)]
    compiled[0]["tender"].update(
        {"procurementMethod": "open", "numberOfTenderers": 1, "procurementMethodDetails": "Licitación Pública"}
    )
    cardinal = {"R003", "R018", "R024", "R025", "R028", "R030", "R035", "R036", "R038", "R048", "R058"}
    alone = run_all(compiled, IndicatorSettings(indicators={code: {} for code in cardinal}))
    everything = run_all(compiled)
    assert [r for r in everything if r["indicator"] in cardinal] == alone
    assert {r["indicator"] for r in everything} - cardinal >= {"R040", "R013"}


@pytest.mark.parametrize("code", CONCENTRATION)
def test_every_concentration_indicator_is_registered_with_reasons(code: str) -> None:
    indicator = registry()[code]
    assert indicator.stage in ("planning", "tender", "award")
    assert all(len(reason) > 20 for reason in indicator.reasons.values())

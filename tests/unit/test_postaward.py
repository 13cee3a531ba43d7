"""Indicators after the award (R054, R059–R062, R064, R068, R069, S001): readers, options and out_flags rows.

Their golden pairs are ``fixtures/indicators/<CODE>-*.jsonl`` (run by test_indicators.py in Cardinal's shape).
"""

from __future__ import annotations

from typing import Any

import pytest

from models.indicators import IndicatorSettings, registry, run, run_all
from models.indicators.cardinal import parse_settings
from models.indicators.postaward import (
    amendments,
    contracts_with_awards,
    days_between,
    final_end,
    moment,
    original_end,
    original_value,
)
from models.indicators.settings import IndicatorSettingsError

POST_AWARD = ("R054", "R059", "R060", "R061", "R062", "R064", "R068", "R069", "S001")


def amended(award_amount: float | None, contract_amount: float, *, status: str = "active") -> dict[str, Any]:
    award: dict[str, Any] = {"id": "a1", "status": "active", "date": "2025-05-01T10:00:00-06:00"}
    if award_amount is not None:
        award["value"] = {"amount": award_amount, "currency": "MXN"}
    return {
        "ocid": "ocds-1",
        "tender": {"procurementMethod": "direct"},
        "awards": [award],
        "contracts": [
            {
                "id": "a1",
                "awardID": "a1",
                "status": status,
                "value": {"amount": contract_amount, "currency": "MXN"},
                "amendments": [
                    {
                        "id": "m1",
                        "date": "2025-06-01T10:00:00-06:00",
                        "previousValue": {"amount": 650_000, "currency": "MXN"},
                        "newValue": {"amount": contract_amount, "currency": "MXN"},
                    }
                ],
            }
        ],
    }


def test_moments_need_an_offset() -> None:
    assert moment("2025-01-01T00:00:00-06:00") is not None
    assert moment("2025-01-01T00:00:00") is None and moment("2025-13-01T00:00:00Z") is None and moment(5) is None
    assert days_between("2025-01-01T00:00:00-06:00", "2025-01-02T12:00:00-06:00") == 1.5
    assert days_between("2025-01-01T00:00:00-06:00", None) is None


def test_original_value_prefers_the_award_then_the_earliest_amendment() -> None:
    release = amended(700_000, 800_000)
    ((contract, award),) = contracts_with_awards(release)
    assert original_value(contract, award) == (700_000.0, "MXN")
    assert original_value(contract, None) == (650_000.0, "MXN")
    assert original_value({"amendments": "x"}, None) is None


def test_amendments_sort_by_date_and_end_dates_take_the_latest() -> None:
    contract = {
        "period": {"endDate": "2025-03-02T00:00:00-06:00"},
        "amendments": [
            {"id": "late", "date": "2025-02-20T00:00:00-06:00", "previousEndDate": "2025-03-02T00:00:00-06:00"},
            {"id": "undated", "newEndDate": "2025-05-01T00:00:00-06:00"},
            {"id": "early", "date": "2025-02-01T00:00:00-06:00", "previousEndDate": "2025-03-01T00:00:00-06:00"},
        ],
    }
    assert [a["id"] for a in amendments(contract)] == ["early", "late", "undated"]
    assert original_end(contract) == "2025-03-01T00:00:00-06:00"
    # The compiled endDate is the last published one; an amendment signed out of order set a later end.
    assert final_end(contract) == "2025-05-01T00:00:00-06:00"


def test_r054_flags_only_direct_awards_pushed_over_the_line() -> None:
    def r054(release: dict[str, Any], **options: Any) -> dict[tuple[str, str], Any]:
        return run([release], IndicatorSettings(indicators={"R054": options})).outcomes["R054"].results

    assert r054(amended(700_000, 800_000))  # 2025's line is 730,000
    assert not r054(amended(740_000, 800_000))  # above the line from the start: an art. 41 exception, not R054
    assert r054(amended(740_000, 800_000), thresholds={2025: 750_000})
    assert not r054(amended(700_000, 800_000, status="cancelled"))


def test_thresholds_by_year_come_through_cardinal_settings() -> None:
    settings = parse_settings("[R054.thresholds]\n2025 = 750000\n2026 = 780000\n")
    assert registry()["R054"].configure(settings.indicators["R054"])["thresholds"] == {2025: 750000.0, 2026: 780000.0}
    for bad in ("2025 = -1\n", "year = 5\n", "2025 = many\n"):
        with pytest.raises(IndicatorSettingsError, match="R054"):
            parse_settings(f"[R054.thresholds]\n{bad}")
    with pytest.raises(IndicatorSettingsError, match="R059"):
        parse_settings("[R059]\nthreshold = a lot\n")
    assert registry()["R059"].configure({"threshold": "fence"})["threshold"] is None


def test_rows_keep_the_out_flags_contract() -> None:
    rows = run_all([amended(700_000, 1_000_000)], {code: {} for code in POST_AWARD})
    by_code = {row["indicator"]: row for row in rows}
    assert set(by_code) == {"R054", "R059", "R064", "R069"}
    r059 = by_code["R059"]
    assert r059["unit"] == "process" and r059["unit_id"] == r059["ocid"] == "ocds-1"
    assert r059["value"] == pytest.approx(3 / 7) and r059["threshold"] == 0.3
    assert "42.8571% above its award of 700000" in r059["explanation"]
    assert (
        r059["fields"]
        == "awards/id, awards/status, awards/value, contracts/awardID, contracts/status, contracts/value"
    )
    assert by_code["R054"]["threshold"] == 730_000.0 and by_code["R054"]["value"] == 1_000_000.0
    assert "above the 2025 direct-award threshold of 730000" in by_code["R054"]["explanation"]


def test_fences_per_method_are_reported_in_meta() -> None:
    releases = [
        {
            "ocid": f"p{days}",
            "tender": {
                "procurementMethod": "open",
                "tenderPeriod": {"startDate": "2025-01-01T10:00:00-06:00", "endDate": "2025-01-10T10:00:00-06:00"},
            },
            "awards": [{"id": "a", "status": "active", "date": f"2025-02-{days:02d}T10:00:00-06:00"}],
        }
        for days in range(1, 12)
    ]
    meta = run(releases, IndicatorSettings(indicators={"R061": {}, "R062": {}})).outcomes
    assert set(meta["R061"].meta) == {"open_q1", "open_q3", "open_lower_fence"}
    assert set(meta["R062"].meta) == {"open_q1", "open_q3", "open_upper_fence"}
    # Eleven evenly spread periods have no outlier on either side.
    assert not meta["R061"].results and not meta["R062"].results


@pytest.mark.parametrize("code", POST_AWARD)
def test_every_post_award_indicator_is_registered_with_reasons(code: str) -> None:
    indicator = registry()[code]
    assert indicator.stage in ("award", "contract", "implementation")
    assert all(len(reason) > 20 for reason in indicator.reasons.values())

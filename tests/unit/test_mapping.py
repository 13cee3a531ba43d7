from __future__ import annotations

import pytest

from transforms.ocds import vocab
from transforms.ocds.mapping import Unmappable, amount, map_amendment, money, ocid_for, rfc3339, to_releases


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2019-07-01 10:30", "2019-07-01T10:30:00-05:00"),  # daylight saving time until 2022
        ("2019-12-01 10:30", "2019-12-01T10:30:00-06:00"),
        ("2023-07-01 10:30", "2023-07-01T10:30:00-06:00"),  # no DST since October 2022
        ("2015-04-08 00:00:00 GMT", "2015-04-08T00:00:00-05:00"),  # a date with a GMT label stays on its day
        ("2015-04-08", "2015-04-08T00:00:00-05:00"),
        ("2026-11-10T09:00:00Z", "2026-11-10T03:00:00-06:00"),
        ("", None),
        (None, None),
    ],
)
def test_dates_get_the_mexico_city_offset_of_their_day(raw: str | None, expected: str | None) -> None:
    assert rfc3339(raw, "f") == expected


def test_unparseable_date_is_unmappable() -> None:
    with pytest.raises(Unmappable, match="f: unparseable date"):
        rfc3339("31/02/2020 xx", "f")


@pytest.mark.parametrize(("raw", "expected"), [("$1,234.00", 1234.0), ("0", 0.0), (12, 12.0), ("  ", None)])
def test_amounts(raw: object, expected: float | None) -> None:
    assert amount(raw, "importe") == expected


@pytest.mark.parametrize("raw", ["-5", "abc"])
def test_bad_amounts_are_unmappable(raw: str) -> None:
    with pytest.raises(Unmappable):
        amount(raw, "importe")


def test_non_iso_currency_is_unmappable() -> None:
    with pytest.raises(Unmappable, match="ISO 4217"):
        money("10", "TEST", "importe")


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        ("Licitación Pública", "open"),
        ("LICITACIÓN PÚBLICA CON OSD", "open"),
        ("Invitación a Cuando Menos 3 Personas", vocab.INVITATION_METHOD),
        ("Invitacion a 3", vocab.INVITATION_METHOD),
        ("ADJUDICACIÓN DIRECTA FEDERAL", "direct"),
        ("Otro", None),
    ],
)
def test_procurement_methods_match_on_normalised_prefixes(raw: str, method: str | None) -> None:
    assert vocab.procurement_method(raw) == method


def test_ocid_falls_back_to_the_expediente() -> None:
    assert ocid_for({"numero_procedimiento": " ", "codigo_expediente": "777"}, "ocds-x") == "ocds-x-EXP-777"
    with pytest.raises(Unmappable):
        ocid_for({}, "ocds-x")


def test_amendment_keeps_values_before_and_after() -> None:
    release = map_amendment(
        {
            "id": "CM-1-1",
            "numero_procedimiento": "LA-1-N1-2026",
            "siglas": "IMSS",
            "codigo_contrato": "9",
            "actualizado": "2026-11-10T10:00:00-06:00",
            "fecha_firma": "2026-11-10T10:00:00-06:00",
            "numero_convenio": 1,
            "importe_anterior": 100,
            "importe_nuevo": 150,
            "fecha_fin_anterior": "2026-12-01",
            "fecha_fin_nueva": "2027-01-01",
            "motivo": "Ampliación",
            "moneda": "MXN",
        },
        "ocds-x",
    )
    contract = release["contracts"][0]
    assert release["tag"] == ["contractAmendment"]
    assert contract["value"] == {"amount": 150.0, "currency": "MXN"}
    amendment = contract["amendments"][0]
    assert amendment["previousValue"]["amount"] == 100.0 and amendment["newEndDate"].startswith("2027-01-01")
    assert "100.00 → 150.00" in amendment["description"]


def test_every_record_is_mapped_or_quarantined(small_universe) -> None:  # type: ignore[no-untyped-def]
    records = [(stage, row) for stage, rows in small_universe.records.items() for row in rows[:50]]
    broken = [
        ("contracts", {"id": "x", "siglas": "IMSS", "actualizado": "not a date", "numero_procedimiento": "P"}),
        ("awards", {"id": "y", "actualizado": "2026-01-01", "numero_procedimiento": "P"}),
        ("nonsense", {"id": "z"}),
    ]
    releases, quarantined = to_releases(records + broken, "ocds-x")
    assert len(quarantined) == 3
    reasons = {q["record_id"]: q["reason"] for q in quarantined}
    assert "unparseable date" in reasons["x"] and "siglas" in reasons["y"] and "unknown stage" in reasons["z"]
    bid_groups = len({(r["numero_procedimiento"], r["codigo_expediente"]) for s, r in records if s == "bids"})
    assert len(releases) == len(records) - sum(s == "bids" for s, _ in records) + bid_groups

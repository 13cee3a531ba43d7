"""Simulated Contratos files in the real layouts: round trip through the bulk reader, valid OCDS out."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from transforms import jsonio
from transforms.errors import SourceError
from transforms.ocds.validate import Validator
from transforms.settings import load_settings
from transforms.sources import compranet_csv as cn
from transforms.sources import contratos_writer as cw
from transforms.sources.simulator import STAGES, SimulationConfig, Universe, simulate

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SCHEMA_DIR = SHARED / "ocds" / "1.1.5"
PREFIX = "ocds-test00"


@pytest.fixture(scope="module")
def universe() -> Universe:
    return simulate(SimulationConfig(seed=42, procedures=800))


@pytest.fixture(scope="module")
def validator() -> Validator:
    if not (SCHEMA_DIR / "release-schema.json").exists():
        pytest.skip(f"the official OCDS schema is not at {SCHEMA_DIR}")
    return Validator(load_settings(ocds_schema_dir=SCHEMA_DIR))


def _read(path: Path, encoding: str) -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


def _convert(path: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = cn.convert([path], out, PREFIX)
    return summary, list(jsonio.read_jsonl(out / "releases.jsonl"))


@pytest.mark.parametrize("layout", cw.WRITABLE)
def test_round_trip_through_the_bulk_reader(
    layout: str, universe: Universe, validator: Validator, tmp_path: Path
) -> None:
    path = cw.write_contratos(universe, tmp_path, layout)
    assert path.name == f"Contratos2026_{layout}.csv"
    summary, releases = _convert(path, tmp_path / "out")

    (counts,) = summary["files"]
    contracts = universe.records["contracts"]
    assert counts["layout"] == layout
    assert counts["encoding"] == ("cp1252" if layout == "COMPRASMX_73" else "utf-8-sig")
    assert counts["rows"] == counts["releases"] == len(releases) == len(contracts)
    assert counts["quarantined"] == 0
    report = validator.check(releases)
    assert report.ok, report.format()

    # Every contract comes back with its procedure, amount, dates and supplier.
    by_code = {r["contracts"][0]["id"]: r for r in releases}
    assert set(by_code) == {c["codigo_contrato"] for c in contracts}
    amended = {a["codigo_contrato"] for a in universe.records["amendments"]}
    awards = {a["codigo_contrato"]: a for a in universe.records["awards"]}
    tenders = {t["numero_procedimiento"]: t for t in universe.records["tenders"]}
    for contract in contracts:
        release = by_code[contract["codigo_contrato"]]
        award, tender = awards[contract["codigo_contrato"]], tenders[contract["numero_procedimiento"]]
        assert release["ocid"] == f"{PREFIX}-{contract['numero_procedimiento']}"
        assert release["contracts"][0]["value"] == {"amount": contract["importe"], "currency": "MXN"}
        assert release["contracts"][0]["period"]["startDate"][:10] == contract["fecha_inicio"]
        assert release["contracts"][0]["period"]["endDate"][:10] == contract["fecha_fin"]
        assert release["contracts"][0]["dateSigned"][:10] == contract["fecha_celebracion"][:10]
        assert release["contracts"][0]["status"] == "active"
        assert release["awards"][0]["date"][:10] == award["fecha_fallo"][:10]
        assert release["tender"]["procurementMethodDetails"].upper() == contract["tipo_procedimiento"].upper()
        if tender["fecha_apertura"]:
            assert release["tender"]["tenderPeriod"]["startDate"] == tender["fecha_publicacion"][:16] + ":00-06:00"
            assert release["tender"]["tenderPeriod"]["endDate"] == tender["fecha_apertura"][:16] + ":00-06:00"
        assert ("amendments" in release["contracts"][0]) == (contract["codigo_contrato"] in amended)
        supplier = next(p for p in release["parties"] if "supplier" in p["roles"])
        assert supplier["name"] == contract["proveedor"]
        if layout != "PLUS_45" and contract["rfc"]:  # PLUS_45 has no RFC column
            assert supplier["identifier"] == {
                "scheme": "MX-RFC",
                "id": contract["rfc"],
                "legalName": contract["proveedor"],
            }


def test_plus45_is_the_2010_2017_style(universe: Universe, tmp_path: Path) -> None:
    rows = _read(cw.write_contratos(universe, tmp_path, "PLUS_45"), "utf-8")
    layout = next(layout for layout in cn.layouts() if layout.key == "PLUS_45")
    assert rows[0] == list(layout.columns)
    record = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} 00:00:00 GMT", r["EXP_F_FALLO"]) for r in record)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} 00:00:00 GMT", r["FECHA_CELEBRACION"]) for r in record)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", r["PROC_F_PUBLICACION"]) for r in record)
    assert {r["ESTATUS_CONTRATO"] for r in record} == {"Activo"}
    assert {"Licitación Pública", "Adjudicación Directa Federal"} <= {r["TIPO_PROCEDIMIENTO"] for r in record}


def test_mixed44_has_uppercase_values(universe: Universe, tmp_path: Path) -> None:
    rows = _read(cw.write_contratos(universe, tmp_path, "MIXED_44"), "utf-8")
    assert rows[0] == list(next(layout for layout in cn.layouts() if layout.key == "MIXED_44").columns)
    record = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert {r["Estatus del contrato"] for r in record} == {"ACTIVO"}
    assert {"LICITACIÓN PÚBLICA", "ADJUDICACIÓN DIRECTA FEDERAL"} <= {r["Tipo de procedimiento"] for r in record}
    assert all(r["Institución"] == r["Institución"].upper() for r in record)
    assert sum(bool(r["RFC"]) for r in record) > 0.8 * len(record)


def test_comprasmx_is_latin1_with_repeated_names_and_day_first_dates(universe: Universe, tmp_path: Path) -> None:
    path = cw.write_contratos(universe, tmp_path, "COMPRASMX_73")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    rows = _read(path, "cp1252")
    head = rows[0]
    assert len(head) == 73 and all(len(row) == 73 for row in rows)
    assert head.count("Moneda") == 2 and head.count("Convenio modificatorio") == 2
    # The known names keep the order the layouts file gives them.
    layout = next(layout for layout in cn.layouts() if layout.key == "COMPRASMX_73")
    assert [name for name in dict.fromkeys(head) if not name.startswith("Columna sin documentar")] == list(
        layout.columns
    )
    starts = [row[head.index("Fecha de inicio del contrato")] for row in rows[1:]]
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", value) for value in starts)
    firsts = {contract["codigo_contrato"]: contract["fecha_inicio"] for contract in universe.records["contracts"]}
    code = head.index("Código del contrato")
    for row in rows[1:]:
        day, month, year = row[head.index("Fecha de inicio del contrato")].split("/")
        assert dt.date(int(year), int(month), int(day)).isoformat() == firsts[row[code]]
    published = {row[head.index("Fecha de publicación")] for row in rows[1:]}
    assert any("/" in value for value in published) and any("-" in value for value in published)


def test_write_all_writes_every_feed(universe: Universe, tmp_path: Path) -> None:
    summary = cw.write_all(universe, tmp_path)
    for stage in STAGES:
        assert list(jsonio.read_jsonl(tmp_path / f"{stage}.jsonl")) == universe.records[stage]
        assert summary["stages"][stage] == len(universe.records[stage])
    assert list(jsonio.read_jsonl(tmp_path / "ground_truth.jsonl")) == universe.ground_truth
    assert len(list(jsonio.read_jsonl(tmp_path / "suppliers.jsonl"))) == len(universe.suppliers)
    assert jsonio.read_json(tmp_path / "config.json") == universe.config.to_dict()
    assert sorted(summary["contratos"]) == sorted(cw.WRITABLE)
    for layout, written in summary["contratos"].items():
        assert written["file"] == f"Contratos2026_{layout}.csv"
        assert cn.open_table(tmp_path / written["file"]).layout.key == layout


def test_file_names_span_years_like_the_real_downloads() -> None:
    universe = simulate(SimulationConfig(seed=1, procedures=10, start=dt.date(2025, 12, 1), end=dt.date(2026, 1, 31)))
    assert cw.file_name(universe, "MIXED_44") == "Contratos2025_2026_MIXED_44.csv"


def test_unknown_layout_is_an_error(universe: Universe, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="writable layouts are PLUS_45"):
        cw.write_contratos(universe, tmp_path, "CNET3_13")

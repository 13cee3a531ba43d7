"""CompraNet Contratos readers: layout detection, row repairs, quarantine and OCDS validity (REFERENCE §1–§2)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from transforms import jsonio
from transforms.errors import LayoutError
from transforms.ocds.validate import Validator
from transforms.settings import load_settings
from transforms.sources import compranet_csv as cn

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples" / "compranet"
SCHEMA_DIR = SHARED / "ocds" / "1.1.5"
FIXTURES = REPO / "tests" / "fixtures" / "compranet"
PREFIX = "ocds-test00"
SAMPLE_ROWS = 1594  # 399 + 399 + 399 + 397, per samples/compranet/SOURCES.md

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"the shared CompraNet samples are not checked out next to the repo ({SAMPLES})"
)
needs_schema = pytest.mark.skipif(
    not SCHEMA_DIR.is_dir(), reason=f"the shared OCDS 1.1.5 schema is not checked out next to the repo ({SCHEMA_DIR})"
)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_settings(ocds_schema_dir=SCHEMA_DIR))


def _convert(paths: list[Path], out: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    counts = cn.convert(paths, out, PREFIX)
    releases = list(jsonio.read_jsonl(out / "releases.jsonl"))
    quarantine = list(jsonio.read_jsonl(out / "quarantine.jsonl"))
    return counts, releases, quarantine


def _by_contract(releases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["contracts"][0]["id"]: r for r in releases}


def _assert_valid(validator: Validator, releases: list[dict[str, Any]]) -> None:
    report = validator.check(releases)
    assert report.ok, report.format()


def _write_csv(path: Path, header: list[str], rows: Sequence[list[str]] = ()) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _columns(key: str) -> list[str]:
    layout = next(layout for layout in cn.layouts() if layout.key == key)
    return list(layout.columns)


# -- the real sample files ------------------------------------------------------------------------------------
@needs_samples
@needs_schema
def test_every_sample_row_becomes_a_valid_release_or_is_quarantined(tmp_path: Path, validator: Validator) -> None:
    paths = sorted(SAMPLES.glob("*.csv"))
    assert len(paths) == 4
    counts, releases, quarantine = _convert(paths, tmp_path)

    totals = counts["totals"]
    assert totals["rows"] == SAMPLE_ROWS
    assert totals["rows"] == totals["releases"] + totals["quarantined"]
    assert (len(releases), len(quarantine)) == (totals["releases"], totals["quarantined"])
    assert totals["releases"] / totals["rows"] >= 0.99
    for entry in counts["files"]:
        assert entry["layout"] == "PLUS_39"
        assert entry["rows"] == entry["releases"] + entry["quarantined"]
    for entry in quarantine:
        assert entry["file"] and entry["line"] > 1 and entry["raw"] and entry["reason"]

    # The known defects of the samples: three exact duplicates, and one contract in currency "TEST".
    reasons = sorted(entry["reason"] for entry in quarantine)
    assert reasons.count("duplicate row") == 3
    assert any("'TEST'" in reason for reason in reasons)
    # Two rows have neither procedure number nor type: the expediente still groups them.
    assert sorted(r["ocid"] for r in releases if "-EXP-" in r["ocid"]) == [
        f"{PREFIX}-EXP-33910",
        f"{PREFIX}-EXP-33925",
    ]
    # Release ids are unique within their ocid.
    assert len({(r["ocid"], r["id"]) for r in releases}) == len(releases)

    _assert_valid(validator, releases)


# -- layout detection -----------------------------------------------------------------------------------------
def test_plus45_file(tmp_path: Path) -> None:
    table = cn.open_table(FIXTURES / "plus45_contracts.csv")
    assert table.layout.key == "PLUS_45"
    assert table.encoding == "utf-8-sig"


def test_plus45_accepts_the_clave_uc_rewrite() -> None:
    header = ["CLAVE_UC" if name == "CLAVEUC" else name for name in _columns("PLUS_45")]
    assert cn.detect_layout(header).key == "PLUS_45"


def test_plus39_header_orders_derive_from_plus45() -> None:
    removed = {"CONVENIO_MODIFICATORIO", "IDENTIFICADOR_CM", "FOLIO_RUPC", "SIGLAS_PAIS", "C_EXTERNO", "ORGANISMO"}
    derived = [
        "NUMERO_EXPEDIENTE" if name == "CODIGO_EXPEDIENTE" else name
        for name in _columns("PLUS_45")
        if name not in removed
    ]
    assert _columns("PLUS_39") == derived


@needs_samples
def test_plus39_matches_the_sample_headers() -> None:
    for path in sorted(SAMPLES.glob("*.csv")):
        table = cn.open_table(path)
        assert table.layout.key == "PLUS_39"
        assert table.header == _columns("PLUS_39")


def test_plus39_empty_first_cell_is_gobierno(tmp_path: Path) -> None:
    raw = (FIXTURES / "plus39_empty_first_cell.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf,SIGLAS,")  # BOM, then the empty first cell of the 2015 edition
    table = cn.open_table(FIXTURES / "plus39_empty_first_cell.csv")
    assert table.layout.key == "PLUS_39"
    assert table.header[0] == "GOBIERNO"
    counts, releases, quarantine = _convert([FIXTURES / "plus39_empty_first_cell.csv"], tmp_path)
    assert (counts["totals"]["releases"], quarantine) == (1, [])
    release = releases[0]
    assert release["tender"]["procurementMethod"] == "selective"
    assert release["contracts"][0]["value"] == {"amount": 98765.4, "currency": "USD"}
    assert "amendments" not in release["contracts"][0]  # PLUS_39 has no convenio column


def test_plus39_with_another_first_cell_is_not_accepted() -> None:
    header = ["ORDEN", *_columns("PLUS_39")[1:]]
    with pytest.raises(LayoutError, match="closest layout is PLUS_39"):
        cn.detect_layout(header)


def test_mixed44_file_and_its_45_column_edition() -> None:
    assert cn.open_table(FIXTURES / "mixed44_contracts.csv").layout.key == "MIXED_44"
    assert cn.detect_layout([*_columns("MIXED_44"), "Descripción del contrato"]).key == "MIXED_44"
    assert cn.detect_layout(["Descripción del contrato", *_columns("MIXED_44")]).key == "MIXED_44"


def test_comprasmx_latin1_file_with_repeated_moneda() -> None:
    path = FIXTURES / "comprasmx73_latin1.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    table = cn.open_table(path)
    assert table.layout.key == "COMPRASMX_73"
    assert table.encoding == "cp1252"
    assert len(table.header) == 73
    assert table.header.count("Moneda") == 2


def test_comprasmx_is_detected_by_repeated_moneda_alone() -> None:
    signature = ("Clave Ramo", "Estatus DRC", "Tipo Procedimiento")
    header = cn.open_table(FIXTURES / "comprasmx73_latin1.csv").header
    header = [f"Otra {i}" if name in signature else name for i, name in enumerate(header)]
    assert cn.detect_layout(header).key == "COMPRASMX_73"


def _cnet3_xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(_columns("CNET3_13"))
    sheet.append(
        [
            "Institución Ficticia de Pruebas",
            "IFP-Departamento de Compras",
            "099X00009",
            "LA-099X00009-N5-2009",
            "Licitación Pública",
            "Adquisiciones",
            "Nacional",
            12345,
            "Compra de papelería",
            dt.datetime(2009, 6, 15),
            "$1,234.00",
            "PROVEEDORA FICTICIA SA DE CV",
            "https://example.org/contratos/12345",
        ]
    )
    sheet.append(
        [
            "Institución Ficticia de Pruebas",
            "Departamento sin siglas",
            "099X00009",
            "AA-099X00009-N6-2009",
            "Adjudicacion Directa",
            "Servicios",
            "Nacional",
            12346,
            "Servicio de mensajería",
            dt.datetime(2009, 7, 1),
            "$99.50",
            "MENSAJERÍA FICTICIA SA DE CV",
            None,
        ]
    )
    workbook.save(path)
    return path


@needs_schema
def test_cnet3_xlsx(tmp_path: Path, validator: Validator) -> None:
    path = _cnet3_xlsx(tmp_path / "contratos_cnet3.xlsx")
    table = cn.open_table(path)
    assert (table.layout.key, table.encoding) == ("CNET3_13", None)

    counts, releases, quarantine = _convert([path], tmp_path / "out")
    assert counts["files"][0]["layout"] == "CNET3_13"
    assert (counts["totals"]["releases"], counts["totals"]["quarantined"]) == (1, 1)
    release = releases[0]
    assert release["id"] == "contratos-12345"  # a numeric cell, not "12345.0"
    assert release["ocid"] == f"{PREFIX}-LA-099X00009-N5-2009"
    assert release["buyer"]["id"] == "MX-CPA-IFP"  # the acronym is read off the "SIGLAS-Nombre" UC name
    contract = release["contracts"][0]
    assert contract["value"] == {"amount": 1234.0, "currency": "MXN"}  # "$1,234.00", MXN without VAT
    assert contract["dateSigned"].startswith("2009-06-15T00:00:00")
    # Without an acronym the buyer cannot be identified: quarantined with the reason, the row kept whole.
    assert quarantine[0]["line"] == 3
    assert quarantine[0]["reason"].startswith("siglas:")
    assert quarantine[0]["raw"]["NOMBRE UC"] == "Departamento sin siglas"
    _assert_valid(validator, releases)


def test_unknown_header_names_closest_layout_missing_and_extra(tmp_path: Path) -> None:
    header = ["DIVISA" if name == "MONEDA" else name for name in _columns("PLUS_45") if name != "ANUNCIO"]
    path = _write_csv(tmp_path / "raro.csv", header)
    with pytest.raises(LayoutError) as info:
        cn.open_table(path)
    message = str(info.value)
    assert "raro.csv" in message
    assert "matches no known CompraNet layout" in message
    assert "closest layout is PLUS_45" in message
    assert "missing: 'MONEDA', 'ANUNCIO'" in message
    assert "extra: 'DIVISA'" in message


def test_signature_without_exact_columns_is_an_error() -> None:
    header = ["IMPORTE" if name == "IMPORTE_CONTRATO" else name for name in _columns("PLUS_45")]
    with pytest.raises(LayoutError, match=r"PLUS_45 signature but not its exact columns.*missing: 'IMPORTE_CONTRATO'"):
        cn.detect_layout(header)
    swapped = _columns("PLUS_45")
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(LayoutError, match="another order: position 1"):
        cn.detect_layout(swapped)


def test_header_like_nothing_known() -> None:
    with pytest.raises(LayoutError, match=r"closest layout is .*missing: .*extra: 'a', 'b'"):
        cn.detect_layout(["a", "b"])


# -- repairs and quarantine -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plus45(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    counts, releases, quarantine = _convert([FIXTURES / "plus45_contracts.csv"], tmp_path_factory.mktemp("plus45"))
    return counts, _by_contract(releases), quarantine


def test_plus45_counts_reconcile(plus45: Any) -> None:
    counts, releases, quarantine = plus45
    assert counts["totals"] == {"rows": 5, "releases": 2, "quarantined": 3, "blank_lines": 0}
    assert sorted(releases) == ["800001", "800002"]
    assert len(quarantine) == 3


def test_one_release_per_row_with_tender_award_and_contract(plus45: Any) -> None:
    release = plus45[1]["800001"]
    assert release["ocid"] == f"{PREFIX}-LO-099X00001-N1-2016"
    assert release["id"] == "contratos-800001"
    assert release["tag"] == ["tender", "award", "contract"]
    tender, award, contract = release["tender"], release["awards"][0], release["contracts"][0]
    assert tender["id"] == "900001"
    assert tender["procurementMethod"] == "open"
    assert tender["procurementMethodDetails"] == "Licitación Pública"
    assert tender["mainProcurementCategory"] == "works"
    assert tender["submissionMethod"] == ["inPerson"]
    assert tender["tenderPeriod"] == {"startDate": "2016-02-01T10:15:00-06:00", "endDate": "2016-02-20T11:00:00-06:00"}
    assert tender["procurementMethodCharacterMxCnet"] == "Nacional"
    assert tender["procuringEntity"]["id"] == "MX-UC-099X00001"
    assert award["id"] == contract["id"] == contract["awardID"] == "800001"
    assert award["status"] == "active"
    assert award["value"] == contract["value"] == {"amount": 1500000.5, "currency": "MXN"}
    supplier = next(p for p in release["parties"] if "supplier" in p["roles"])
    assert award["suppliers"] == [{"id": supplier["id"], "name": supplier["name"]}]
    assert supplier["roles"] == ["tenderer", "supplier"]
    assert supplier["additionalIdentifiers"] == [{"scheme": "MX-RUPC", "id": "123456"}]
    assert supplier["details"] == {"scale": "sme"}
    assert supplier["address"] == {"countryName": "MX"}
    assert contract["status"] == "active"
    assert contract["period"] == {"startDate": "2016-03-20T00:00:00-06:00", "endDate": "2016-09-30T00:00:00-05:00"}
    # The release date is the latest event: the signature, after the award and the tender.
    assert release["date"] == contract["dateSigned"] == "2016-03-18T00:00:00-06:00"


def test_gmt_midnight_dates_keep_their_calendar_day(plus45: Any) -> None:
    award = plus45[1]["800001"]["awards"][0]
    assert award["date"] == "2016-03-15T00:00:00-06:00"  # "2016-03-15 00:00:00 GMT", not the 14th
    assert cn.repair_date("2015-04-08 00:00:00 GMT") == "2015-04-08"
    assert cn.repair_date("2019-05-20 10:30:00 GMT") == "2019-05-20T10:30:00+00:00"


def test_convenio_flag_becomes_one_amendment(plus45: Any) -> None:
    assert plus45[1]["800001"]["contracts"][0]["amendments"] == [
        {"id": "800001-convenio", "description": "Convenio modificatorio reportado (sin detalle en la exportación)"}
    ]
    assert "amendments" not in plus45[1]["800002"]["contracts"][0]


def test_junk_template_prefix_is_stripped(plus45: Any) -> None:
    tender = plus45[1]["800001"]["tender"]
    assert tender["procurementMethodDetailsTemplateMxCnet"] == "16. Licitación Pública Nacional LOPSRM"
    assert (
        cn.clean_template("sub110525_16. Licitación Pública Nacional LOPSRM")
        == "16. Licitación Pública Nacional LOPSRM"
    )
    assert (
        cn.clean_template("07. Adjudicación Directa Nacional Art. 42 LAASSP")
        == "07. Adjudicación Directa Nacional Art. 42 LAASSP"
    )


def test_blank_procedure_number_falls_back_to_expediente(plus45: Any) -> None:
    release = plus45[1]["800002"]
    assert release["ocid"] == f"{PREFIX}-EXP-900002"
    tender = release["tender"]
    assert tender["procurementMethod"] == "direct"  # from the template, since the procedure type is blank too
    assert "procurementMethodDetails" not in tender
    assert "tenderPeriod" not in tender
    assert "procurementMethodCharacterMxCnet" not in tender  # " " is blank, not a value
    assert release["contracts"][0]["period"]["endDate"].startswith("2016-12-31")  # "12/31/16" repaired
    assert release["date"].startswith("2016-04-01")  # no event date: the contract start
    supplier = next(p for p in release["parties"] if "supplier" in p["roles"])
    assert supplier["roles"] == ["supplier"]


def test_duplicate_test_currency_and_short_rows_are_quarantined(plus45: Any) -> None:
    quarantine = {entry["line"]: entry for entry in plus45[2]}
    assert sorted(quarantine) == [4, 5, 6]
    assert quarantine[4]["reason"] == "duplicate row"
    assert quarantine[4]["duplicate_of"] == {"file": "plus45_contracts.csv", "line": 2}
    assert quarantine[4]["raw"]["CODIGO_CONTRATO"] == "800001"
    assert "'TEST' is not an ISO 4217 code" in quarantine[5]["reason"]
    assert quarantine[5]["raw"]["MONEDA"] == "TEST"
    assert quarantine[6]["reason"] == "cells: expected 45 cells for PLUS_45, found 44"
    assert isinstance(quarantine[6]["raw"], list)
    assert all(entry["file"] == "plus45_contracts.csv" for entry in quarantine.values())


def test_duplicates_across_files_and_reused_contract_codes(tmp_path: Path) -> None:
    source = FIXTURES / "plus45_contracts.csv"
    counts, releases, quarantine = _convert([source, source], tmp_path)
    assert counts["totals"]["rows"] == 10
    assert counts["totals"]["releases"] == 2
    # The second copy: four rows repeat the first copy's rows; the short row fails its cell count first.
    assert [entry["reason"] for entry in quarantine].count("duplicate row") == 1 + 4
    assert counts["files"][1]["quarantined"] == 5

    with open(source, encoding="utf-8", newline="") as fh:
        header, first, *_ = list(csv.reader(fh))
    changed = list(first)
    changed[header.index("IMPORTE_CONTRATO")] = "1600000"
    path = _write_csv(tmp_path / "reissue.csv", header, [first, changed])
    counts, releases, quarantine = _convert([path], tmp_path / "reissue")
    assert (len(releases), len(quarantine)) == (1, 1)
    assert "contract 800001 was already converted from reissue.csv line 2" in quarantine[0]["reason"]


def test_amounts_as_currency_strings(tmp_path: Path) -> None:
    with open(FIXTURES / "plus45_contracts.csv", encoding="utf-8", newline="") as fh:
        header, first, *_ = list(csv.reader(fh))
    row = list(first)
    row[header.index("IMPORTE_CONTRATO")] = "$1,234.00"
    _, releases, quarantine = _convert([_write_csv(tmp_path / "importe.csv", header, [row])], tmp_path / "out")
    assert quarantine == []
    assert releases[0]["contracts"][0]["value"] == {"amount": 1234.0, "currency": "MXN"}


@needs_schema
def test_mixed44_release(tmp_path: Path, validator: Validator) -> None:
    _, releases, quarantine = _convert([FIXTURES / "mixed44_contracts.csv"], tmp_path)
    assert quarantine == []
    release = releases[0]
    assert release["ocid"] == f"{PREFIX}-LA-099X00002-E1-2019"
    tender = release["tender"]
    assert tender["items"] == [{"id": "1", "classification": {"scheme": "CUCOP", "id": "21100001"}}]
    assert release["awards"][0]["items"] == tender["items"]
    assert tender["procurementMethod"] == "open"
    assert tender["submissionMethod"] == ["electronicSubmission"]
    assert tender["procurementMethodRationale"] == "Art. 26 fracción I LAASSP"
    supplier = next(p for p in release["parties"] if "supplier" in p["roles"])
    assert supplier["id"] == "MX-RFC-PFI010101AB1"
    assert supplier["details"] == {"scale": "micro"}
    assert release["awards"][0]["date"] == "2019-05-20T05:30:00-05:00"  # a real time labelled GMT is UTC
    assert release["contracts"][0]["status"] == "active"
    _assert_valid(validator, releases)


@needs_schema
def test_comprasmx_release_uses_the_first_of_repeated_columns(tmp_path: Path, validator: Validator) -> None:
    counts, releases, quarantine = _convert([FIXTURES / "comprasmx73_latin1.csv"], tmp_path)
    assert quarantine == []
    assert counts["files"][0]["encoding"] == "cp1252"
    assert len(counts["files"][0]["unmapped_columns"]) == 17
    release = releases[0]
    assert release["id"] == "contratos-C-2025-00000001"
    contract = release["contracts"][0]
    assert contract["value"] == {"amount": 480000.0, "currency": "MXN"}  # the contract's Moneda, not the convenio's
    assert "amendments" not in contract  # the contract's Convenio modificatorio is 0; the convenio block's is 1
    assert contract["status"] == "terminated"
    assert contract["description"] == "Servicio de limpieza de oficinas centrales"
    assert contract["period"]["startDate"].startswith("2025-04-01")  # DD/MM/YYYY, day first
    assert contract["period"]["endDate"].startswith("2025-12-31")
    assert contract["dateSigned"].startswith("2025-03-28")
    assert release["tender"]["procurementMethod"] == "direct"
    assert release["tender"]["procurementMethodDetails"] == "ADJUDICACIÓN DIRECTA POR EXCEPCIÓN"
    assert release["date"] == contract["dateSigned"]
    supplier = next(p for p in release["parties"] if "supplier" in p["roles"])
    assert supplier["id"] == "MX-RFC-LFI020202CD3"
    assert supplier["details"] == {"scale": "sme"}
    _assert_valid(validator, releases)


def test_quarantine_and_releases_files_are_json_lines(tmp_path: Path) -> None:
    counts = cn.convert([FIXTURES / "plus45_contracts.csv"], tmp_path, PREFIX)
    lines = (tmp_path / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == counts["totals"]["quarantined"]
    assert set(json.loads(lines[0])) >= {"file", "line", "raw", "reason"}
    assert counts["files"][0]["quarantine_reasons"] == {"duplicate row": 1, "importe": 1, "cells": 1}

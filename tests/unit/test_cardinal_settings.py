"""Cardinal's INI settings: global keys above the sections, pipe lists, [exclusions], one [Rxxx] per indicator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.indicators import IndicatorSettings, registry, run
from models.indicators.cardinal import load_settings, parse_settings, results
from models.indicators.settings import IndicatorSettingsError, pipe_separated
from transforms.cli import main
from transforms.errors import SettingsError

# Like the file `ocdscardinal init` writes, with some values set and the `prepare` sections present.
FULL = """\
; Global settings have no section.
currency = MXN
no_price_comparison_procurement_methods = Sorteo|Subasta Inversa

[defaults]
; currency = USD
bid_status = valid

[codelists.bid_status]
qualified = valid

[exclusions]
procurement_method_details = Adjudicación Directa Federal|Licitación Pública

[R003]
threshold = 20
procurement_methods = open|selective

[R003.procurement_method_details]
Licitación Pública Internacional = 25
Urgente = 5  ; the emergency procedure

[R018]

[R024]
threshold = 0.05

[R025]
percentile = 90

[R035]
threshold = 2

[R038]
threshold = 0.5
minimum_submitted_bids = 3
minimum_contracting_processes = 4

[R048]
digits = 4
threshold = 10
minimum_contracting_processes = 5
"""


def test_full_file() -> None:
    settings = parse_settings(FULL)
    assert settings.currency == "MXN"
    assert settings.no_price_comparison_procurement_methods == {"Sorteo", "Subasta Inversa"}
    assert settings.price_comparison_procurement_methods == frozenset()
    assert settings.exclusions == {"Adjudicación Directa Federal", "Licitación Pública"}
    assert settings.indicators is not None
    assert list(settings.indicators) == ["R003", "R018", "R024", "R025", "R035", "R038", "R048"]
    indicators = registry()
    r003 = indicators["R003"].configure(settings.indicators["R003"])
    assert r003 == {
        "threshold": 20,
        "procurement_methods": {"open", "selective"},
        "procurement_method_details": {"Licitación Pública Internacional": 25, "Urgente": 5},
    }
    assert indicators["R024"].configure(settings.indicators["R024"]) == {"threshold": 0.05}
    assert indicators["R025"].configure(settings.indicators["R025"]) == {"percentile": 90, "threshold": None}
    assert indicators["R038"].configure(settings.indicators["R038"]) == {
        "threshold": 0.5,
        "minimum_submitted_bids": 3,
        "minimum_contracting_processes": 4,
    }
    assert indicators["R048"].configure(settings.indicators["R048"])["digits"] == 4


def test_only_listed_indicators_run() -> None:
    report = run([], parse_settings("[R003]\n[R036]\n"))
    assert list(report.outcomes) == ["R003", "R036"]
    assert list(run([], parse_settings("")).outcomes) == []
    assert list(run([], None).outcomes) == list(registry())  # no settings file: everything, with defaults


def test_a_dotted_section_enables_its_indicator() -> None:
    settings = parse_settings("[R003.procurement_method_details]\nUrgente = 5\n")
    assert settings.indicators == {"R003": {"procurement_method_details": {"Urgente": "5"}}}


def test_names_are_case_sensitive() -> None:
    assert parse_settings("[R003.procurement_method_details]\nURGENTE = 5\nUrgente = 6\n").indicators == {
        "R003": {"procurement_method_details": {"URGENTE": "5", "Urgente": "6"}}
    }
    with pytest.raises(IndicatorSettingsError, match=r"unknown section \[r003\]"):
        parse_settings("[r003]\n")


def test_price_comparison_allow_list() -> None:
    settings = parse_settings("price_comparison_procurement_methods = Licitación Pública|\n[R028]\n")
    assert settings.price_comparison_procurement_methods == {"Licitación Pública"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = red\n", "unknown global key 'colour'"),
        ("[R999]\n", r"unknown section \[R999\]"),
        ("[DEFAULT]\nthreshold = 1\n", r"unknown section \[DEFAULT\]"),
        ("[R024]\nthreshhold = 0.1\n", r"\[R024\] has no option 'threshhold'"),
        ("[R024]\nthreshold = low\n", r"\[R024\] threshold: 'low' is not a decimal number"),
        ("[R003]\nthreshold = 1.5\n", r"\[R003\] threshold: '1.5' is not a whole number"),
        ("[R035]\nthreshold = -1\n", r"\[R035\] threshold: '-1' is not a natural number"),
        ("[R003.procurement_method_details]\nUrgente = pronto\n", "not a whole number"),
        ("[R024.threshold]\na = 1\n", "not a decimal number"),
        ("[exclusions]\nprocurement_methods = x\n", r"\[exclusions\] has no key 'procurement_methods'"),
        ("[R003]\nthreshold = 1\nthreshold = 2\n", "line 3"),
        ("[R003]\n[R003]\n", "already exists"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(IndicatorSettingsError, match=message) as error:
        parse_settings(text, "my.ini")
    assert str(error.value).startswith("my.ini: ")
    assert isinstance(error.value, SettingsError)


def test_values_keep_percent_signs_and_inline_comments_are_dropped() -> None:
    settings = parse_settings("currency = MXN ; pesos\n[exclusions]\nprocurement_method_details = 100% local\n")
    assert settings.currency == "MXN"
    assert settings.exclusions == {"100% local"}


def test_pipe_separated_like_rust_split_terminator() -> None:
    assert pipe_separated("") == frozenset()
    assert pipe_separated("a|b|") == {"a", "b"}
    assert pipe_separated("|a") == {"", "a"}
    assert pipe_separated(("open", "direct")) == {"open", "direct"}


def test_settings_change_results(tmp_path: Path) -> None:
    compiled = [
        {
            "ocid": "urgent",
            "tender": {
                "procurementMethod": "open",
                "procurementMethodDetails": "Urgente",
                "tenderPeriod": {"startDate": "2026-01-05T09:00:00-06:00", "endDate": "2026-01-11T09:00:00-06:00"},
            },
        },
        {
            "ocid": "excluded",
            "tender": {
                "procurementMethod": "open",
                "procurementMethodDetails": "Adjudicación Directa Federal",
                "tenderPeriod": {"startDate": "2026-01-05T09:00:00-06:00", "endDate": "2026-01-06T09:00:00-06:00"},
            },
        },
    ]
    assert results(run(compiled, IndicatorSettings(indicators={"R003": {}})), meta=False) == {
        "OCID": {"urgent": {"R003": 1.0}, "excluded": {"R003": 1.0}}
    }
    path = tmp_path / "settings.ini"
    path.write_text(FULL, encoding="utf-8")
    # Urgente's own minimum is 5 days (6 are fine); the other process's details are excluded.
    assert results(run(compiled, load_settings(path)), meta=False) == {}


def test_cli_reports_settings_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "compiled.jsonl"
    data.write_text('{"ocid": "A"}\n', encoding="utf-8")
    bad = tmp_path / "bad.ini"
    bad.write_text("[R024]\nthreshold = low\n", encoding="utf-8")
    assert main(["indicators", "--settings", str(bad), str(data)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"semaforo: error: {bad}: [R024] threshold: 'low' is not a decimal number"
    )
    assert main(["indicators", "--settings", str(tmp_path / "missing.ini"), str(data)]) == 2
    assert "cannot read settings" in capsys.readouterr().err
    assert main(["indicators", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read compiled releases" in capsys.readouterr().err

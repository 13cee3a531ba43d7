"""Golden fixtures: ``fixtures/indicators/<CODE>-<case>.jsonl`` → ``<CODE>-<case>.expected.json`` (Cardinal's shape).

As in Cardinal's conformance suite, a case's settings are encoded in its name and every case also runs with
``no_price_comparison_procurement_methods = NPC`` and ``[exclusions] procurement_method_details = EXC``:

- ``R024-worked_check`` — one word after the code is only a label: the indicator runs with its defaults;
- ``R003-threshold-10`` — ``[R003] threshold = 10`` (``+`` in a value stands for ``|``);
- ``R003-procurement_method_details-Urgente-5-Internacional-20`` — ``[R003.procurement_method_details]`` with
  ``Urgente = 5`` and ``Internacional = 20``;
- ``R024-currency-USD`` — a global key (``currency``, ``price_comparison_procurement_methods``, …) goes above the
  sections instead (our addition: Cardinal's harness only sets indicator options).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.indicators import (
    GROUPS,
    UNITS,
    IndicatorSettings,
    quantile,
    registry,
    round4,
    run,
    run_all,
)
from models.indicators.cardinal import GLOBAL_KEYS, parse_settings, results
from transforms import jsonio
from transforms.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "indicators"
CASES = sorted(FIXTURES.glob("*.jsonl"))


def settings_ini(stem: str) -> str:
    """Cardinal's fixture-name convention, turned into a settings file."""
    code, *parts = stem.replace("+", "|").split("-")
    head = ["no_price_comparison_procurement_methods = NPC"]
    body = ["[exclusions]", "procurement_method_details = EXC", f"[{code}]"]
    if len(parts) == 2 and parts[0] in GLOBAL_KEYS:
        head.append(f"{parts[0]} = {parts[1]}")
    elif len(parts) == 2:
        body.append(f"{parts[0]} = {parts[1]}")
    elif len(parts) > 2:
        option, *pairs = parts
        body.append(f"[{code}.{option}]")
        body.extend(f"{key} = {value}" for key, value in zip(pairs[::2], pairs[1::2], strict=True))
    return "\n".join([*head, *body]) + "\n"


def cli_cardinal(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["indicators", "--format", "cardinal", *args]) == 0
    return jsonio.loads(capsys.readouterr().out)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ini = tmp_path / "settings.ini"
    ini.write_text(settings_ini(case.stem), encoding="utf-8")
    expected = jsonio.read_json(case.with_name(case.stem + ".expected.json"))
    assert cli_cardinal(capsys, "--no-meta", "--settings", str(ini), str(case)) == expected


def test_fixture_names_follow_the_convention() -> None:
    assert settings_ini("R003-procurement_methods-open+selective").endswith(
        "[R003]\nprocurement_methods = open|selective\n"
    )
    assert "[R003.procurement_method_details]\nx = 5\ny = 10\n" in settings_ini(
        "R003-procurement_method_details-x-5-y-10"
    )
    assert settings_ini("R024-currency-USD").startswith(
        "no_price_comparison_procurement_methods = NPC\ncurrency = USD\n"
    )
    assert settings_ini("R038-tenderer").endswith("[R038]\n")


PRICE_COMPARISONS = {"R024", "R028", "R036", "R058"}


@pytest.mark.parametrize("code", list(registry()))
def test_every_indicator_has_golden_cases(code: str) -> None:
    cases = [case for case in CASES if case.stem.split("-")[0] == code]
    expected = [jsonio.read_json(case.with_name(case.stem + ".expected.json")) for case in cases]
    assert len(cases) >= 3, f"{code} needs more golden cases"
    assert any(expected), f"{code} has no case that flags something"
    for case in cases:
        text = case.read_text(encoding="utf-8")
        # Prove the harness's exclusions: a process with excluded details, and one not price-compared.
        assert '"EXC"' in text, f"{case.name} has no process with the excluded details"
        assert code not in PRICE_COMPARISONS or '"NPC"' in text, f"{case.name} has no NPC process"


@pytest.mark.parametrize("code", list(registry()))
def test_every_indicator_is_documented(code: str) -> None:
    indicator = registry()[code]
    module = __import__(f"models.indicators.{code.lower()}", fromlist=["_"])
    for heading in ("Formula", "Defaults", "Why it is a red flag", "Output"):
        assert heading in (module.__doc__ or ""), f"{code} doc lacks {heading!r}"
    assert indicator.name and indicator.stage and indicator.fields and indicator.formula
    assert set(indicator.reasons) == set(indicator.defaults), f"{code}: every default needs a reason"
    assert set(indicator.options) == set(indicator.defaults)


# -- Meta ---------------------------------------------------------------------------------------------------------
def test_meta_r024_worked_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # REFERENCE §6.1: ratios {0, 0, 100 × 7} → Q1 66.67, Q3 100, lower fence 16.67 (numpy's default type 7 differs).
    ini = tmp_path / "s.ini"
    ini.write_text(settings_ini("R024-worked_check") + "[R058]\n", encoding="utf-8")
    out = cli_cardinal(capsys, "--settings", str(ini), str(FIXTURES / "R024-worked_check.jsonl"))
    assert out["Meta"] == {
        "R024": {"q1": 66.6667, "q3": 100.0, "lower_fence": 16.6667},
        "R058": {"q1": 66.6667, "q3": 100.0, "upper_fence": 150.0},
    }
    ratios = [0.0, 0.0] + [100.0] * 7
    assert np.quantile(ratios, [0.25, 0.75], method="median_unbiased") == pytest.approx([66.6667, 100], abs=1e-4)
    assert np.quantile(ratios, 0.25) != pytest.approx(66.6667, abs=1e-2)  # type 7 would give other fences


def test_meta_r038_per_group(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ini = tmp_path / "s.ini"
    ini.write_text(settings_ini("R038-default"), encoding="utf-8")
    out = cli_cardinal(capsys, "--settings", str(ini), str(FIXTURES / "R038-default.jsonl"))
    # Buyers (≥ 2 submitted bids): B1 0.6, B2…B5 0 → Q1 0, Q3 0.2, fence 0.5; tenderers: 0, 0, 0, 0.5, 1.
    assert out["Meta"] == {
        "R038": {
            "Buyer_q1": 0.0,
            "Buyer_q3": 0.2,
            "Buyer_upper_fence": 0.5,
            "ProcuringEntity_q1": 0.0,
            "ProcuringEntity_q3": 0.2,
            "ProcuringEntity_upper_fence": 0.5,
            "Tenderer_q1": 0.0,
            "Tenderer_q3": 0.6667,
            "Tenderer_upper_fence": 1.6667,
        }
    }


def test_meta_fixed_threshold_reports_only_the_fence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ini = tmp_path / "s.ini"
    ini.write_text("[R024]\nthreshold = 0.05\n[R025]\nthreshold = 0.5\n[R048]\nthreshold = 3\n", encoding="utf-8")
    out = cli_cardinal(capsys, "--settings", str(ini), str(FIXTURES / "R024-threshold-0.05.jsonl"))
    assert out["Meta"]["R024"] == {"lower_fence": 0.05}
    assert out["Meta"]["R048"] == {"upper_fence": 3.0}
    # R025 still computes its percentile gate: every tenderer bid once.
    assert out["Meta"]["R025"] == {"upper_fence": 1.0, "lower_fence": 0.5}


def test_no_meta_and_no_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Without a settings file every indicator runs with its defaults.
    out = cli_cardinal(capsys, str(FIXTURES / "R024-worked_check.jsonl"))
    assert set(out) == {"OCID", "Tenderer", "Meta"}
    assert set(out["Meta"]) == {"R024", "R025", "R038", "R048", "R058"}
    # Without the harness's exclusions the NPC and EXC ties count: Q1 drops to 0 and R024 stays silent.
    assert out["OCID"]["tied-bids-1"] == {"R028": 1.0}
    assert out["Meta"]["R024"]["q1"] == 0.0
    quiet = tmp_path / "quiet.jsonl"
    quiet.write_text('{"ocid": "A", "tender": {"numberOfTenderers": 3, "procurementMethod": "open"}}\n')
    assert cli_cardinal(capsys, "--no-meta", str(quiet)) == {}


def test_settings_without_indicator_sections_run_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ini = tmp_path / "s.ini"
    ini.write_text("currency = MXN\n", encoding="utf-8")
    assert cli_cardinal(capsys, "--settings", str(ini), str(FIXTURES / "R018-default.jsonl")) == {"Meta": {}}


# -- flag rows ----------------------------------------------------------------------------------------------------
def test_rows_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", str(FIXTURES / "R035-default.jsonl")]) == 0
    rows = [jsonio.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_unit = {(r["indicator"], r["unit"], r["unit_id"]): r for r in rows}
    process = by_unit["R035", "process", "two-disqualified"]
    assert process["ocid"] == "two-disqualified" and process["value"] == 2.0 and process["threshold"] == 1.0
    assert "2 other tenderer(s) were disqualified" in process["explanation"]
    assert process["fields"] == "bids/details/status, bids/details/tenderers/id, awards/status, awards/suppliers/id"
    winner = by_unit["R035", "tenderer", "V2"]
    assert winner["ocid"] == "two-disqualified" and winner["value"] == 0.0


def test_run_all_rows_fit_out_flags_on_every_fixture() -> None:
    from transforms import tables

    for case in CASES:
        rows = run_all(list(jsonio.read_jsonl(case)))
        keys = [(r["indicator"], r["unit"], r["unit_id"]) for r in rows]
        assert len(keys) == len(set(keys)), f"{case.name}: out_flags primary key repeated"
        for row in rows:
            assert row["unit"] in UNITS.values()
            assert row["threshold"] is None or isinstance(row["threshold"], float)
            assert isinstance(row["value"], float) and row["explanation"] and row["fields"]
            assert row["ocid"] == row["unit_id"] if row["unit"] == "process" else True
        assert tables.to_arrow("out_flags", rows).num_rows == len(rows)


def test_run_all_rows_match_cardinal_shape() -> None:
    compiled = list(jsonio.read_jsonl(FIXTURES / "R028-default.jsonl"))
    settings = parse_settings(settings_ini("R028-default"))
    shaped = results(run(compiled, settings), meta=False)
    group_of = {unit: group for group, unit in UNITS.items()}
    rebuilt: dict[str, dict[str, dict[str, float]]] = {}
    for row in run_all(compiled, settings):
        rebuilt.setdefault(group_of[row["unit"]], {}).setdefault(row["unit_id"], {})[row["indicator"]] = row["value"]
    assert rebuilt == shaped
    tenderer = next(r for r in run_all(compiled, settings) if r["unit_id"] == "RFC-T")
    assert tenderer["ocid"] == "three-bids-two-firms" and "12 MXN" in tenderer["explanation"]


def test_run_all_accepts_per_indicator_options() -> None:
    compiled = list(jsonio.read_jsonl(FIXTURES / "R003-threshold-10.jsonl"))
    default = {r["unit_id"] for r in run_all(compiled) if r["indicator"] == "R003"}
    ten = {r["unit_id"] for r in run_all(compiled, {"R003": {"threshold": 10}}) if r["indicator"] == "R003"}
    assert default == {"9-days", "exactly-10-days", "14-days", "npc-2-days", "excluded-1-day"}
    assert ten == {"9-days", "npc-2-days", "excluded-1-day"}  # no [exclusions] here


def test_groups_are_cardinal_groups() -> None:
    assert GROUPS == ("OCID", "Buyer", "ProcuringEntity", "Tenderer")


# -- statistics ---------------------------------------------------------------------------------------------------
def test_quantile_is_type_8() -> None:
    rng = random.Random(8)
    for _ in range(300):
        values = sorted(rng.choice([rng.random(), rng.randint(0, 5), 0.0]) for _ in range(rng.randint(1, 40)))
        for tau in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
            assert quantile(values, tau) == pytest.approx(
                np.quantile(values, tau, method="median_unbiased"), abs=1e-12
            )
    assert math.isnan(quantile([], 0.25)) and math.isnan(quantile([1.0], 1.5))


def test_round4_halves_away_from_zero() -> None:
    assert round4(0.00005) == 0.0001 and round4(-0.00005) == -0.0001 and round4(2.5e-5) == 0.0
    assert round4(66.66666666666667) == 66.6667 and round4(math.nan) is None


# -- currencies and pipeline-shaped data --------------------------------------------------------------------------
def test_main_currency_follows_cardinal_observation_order() -> None:
    def process(ocid: str, *bids: tuple[str, str, float, str]) -> dict[str, Any]:
        details = [
            {"status": status, "tenderers": [{"id": t}], "value": {"amount": amount, "currency": currency}}
            for t, status, amount, currency in bids
        ]
        return {
            "ocid": ocid,
            "bids": {"details": details},
            "awards": [{"status": "active", "suppliers": [{"id": "W"}]}],
        }

    def currency(compiled: list[dict[str, Any]], *codes: str, setting: str | None = None) -> str | None:
        return run(compiled, IndicatorSettings(currency=setting, indicators={c: {} for c in codes})).currency

    # R036 observes any submitted bid; R024 and R058 only valid single-tenderer bids of usable processes.
    no_valid_bid = process("a", ("W", "disqualified", 1, "USD"), ("L", "pending", 2, "USD"))
    valid_mxn = process("b", ("W", "valid", 1, "MXN"), ("L", "valid", 2, "MXN"))
    assert currency([no_valid_bid, valid_mxn], "R024") == "MXN"
    assert currency([no_valid_bid, valid_mxn], "R036") == "USD"
    assert currency([no_valid_bid, valid_mxn], "R024", "R036") == "USD"  # one main currency per run, as in Cardinal
    # Within one process, Cardinal's second-lowest-bid pass looks before R036 does.
    mixed = process("c", ("W", "disqualified", 1, "USD"), ("L", "valid", 2, "MXN"))
    assert currency([mixed], "R036", "R058") == "MXN"
    assert currency([mixed], "R036") == "USD"
    assert currency([mixed], "R036", setting="EUR") == "EUR"
    assert currency([mixed], "R003") is None
    # So R024 on process b sees no bid in the main currency when R036 runs too.
    assert results(
        run([no_valid_bid, valid_mxn], IndicatorSettings(indicators={"R024": {"threshold": 1}})), meta=False
    ) == {"OCID": {"b": {"R024": 1.0}}, "Tenderer": {"W": {"R024": 0.0}, "L": {"R024": 0.0}}}
    assert (
        results(
            run([no_valid_bid, valid_mxn], IndicatorSettings(indicators={"R024": {"threshold": 1}, "R036": {}})),
            meta=False,
        )
        == {}
    )


def test_pipeline_shaped_data(ocds_dir: Path) -> None:
    from transforms import tables
    from transforms.ocds.compile import compile_releases
    from transforms.ocds.mapping import to_releases
    from transforms.sources.simulator import STAGES, SimulationConfig, simulate

    universe = simulate(SimulationConfig(seed=5, procedures=400, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31)))
    releases, _ = to_releases(((s, r) for s in STAGES for r in universe.records[s]), "ocds-sem4f0")
    compiled = list(compile_releases(releases, jsonio.read_json(ocds_dir / "release-schema.json")))
    rows = run_all(compiled)
    assert {r["indicator"] for r in rows} >= {"R003", "R018"}
    keys = [(r["indicator"], r["unit"], r["unit_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert tables.to_arrow("out_flags", rows).num_rows == len(rows)
    single = {r["ocid"] for r in rows if r["indicator"] == "R018"}
    expected = {
        c["ocid"]
        for c in compiled
        if c.get("tender", {}).get("numberOfTenderers") == 1
        and c["tender"].get("procurementMethod") in ("open", "selective")
        and c["tender"].get("status") != "cancelled"
    }
    assert single == expected

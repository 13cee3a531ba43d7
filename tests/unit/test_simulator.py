from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from collections import Counter, defaultdict
from typing import Any

import pytest

from transforms.sources import catalog
from transforms.sources.simulator import BID_PATTERNS, PATTERNS, SimulationConfig, Universe, simulate, spread

OPEN = "Licitación Pública"
INVITATION = "Invitación a Cuando Menos 3 Personas"
DIRECT = "Adjudicación Directa Federal"


def test_same_seed_same_universe() -> None:
    config = SimulationConfig(seed=3, procedures=200)
    first = simulate(config)
    assert first.records == simulate(config).records
    assert first.ground_truth == simulate(config).ground_truth
    assert simulate(dataclasses.replace(config, seed=4)).records != first.records


@pytest.mark.parametrize("seed", [1, 2])
def test_shares_match_mexican_figures(seed: int) -> None:
    universe = simulate(SimulationConfig(seed=seed, procedures=8000))
    tenders = universe.records["tenders"]
    types = [t["tipo_procedimiento"] for t in tenders]
    share = {name: types.count(name) / len(types) for name in set(types)}
    # REFERENCE §7: ~78–80% direct awards, ~10–11% public tenders, ~5–6% invitations (±1.5 points of sampling).
    assert 0.765 <= share["Adjudicación Directa Federal"] <= 0.815
    assert 0.095 <= share["Licitación Pública"] <= 0.125
    assert 0.045 <= share["Invitación a Cuando Menos 3 Personas"] <= 0.075
    value: dict[str, float] = {}
    for award in universe.records["awards"]:
        value[award["tipo_procedimiento"]] = value.get(award["tipo_procedimiento"], 0) + award["monto"]
    direct_value = value["Adjudicación Directa Federal"] / sum(value.values())
    assert 0.30 <= direct_value <= 0.50  # ~38–42% of value
    bidders: dict[str, set[str]] = {}
    for bid in universe.records["bids"]:
        bidders.setdefault(bid["numero_procedimiento"], set()).add(bid["id"])
    few = sum(len(ids) <= 3 for ids in bidders.values()) / len(bidders)
    assert 0.2 <= few <= 0.45  # about a quarter of contests have three or fewer participants (plus planted)


def test_stage_dates_are_consistent() -> None:
    universe = simulate(SimulationConfig(seed=5, procedures=500))
    published = {t["numero_procedimiento"]: t["fecha_publicacion"] for t in universe.records["tenders"]}
    for award in universe.records["awards"]:
        assert dt.datetime.fromisoformat(award["fecha_fallo"]) >= dt.datetime.fromisoformat(
            published[award["numero_procedimiento"]]
        ).replace(hour=0, minute=0)
    for contract in universe.records["contracts"]:
        assert contract["fecha_inicio"] <= contract["fecha_fin"]


def test_ground_truth_names_planted_processes() -> None:
    universe = simulate(SimulationConfig(seed=5, procedures=2000))
    numbers = {t["numero_procedimiento"] for t in universe.records["tenders"]}
    buyers = {b["siglas"] for b in universe.buyers}
    rfcs = {s["rfc"] for s in universe.suppliers}
    assert {g["pattern"] for g in universe.ground_truth} == set(PATTERNS)
    for row in universe.ground_truth:
        assert row["buyer"] in buyers
        assert row["supplier"] is None or row["supplier"] in rfcs
        dt.datetime.fromisoformat(row["updated"])
        if row["pattern"] == "supplier_concentration":  # buyer level: the procedures are listed instead
            assert row["numero_procedimiento"] is None and set(row["procedures"]) <= numbers
        else:
            assert row["numero_procedimiento"] in numbers


def test_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        SimulationConfig(close_bids_rate=1.5)
    with pytest.raises(ValueError, match="add up to more than 1"):
        SimulationConfig(single_bid_rate=0.6, identical_bids_rate=0.5)


# -- planted patterns -----------------------------------------------------------------------------------------
class View:
    """A universe indexed by procedure, with each contract's true supplier (payments always carry the RFC)."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        self.config = universe.config
        self.tenders = {t["numero_procedimiento"]: t for t in universe.records["tenders"]}
        self.awards = {a["numero_procedimiento"]: a for a in universe.records["awards"]}
        self.bids: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for bid in universe.records["bids"]:
            self.bids[bid["numero_procedimiento"]].append(bid)
        self.true_rfc = {p["codigo_contrato"]: p["rfc"] for p in universe.records["payments"]}
        self.suppliers = {s["rfc"]: s for s in universe.suppliers}
        self.truth: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in universe.ground_truth:
            self.truth[row["pattern"]].append(row)

    def planted(self, pattern: str) -> set[str]:
        return {row["numero_procedimiento"] for row in self.truth[pattern]}

    def of_type(self, *types: str) -> set[str]:
        return {n for n, t in self.tenders.items() if t["tipo_procedimiento"] in types}

    def winner_bid(self, numero: str) -> dict[str, Any]:
        award = self.awards[numero]
        (bid,) = [b for b in self.bids[numero] if b["monto"] == award["monto"] and b["estatus"] == "valida"]
        return bid


@pytest.fixture(scope="module")
def view() -> View:
    return View(simulate(SimulationConfig(seed=42, procedures=20000)))


def _near(observed: int, trials: int, rate: float) -> bool:
    """Whether a count is within four binomial standard deviations of ``trials * rate``."""
    expected = trials * rate
    return abs(observed - expected) <= 4 * math.sqrt(trials * rate * (1 - rate)) + 1


def _groups(view: View, pattern: str) -> int:
    return len({row["group"] for row in view.truth[pattern]})


def test_each_pattern_appears_at_its_configured_rate(view: View) -> None:
    config = view.config
    ring = view.planted("bid_rotation")
    split = view.planted("split_purchase")
    open_tenders = view.of_type(OPEN) - ring
    competitive = view.of_type(OPEN, INVITATION) - ring
    assert _near(len(view.truth["single_bid"]), len(open_tenders), config.single_bid_rate)
    assert _near(len(view.truth["short_submission"]), len(open_tenders), config.short_submission_rate)
    for name in ("identical_bids", "close_bids", "late_winning_bid", "lowest_bid_disqualified"):
        assert _near(len(view.truth[name]), len(competitive), getattr(config, f"{name}_rate")), name
    # Group patterns: the rate applies to the draws of that method, and each draw that plants starts a group.
    direct_draws = len(view.of_type(DIRECT)) - len(split) + _groups(view, "split_purchase")
    assert _near(_groups(view, "split_purchase"), direct_draws, config.split_purchase_rate)
    open_draws = len(view.of_type(OPEN)) - len(ring) + _groups(view, "bid_rotation")
    assert _near(_groups(view, "bid_rotation"), open_draws, config.bid_rotation_rate)
    ungrouped = len(view.tenders) - len(split) - len(ring)
    assert _near(len(view.truth["new_supplier_large_award"]), ungrouped, config.new_supplier_large_award_rate)
    contracts = len(view.universe.records["contracts"])
    assert _near(len(view.truth["amendment_increase"]), contracts, config.amendment_increase_rate)
    assert _near(len(view.truth["amendment_extension"]), contracts, config.amendment_extension_rate)
    favouring = round(config.supplier_concentration_rate * config.institutions)
    assert len(view.truth["supplier_concentration"]) == favouring
    assert all(len(view.truth[pattern]) > 0 for pattern in PATTERNS)


def test_rates_follow_the_config() -> None:
    off = ("identical_bids", "close_bids", "split_purchase", "bid_rotation", "supplier_concentration")
    config = SimulationConfig(
        seed=9,
        procedures=3000,
        identical_bids_rate=0.0,
        close_bids_rate=0.0,
        split_purchase_rate=0.0,
        bid_rotation_rate=0.0,
        supplier_concentration_rate=0.0,
    )
    patterns = Counter(row["pattern"] for row in simulate(config).ground_truth)
    assert not set(off) & set(patterns)
    assert patterns["late_winning_bid"] > 0


def test_single_bids_have_one_bid(view: View) -> None:
    for numero in view.planted("single_bid"):
        assert len(view.bids[numero]) == 1
        assert view.bids[numero][0]["rfc"] == view.awards[numero]["rfc"]
    assert {n for n, bids in view.bids.items() if len(bids) == 1} == view.planted("single_bid")


def test_identical_bids_are_two_tenderers_with_one_amount(view: View) -> None:
    for row in view.truth["identical_bids"]:
        bids = view.bids[row["numero_procedimiento"]]
        same = [b for b in bids if b["monto"] == row["amount"]]
        assert len(same) == 2 and same[0]["rfc"] != same[1]["rfc"]
        assert sorted(b["rfc"] for b in same) == sorted(row["tenderers"])
    repeated = {n for n, bids in view.bids.items() if len({b["monto"] for b in bids}) < len(bids)}
    assert repeated == view.planted("identical_bids")


def test_close_bids_lie_within_one_percent(view: View) -> None:
    for numero in view.planted("close_bids"):
        bids = view.bids[numero]
        assert len(bids) >= 3
        assert spread([b["monto"] for b in bids]) <= catalog.CLOSE_BIDS_SPREAD
        assert all(b["estatus"] == "valida" for b in bids)
    close = {n for n, bids in view.bids.items() if len(bids) > 1 and spread([b["monto"] for b in bids]) <= 0.02}
    assert close == view.planted("close_bids")


def test_late_winning_bids_came_after_the_opening(view: View) -> None:
    for row in view.truth["late_winning_bid"]:
        numero = row["numero_procedimiento"]
        bid = view.winner_bid(numero)
        assert bid["rfc"] == row["supplier"] == view.awards[numero]["rfc"]
        opening = dt.datetime.fromisoformat(view.tenders[numero]["fecha_apertura"])
        assert dt.datetime.fromisoformat(bid["fecha_presentacion"]) > opening
        assert bid["fecha_presentacion"] > view.tenders[numero]["fecha_apertura"]  # R030 compares strings
        assert bid["actualizado"] == row["updated"]
    late = {
        n
        for n, bids in view.bids.items()
        for b in bids
        if dt.datetime.fromisoformat(b["fecha_presentacion"])
        > dt.datetime.fromisoformat(view.tenders[n]["fecha_apertura"])
    }
    assert late == view.planted("late_winning_bid")


def test_lowest_bid_disqualified_and_a_higher_valid_bid_won(view: View) -> None:
    for row in view.truth["lowest_bid_disqualified"]:
        numero = row["numero_procedimiento"]
        bids = view.bids[numero]
        lowest = min(bids, key=lambda b: b["monto"])
        assert lowest["estatus"] == "desechada" and lowest["rfc"] == row["disqualified"]
        valid = [b for b in bids if b["estatus"] == "valida"]
        assert view.awards[numero]["monto"] == min(b["monto"] for b in valid) > lowest["monto"]
        assert view.awards[numero]["rfc"] == row["supplier"]
    flagged = {n for n, bids in view.bids.items() if min(bids, key=lambda b: b["monto"])["estatus"] == "desechada"}
    assert flagged == view.planted("lowest_bid_disqualified")


def test_bid_rotation_rings_take_turns(view: View) -> None:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in view.truth["bid_rotation"]:
        groups[row["group"]].append(row)
    assert groups
    for rows in groups.values():
        members = set(rows[0]["members"])
        assert 3 <= len(members) <= 4 and len(rows) == 2 * len(members)
        tenders = [view.tenders[row["numero_procedimiento"]] for row in rows]
        assert len({t["siglas"] for t in tenders}) == 1
        assert len({t["partidas"][0]["clave_cucop"] for t in tenders}) == 1
        assert {t["tipo_procedimiento"] for t in tenders} == {OPEN}
        ordered = sorted(rows, key=lambda row: view.tenders[row["numero_procedimiento"]]["fecha_publicacion"])
        winners = [view.awards[row["numero_procedimiento"]]["rfc"] for row in ordered]
        assert winners == [row["supplier"] for row in ordered]
        assert Counter(winners) == dict.fromkeys(members, 2)  # everyone wins twice
        assert all(a != b for a, b in itertools.pairwise(winners))  # never twice in a row
        for row in rows:
            assert {b["rfc"] for b in view.bids[row["numero_procedimiento"]]} == members


def test_split_purchases_sit_just_below_the_threshold(view: View) -> None:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in view.truth["split_purchase"]:
        groups[row["group"]].append(row)
    for rows in groups.values():
        assert len(rows) >= 2
        awards = [view.awards[row["numero_procedimiento"]] for row in rows]
        assert len({(a["siglas"], a["clave_cucop"], a["rfc"]) for a in awards}) == 1
        assert {a["tipo_procedimiento"] for a in awards} == {DIRECT}
        assert awards[0]["rfc"] == rows[0]["supplier"]
        for award in awards:
            threshold = catalog.direct_award_threshold(int(award["fecha_fallo"][:4]))
            assert threshold * (1 - max(catalog.SPLIT_DISTANCE)) <= award["monto"] < threshold
        days = [
            dt.date.fromisoformat(view.tenders[row["numero_procedimiento"]]["fecha_publicacion"][:10]) for row in rows
        ]
        assert (max(days) - min(days)).days <= catalog.SPLIT_WINDOW_DAYS
    below = set()
    for numero in view.of_type(DIRECT):
        award = view.awards[numero]
        threshold = catalog.direct_award_threshold(int(view.tenders[numero]["fecha_publicacion"][:4]))
        if threshold * (1 - catalog.SPLIT_CLEARANCE) <= award["monto"] < threshold:
            below.add(numero)
    assert below == view.planted("split_purchase")


def test_new_suppliers_win_large_awards(view: View) -> None:
    for row in view.truth["new_supplier_large_award"]:
        award = view.awards[row["numero_procedimiento"]]
        assert award["rfc"] == row["supplier"] and award["monto"] >= catalog.LARGE_AWARD_AMOUNT
        founded = dt.date.fromisoformat(view.suppliers[row["supplier"]]["founded"])
        assert row["supplier"][3:9] == f"{founded:%y%m%d}"  # the RFC carries the founding date
        assert 0 < (dt.date.fromisoformat(award["fecha_fallo"][:10]) - founded).days < 365
    young = set()
    for numero, award in view.awards.items():
        founded = dt.date.fromisoformat(view.suppliers[view.true_rfc[award["codigo_contrato"]]]["founded"])
        if (dt.date.fromisoformat(award["fecha_fallo"][:10]) - founded).days < 365:
            young.add(numero)
    assert young == view.planted("new_supplier_large_award")


def test_supplier_concentration_is_a_large_share_of_spend(view: View) -> None:
    spend: dict[str, float] = defaultdict(float)
    won: dict[tuple[str, str], float] = defaultdict(float)
    for award in view.awards.values():
        spend[award["siglas"]] += award["monto"]
        won[award["siglas"], view.true_rfc[award["codigo_contrato"]]] += award["monto"]
    favouring = {}
    for row in view.truth["supplier_concentration"]:
        favouring[row["buyer"]] = row["supplier"]
        awards = [view.awards[numero] for numero in row["procedures"]]
        assert {a["rfc"] for a in awards} == {row["supplier"]}
        assert {a["siglas"] for a in awards} == {row["buyer"]}
        assert sum(a["monto"] for a in awards) / spend[row["buyer"]] == pytest.approx(row["share"], abs=1e-6)
        assert row["share"] >= 0.4  # OCP R040's example line
    natural = max(share / spend[b] for (b, rfc), share in won.items() if favouring.get(b) != rfc)
    # A small buyer's spend can still lean on one big tender by chance, but stays under R040's line.
    assert natural < 0.4


def test_short_submission_periods(view: View) -> None:
    for numero in view.planted("short_submission"):
        tender = view.tenders[numero]
        start = dt.datetime.fromisoformat(tender["fecha_publicacion"])
        assert (dt.datetime.fromisoformat(tender["fecha_apertura"]) - start).days < 15


@pytest.mark.parametrize("procedures", [1000, 6000])
def test_bid_patterns_exclude_each_other(procedures: int) -> None:
    universe = simulate(SimulationConfig(seed=42, procedures=procedures))
    bid_patterns = {*BID_PATTERNS, "bid_rotation"}
    planted = Counter(row["numero_procedimiento"] for row in universe.ground_truth if row["pattern"] in bid_patterns)
    assert planted and max(planted.values()) == 1
    assert len(universe.records["tenders"]) == procedures  # planted groups count towards the procedures asked for
    shares = [row["share"] for row in universe.ground_truth if row["pattern"] == "supplier_concentration"]
    assert shares and min(shares) >= 0.4  # still above R040's line at the demo's size

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from transforms.sources.simulator import SimulationConfig, simulate


def test_same_seed_same_universe() -> None:
    config = SimulationConfig(seed=3, procedures=200)
    assert simulate(config).records == simulate(config).records
    assert simulate(dataclasses.replace(config, seed=4)).records != simulate(config).records


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
    value = {}
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
    patterns = {g["pattern"] for g in universe.ground_truth}
    assert {"single_bid", "short_submission", "amendment_increase", "amendment_extension"} <= patterns
    assert all(g["numero_procedimiento"] in numbers for g in universe.ground_truth)

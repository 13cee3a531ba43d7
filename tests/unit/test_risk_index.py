"""The corruption-risk index: banding, validation and weights recover a planted signal and keep no noise."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from models import risk_index
from models.risk_index import RiskIndexError, RiskModel, score, train
from transforms.tables import to_arrow

MARKETS = ["25300010", "21100001", "33800001", "62200001", "51500002", "35800001"]


def synthetic_tables(n: int = 6000, seed: int = 0, *, signal: bool = True) -> dict[str, pa.Table]:
    """Core tables where single bidding rises by 25 points under 15 days' advertisement and by 20 after a >20% rise.

    Decision periods, new suppliers and buyer concentration are drawn independently of single bidding: noise the
    index must leave out. One process in ten is a direct award (scored, never trained on).
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("core_contracting_processes", "core_tender_items", "core_awards", "core_award_suppliers")
    }
    rows["core_contracts"] = []
    for i in range(n):
        ocid, year = f"ocds-x-{i:05d}", 2024 + i % 2
        method = "direct" if i % 10 == 0 else "open" if rng.random() < 0.7 else "selective"
        period = float(rng.uniform(5, 35))
        amended = rng.random() < 0.25
        increase = float(rng.uniform(0.05, 0.6)) if amended and rng.random() < 0.6 else 0.0
        probability = 0.08 + 0.25 * (period < 15) + 0.2 * (increase > 0.2) if signal else 0.15
        single = rng.random() < probability
        start = dt.datetime(year, 2, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=int(rng.integers(0, 250)))
        end = start + dt.timedelta(days=period)
        awarded = end + dt.timedelta(days=float(rng.uniform(2, 25)))
        amount = float(np.round(rng.lognormal(14, 1), 2))
        buyer = f"MX-CPA-B{int(rng.integers(0, 12))}"
        founded = dt.date(2010, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3000)))
        supplier = f"MX-RFC-ABC{founded:%y%m%d}{int(rng.integers(100, 999))}"
        competitive = method != "direct"
        rows["core_contracting_processes"].append(
            {
                "ocid": ocid,
                "year": year,
                "buyer_id": buyer,
                "buyer_canonical_id": buyer,
                "buyer_name": buyer,
                "procuring_entity_id": f"MX-UC-{buyer}",
                "tender_status": "active",
                "procurement_method": method,
                "tender_start_date": start if competitive else None,
                "tender_end_date": end if competitive else None,
                "tender_period_days": period if competitive else None,
                "tender_amount": amount if competitive else None,
                "tender_currency": "MXN" if competitive else None,
                "number_of_tenderers": (1 if single else int(rng.integers(2, 7))) if competitive else None,
                "first_award_date": awarded,
            }
        )
        rows["core_tender_items"].append(
            {
                "ocid": ocid,
                "year": year,
                "item_id": "1",
                "classification_scheme": "CUCOP",
                "classification_id": MARKETS[i % len(MARKETS)],
            }
        )
        award = {"ocid": ocid, "year": year, "award_id": "a1"}
        rows["core_awards"].append(
            {
                **award,
                "status": "active",
                "award_date": awarded,
                "amount": amount,
                "currency": "MXN",
                "supplier_count": 1,
            }
        )
        rows["core_award_suppliers"].append(
            {**award, "supplier_id": supplier, "supplier_canonical_id": supplier, "supplier_name": supplier}
        )
        rows["core_contracts"].append(
            {
                **award,
                "contract_id": "a1",
                "status": "active",
                "amount": round(amount * (1 + increase), 2),
                "currency": "MXN",
                "amendment_count": int(amended),
                "original_amount": amount,
                "start_date": awarded,
                "end_date": awarded + dt.timedelta(days=120),
                "original_end_date": awarded + dt.timedelta(days=120),
            }
        )
    return {name: to_arrow(name, table) for name, table in rows.items()}


@pytest.fixture(scope="module")
def signal() -> dict[str, pa.Table]:
    return synthetic_tables()


@pytest.fixture(scope="module")
def trained(signal: dict[str, pa.Table]) -> tuple[RiskModel, dict[str, Any]]:
    return train(signal, seed=3)


def test_recovers_the_planted_components_and_leaves_the_noise(trained: tuple[RiskModel, dict[str, Any]]) -> None:
    model, metrics = trained
    kept = {c.name for c in model.components}
    assert {"advertisement_period", "value_increase"} <= kept
    assert not kept & {"decision_period", "new_supplier", "buyer_concentration", "non_open_procedure"}
    assert sum(c.weight for c in model.components) == pytest.approx(1.0)
    for component in model.components:
        assert max(component.levels) == pytest.approx(1.0) and min(component.levels) == 0.0
    # The advertisement band is cut near the planted 15-day line, and the short side is the risky one.
    period = next(c for c in model.components if c.name == "advertisement_period")
    assert any(11 <= edge <= 19 for edge in period.edges), period.edges
    assert period.levels[int(period.band_of(np.array([8.0]))[0])] == 1.0
    assert period.levels[int(period.band_of(np.array([30.0]))[0])] == 0.0
    # Held out: the index alone ranks single bids well, and the components add to the controls.
    assert metrics["auc_cri_held_out"] > 0.7
    assert metrics["auc_model_held_out"] > metrics["auc_controls_held_out"] + 0.1
    assert metrics["kept"] == {c.name: round(c.weight, 4) for c in model.components}


def test_training_is_reproducible_from_the_seed(signal: dict[str, pa.Table], trained: tuple[RiskModel, Any]) -> None:
    again, metrics = train(signal, seed=3)
    assert again.model_id == trained[0].model_id and metrics == trained[1]
    assert train(signal, seed=4)[0].model_id != again.model_id


def test_noise_keeps_no_component() -> None:
    model, metrics = train(synthetic_tables(4000, seed=1, signal=False), seed=3)
    assert model.components == [] and metrics["kept"] == {}
    assert metrics["auc_cri_held_out"] is None and not model.is_defined()
    assert all(c.reason for c in model.dropped)


def test_too_little_data_is_an_error() -> None:
    with pytest.raises(RiskIndexError, match="too little data"):
        train(synthetic_tables(60), seed=1)


def test_scores(signal: dict[str, pa.Table], trained: tuple[RiskModel, Any]) -> None:
    model = trained[0]
    out = score(signal, model)
    processes = out["out_process_scores"].to_pylist()
    assert len(processes) == signal["core_contracting_processes"].num_rows
    for row in processes:
        assert 0.0 <= row["cri"] <= 1.0 and row["cri_status"] == "calculated" and row["model_id"] == model.model_id
        parts = json.loads(row["cri_components"])
        assert set(parts) == {c.name for c in model.components}
        assert sum(p["contribution"] for p in parts.values()) == pytest.approx(row["cri"], abs=1e-5)
        # Direct awards get a CRI but no single-bid probability (the model never saw one).
        assert (row["single_bid_probability"] is None) == (row["procurement_method"] == "direct")
        assert (row["is_single_bid"] is None) == (row["procurement_method"] == "direct")
    periods = [(json.loads(r["cri_components"])["advertisement_period"]["value"], r["cri"]) for r in processes]
    assert np.mean([cri for days, cri in periods if days is not None and days < 10]) > np.mean(
        [cri for days, cri in periods if days is not None and days > 20]
    )
    buyers = out["out_buyer_scores"].to_pylist()
    assert sum(b["process_count"] for b in buyers) == len(processes)
    assert {(b["buyer_id"], b["year"]) for b in buyers} == {(r["buyer_id"], r["year"]) for r in processes}
    for buyer in buyers:
        assert 0 <= buyer["cri_mean"] <= 1 and 0 <= buyer["high_risk_share"] <= 1
    suppliers = out["out_supplier_scores"].to_pylist()
    assert sum(s["process_count"] for s in suppliers) == len(processes)
    assert all(s["buyer_count"] >= 1 for s in suppliers)


def test_without_a_model_the_index_is_undefined(signal: dict[str, pa.Table]) -> None:
    rows = score(signal, None)["out_process_scores"].to_pylist()
    assert {r["cri_status"] for r in rows} == {"undefined"}
    assert all(r["cri"] is None and r["single_bid_probability"] is None for r in rows)


def test_flags_explain_processes_buyers_and_suppliers(signal: dict[str, pa.Table], trained: tuple[Any, Any]) -> None:
    process = signal["core_contracting_processes"].slice(0, 1).to_pylist()[0]
    supplier = signal["core_award_suppliers"].slice(0, 1).to_pylist()[0]["supplier_id"]
    flags = [
        {"indicator": "R059", "unit": "process", "unit_id": process["ocid"], "ocid": process["ocid"], "value": 0.4,
         "threshold": 0.3, "explanation": "contract 40% above its award", "fields": "awards/value, contracts/value"},
        {"indicator": "R040", "unit": "buyer", "unit_id": process["buyer_id"], "ocid": process["ocid"], "value": 0.5,
         "threshold": 0.4, "explanation": "one supplier won half", "fields": "buyer/id, awards/value"},
        {"indicator": "R040", "unit": "tenderer", "unit_id": "MX-RFC-RAW", "ocid": process["ocid"], "value": 0.5,
         "threshold": 0.4, "explanation": "one supplier won half", "fields": "awards/suppliers/id"},
    ]  # fmt: skip
    tables = {
        **signal,
        "out_flags": to_arrow("out_flags", flags),
        # The tenderer flag names a raw id that organization resolution mapped to the supplier's canonical id.
        "core_organization_map": to_arrow(
            "core_organization_map", [{"party_id": "MX-RFC-RAW", "canonical_id": supplier}]
        ),
    }
    out = score(tables, trained[0])
    row = next(r for r in out["out_process_scores"].to_pylist() if r["ocid"] == process["ocid"])
    assert row["flag_count"] == 1 and row["flag_codes"] == "R059"
    assert json.loads(row["flags"]) == [
        {k: flags[0][k] for k in ("explanation", "fields", "indicator", "threshold", "value")}
    ]
    buyer = next(
        b
        for b in out["out_buyer_scores"].to_pylist()
        if (b["buyer_id"], b["year"]) == (process["buyer_id"], process["year"])
    )
    assert buyer["flag_codes"] == "R040" and json.loads(buyer["flags"])[0]["threshold"] == 0.4
    assert json.loads(buyer["process_flag_counts"]) == {"R059": 1} and buyer["flagged_process_count"] == 1
    assert {s["flag_codes"] for s in out["out_supplier_scores"].to_pylist() if s["supplier_id"] == supplier} == {
        "R040"
    }


def test_save_load_and_model_card(tmp_path: Path, trained: tuple[RiskModel, Any]) -> None:
    import sklearn

    model = trained[0]
    path, card = tmp_path / "model.joblib", tmp_path / "card.md"
    risk_index.save(model, path, card, command="python -m models.risk_index --seed 3")
    loaded = risk_index.load(path)
    assert loaded.model_id == model.model_id and loaded.metrics == model.metrics
    text = card.read_text(encoding="utf-8")
    for needle in (
        model.model_id,
        f"scikit-learn {sklearn.__version__}",
        "seed 3",
        "AUC",
        "## Intended use",
        "## Limits",
    ):
        assert needle in text
    assert f"{trained[1]['auc_cri_held_out']:.3f}" in text
    (tmp_path / "other.joblib").write_bytes(b"")
    with pytest.raises(RiskIndexError, match="no risk model"):
        risk_index.load(tmp_path / "missing.joblib")


def test_shipped_artifact_matches_its_card_and_this_scikit_learn() -> None:
    import sklearn

    model = risk_index.load()
    assert model.sklearn_version == sklearn.__version__, "retrain: python -m models.risk_index"
    card = risk_index.MODEL_CARD.read_text(encoding="utf-8")
    assert card == risk_index.model_card(model, command=card.rsplit("`", 2)[1].split("`")[0]), "regenerate the card"
    assert model.metrics["sklearn_version"] == sklearn.__version__ and math.isfinite(
        model.metrics["auc_model_held_out"]
    )


def test_grouped_statistics_equal_numpy_on_each_group() -> None:
    # Buyer and supplier scores aggregate every group at once; the numbers must be those of np.mean, np.median and
    # np.average on each group's own array (NumPy sums pairwise, in blocks of 8 and 128, not one after another).
    from models.grouped import medians, pairwise_sums

    rng = np.random.default_rng(5)
    sizes = np.concatenate([[1, 2, 7, 8, 9, 16, 127, 128, 129, 300, 1025], rng.integers(1, 60, 200)])
    group = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(group)
    values = rng.lognormal(0, 4, len(group)) * rng.choice([-1.0, 1.0], len(group))
    weights = rng.random(len(group))
    members = [values[group == g] for g in range(len(sizes))]
    sums = pairwise_sums(values, group, len(sizes) + 1)
    assert sums.tolist() == [float(np.sum(m)) for m in members] + [0.0]
    assert (sums[:-1] / sizes).tolist() == [float(np.mean(m)) for m in members]
    assert medians(values, group, len(sizes)).tolist() == [float(np.median(m)) for m in members]
    averaged = pairwise_sums(values * weights, group, len(sizes)) / pairwise_sums(weights, group, len(sizes))
    assert averaged.tolist() == [float(np.average(m, weights=weights[group == g])) for g, m in enumerate(members)]
    # A plain running sum differs in the last bits, which is why the pairwise order is replayed.
    running = np.bincount(group, weights=values, minlength=len(sizes))
    assert running.tolist() != sums[:-1].tolist()

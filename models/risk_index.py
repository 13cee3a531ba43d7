"""A corruption-risk index (CRI) estimated from the data, after Fazekas and the GTI (REFERENCE §6.6).

The outcome is single bidding in competitive procedures (open, selective, limited with one tenderer, counted with the
fallbacks of REFERENCE §6.5). Each candidate component in :data:`CANDIDATES` is

1. **banded** where the predicted single-bid probability jumps: a logistic regression of single bidding on the
   component's deciles plus market, size and year controls gives the probability of each decile at the sample's own
   controls; neighbouring deciles closer than ``min_jump`` (or holding less than ``min_band_share`` of the sample)
   are merged; a component left with one band has no jump and is dropped;
2. **validated**: all banded components enter one logistic regression with the controls; a component is kept only if
   its bands are jointly significant (Wald test, Holm-corrected over the candidates, ``alpha``) and one of them raises
   the probability;
3. **weighted** from the refitted regression, never copied: with β the coefficient of a band against the component's
   lowest-risk band, a band's level is β / (the component's largest β) and the component's weight is its largest β /
   Σ of every kept component's largest β. CRI = Σ weight × level lies between 0 and 1, and is the regression's
   linear predictor without the controls, rescaled.

Training holds out ``test_share`` of the sample (stratified, from the seed) and reports the AUC for single bidding of
the CRI, of the full model and of the controls alone on it, so the components' own contribution is visible.

A direct award has no bids, so single bidding says nothing about it: it never enters the training sample. When the
procedure-type component is kept, a direct award scores its top level (no competition at all is the least competitive
procedure; Fazekas scores outright awards in the top risk category); the other components apply to every process.

:func:`train` estimates a :class:`RiskModel`; :func:`score` applies one to tables and returns ``out_process_scores``,
``out_buyer_scores`` and ``out_supplier_scores``; :func:`save` writes it under ``models/artifacts`` (joblib) with a
model card. ``python -m models.risk_index`` retrains the shipped artifact on the simulator. scikit-learn and scipy are
imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from models.indicators.concentration import MARKET_DIGITS
from models.indicators.s002 import incorporated
from transforms.errors import SemaforoError

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARTIFACT = ARTIFACTS / "cri-model.joblib"
MODEL_CARD = ARTIFACTS / "cri-model-card.md"
COMPETITIVE = ("open", "selective", "limited")
NEW_SUPPLIER_DAYS = 365  # as S002: IMCO's firms under a year old (REFERENCE §6.7)


class RiskIndexError(SemaforoError):
    """The risk model cannot be trained or applied (too little data, or no model)."""


@dataclass(frozen=True)
class Candidate:
    """A candidate CRI component: how it is measured, and what it reads."""

    name: str
    kind: str  # "continuous" (banded), "binary" (0/1) or "method" (non-open procedure; direct scores the top level)
    column: str
    fields: tuple[str, ...]
    description: str


# The candidates of REFERENCE §6.6 that CompraNet data can measure. Leaving one out of the CRI is the data's decision
# (validation), not this list's.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate(
        "non_open_procedure",
        "method",
        "procurement_method",
        ("tender/procurementMethod",),
        "selective or limited procedure instead of an open one (a direct award scores the top level)",
    ),
    Candidate(
        "advertisement_period",
        "continuous",
        "tender_period_days",
        ("tender/tenderPeriod/startDate", "tender/tenderPeriod/endDate"),
        "days from the call for tenders to the bid deadline",
    ),
    Candidate(
        "decision_period",
        "continuous",
        "decision_period_days",
        ("tender/tenderPeriod/endDate", "awards/date"),
        "days from the bid deadline to the first active award",
    ),
    Candidate(
        "contract_modification",
        "binary",
        "amended",
        ("contracts/amendments",),
        "the contract was amended",
    ),
    Candidate(
        "value_increase",
        "continuous",
        "value_increase",
        ("awards/value", "contracts/value", "contracts/amendments/previousValue"),
        "amended contract value ÷ award value − 1 (0 without amendments)",
    ),
    Candidate(
        "contract_lengthening",
        "continuous",
        "lengthening",
        ("contracts/period", "contracts/amendments/previousEndDate", "contracts/amendments/newEndDate"),
        "days of extension ÷ original contract length (0 without amendments)",
    ),
    Candidate(
        "new_supplier",
        "binary",
        "new_supplier",
        ("awards/suppliers/id", "awards/date"),
        f"the supplier was incorporated (per its RFC) less than {NEW_SUPPLIER_DAYS} days before the award",
    ),
    Candidate(
        "buyer_concentration",
        "continuous",
        "winner_share",
        ("buyer/id", "awards/suppliers/id", "awards/value"),
        "the winner's share of the buyer's awarded value in the year",
    ),
)


@dataclass(frozen=True)
class TrainingSettings:
    """How the model is estimated; every value with its reason."""

    # A quarter held out: enough single bids to measure an AUC on a few thousand processes.
    test_share: float = 0.25
    # The usual 5% level, Holm-corrected over the candidates so that eight tries do not keep noise.
    alpha: float = 0.05
    # Bands differ by at least 2 percentage points of single-bid probability; DIGIWHIST's example jump is 14 points,
    # and smaller steps are within the noise of a few thousand processes.
    min_jump: float = 0.02
    # ... and by a significant difference in single-bid rates (two-sided 1%: each boundary is a test of its own, and
    # a 5% level would leave one spurious cut in every few components).
    band_alpha: float = 0.01
    # Bands are cut on this share of the training sample and validated on the rest: a cut fitted to a sample's noise
    # would otherwise pass its own significance test.
    banding_share: float = 0.5
    # A band holds at least 5% of the sample, so one outlier never makes a band.
    min_band_share: float = 0.05
    # Deciles are the starting bands (Fazekas cuts continuous flags at jumps in the predicted probability).
    start_bins: int = 10
    # Nearly unpenalised (C = 100): a market with no single bid must not send its coefficient to infinity.
    c: float = 100.0
    # Markets with fewer training processes are pooled: their own coefficient would be noise.
    market_min: int = 30
    # Size controls: quintiles of the log award (or estimated) value.
    size_bands: int = 5
    # Market controls use this many CUCOP digits (the partida genérica, as R050 and R051).
    market_digits: int = MARKET_DIGITS


@dataclass
class Component:
    """A kept (or candidate) component: its bands, their levels, its weight and the evidence."""

    name: str
    kind: str
    column: str
    fields: tuple[str, ...]
    description: str
    # Continuous: upper edges of every band but the last (a value < edge[i] falls in band i); others: no edges.
    edges: list[float] = field(default_factory=list)
    reference: int = 0
    coefficients: list[float] = field(default_factory=list)  # per band, reference 0
    levels: list[float] = field(default_factory=list)  # per band, 0–1
    probabilities: list[float] = field(default_factory=list)  # banding: predicted single-bid probability per band
    counts: list[int] = field(default_factory=list)  # banding: training processes per band
    weight: float = 0.0
    p_value: float | None = None
    p_adjusted: float | None = None
    reason: str = ""

    def band_of(self, values: np.ndarray) -> np.ndarray:
        """Return each value's band index; a missing value falls in the reference band (no evidence of risk)."""
        if self.kind == "continuous":
            bands = np.searchsorted(np.asarray(self.edges, dtype=float), values, side="right")
            return np.where(np.isnan(values), self.reference, bands)
        return np.where(np.isnan(values), 0, (values > 0).astype(int))

    def n_bands(self) -> int:
        """Return the number of bands."""
        return len(self.edges) + 1 if self.kind == "continuous" else 2

    def describe_band(self, index: int) -> str:
        """Return a band as text (``[15, 30)``, ``yes``)."""
        if self.kind != "continuous":
            return "yes" if index else "no"
        low = f"{self.edges[index - 1]:.4g}" if index > 0 else "−∞"
        high = f"{self.edges[index]:.4g}" if index < len(self.edges) else "∞"
        return f"[{low}, {high})"


@dataclass
class Controls:
    """Market, size and year controls, fixed on the training data."""

    markets: list[str]
    size_edges: list[float]
    years: list[int]

    def design(self, frame: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the controls' one-hot design matrix (the first market, size band and year are the reference)."""
        n = len(frame["ocid"])
        markets = frame["market"]
        columns = [(markets == m).astype(float) for m in self.markets]
        size = frame["log_size"]
        band = np.searchsorted(np.asarray(self.size_edges), size, side="right")
        columns += [((band == i) & ~np.isnan(size)).astype(float) for i in range(1, len(self.size_edges) + 1)]
        columns.append(np.isnan(size).astype(float))
        columns += [(frame["year"] == y).astype(float) for y in self.years[1:]]
        return np.column_stack(columns) if columns else np.zeros((n, 0))


@dataclass
class RiskModel:
    """A trained CRI: kept components with weights, the dropped ones with reasons, controls, estimator, metrics."""

    model_id: str
    seed: int
    settings: TrainingSettings
    components: list[Component]
    dropped: list[Component]
    controls: Controls
    estimator: Any  # sklearn LogisticRegression over [component dummies, controls]
    metrics: dict[str, Any]
    high_risk_line: float | None
    sklearn_version: str

    def is_defined(self) -> bool:
        """Return whether the CRI has any component (else it is undefined)."""
        return bool(self.components)


# -- features --------------------------------------------------------------------------------------------------
def features(
    tables: Mapping[str, pa.Table], *, digits: int = MARKET_DIGITS, currency: str | None = None
) -> dict[str, np.ndarray]:
    """Return one array per feature, one entry per process (``models.competition.process_table`` plus derived ones)."""
    from models.competition import process_table

    processes = process_table(tables, digits=digits, currency=currency).to_pydict()
    frame: dict[str, np.ndarray] = {
        name: np.asarray(values, dtype=object)
        for name, values in processes.items()
        if name
        in (
            "ocid",
            "buyer_id",
            "procuring_entity_id",
            "market",
            "supplier_id",
            "supplier_party_id",
            "supplier_name",
            "tenderer_count_source",
        )
    }
    frame["market"] = np.asarray([m or "none" for m in processes["market"]], dtype=object)
    for name in (
        "year",
        "tenderer_count",
        "tender_period_days",
        "decision_period_days",
        "value_increase",
        "lengthening",
        "awarded_amount",
        "size_amount",
    ):
        frame[name] = np.asarray([np.nan if v is None else float(v) for v in processes[name]], dtype=float)
    frame["amended"] = np.asarray([float((v or 0) > 0) for v in processes["amendment_count"]])
    sizes = frame["size_amount"]
    frame["log_size"] = np.where(sizes > 0, np.log(np.where(sizes > 0, sizes, 1.0)), np.nan)
    methods = processes["procurement_method"]
    frame["method_name"] = np.asarray(methods, dtype=object)
    frame["is_competitive"] = np.asarray([m in COMPETITIVE for m in methods])
    frame["is_direct"] = np.asarray([m == "direct" for m in methods])
    frame["procurement_method"] = np.asarray(
        [1.0 if m in ("selective", "limited", "direct") else 0.0 if m == "open" else np.nan for m in methods]
    )
    frame["new_supplier"] = np.asarray(
        [
            _is_new(party, when)
            for party, when in zip(processes["supplier_party_id"], processes["award_date"], strict=True)
        ]
    )
    frame["winner_share"] = _winner_shares(frame)
    return frame


def _is_new(party: str | None, when: dt.datetime | None) -> float:
    if party is None or when is None:
        return 0.0
    founded = incorporated(party, when.date())
    return float(founded is not None and (when.date() - founded).days < NEW_SUPPLIER_DAYS)


def _winner_shares(frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the process winner's share of its buyer's awarded value in the year (NaN without an award value)."""
    totals: dict[tuple[Any, float], float] = {}
    won: dict[tuple[Any, float, Any], float] = {}
    amounts = frame["awarded_amount"]
    keys = list(zip(frame["buyer_id"], frame["year"], frame["supplier_id"], strict=True))
    for (buyer, year, supplier), amount in zip(keys, amounts, strict=True):
        if buyer is None or supplier is None or math.isnan(amount):
            continue
        totals[buyer, year] = totals.get((buyer, year), 0.0) + amount
        won[buyer, year, supplier] = won.get((buyer, year, supplier), 0.0) + amount
    return np.asarray(
        [
            won[key] / totals[key[:2]] if key in won and totals[key[:2]] > 0 and not math.isnan(amount) else np.nan
            for key, amount in zip(keys, amounts, strict=True)
        ]
    )


def outcome(frame: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask of the training sample, single bid 0/1): competitive processes with a tenderer count ≥ 1."""
    counts = frame["tenderer_count"]
    sample = frame["is_competitive"] & ~np.isnan(counts) & (np.nan_to_num(counts) >= 1)
    return sample, (counts == 1).astype(int)


# -- estimation ------------------------------------------------------------------------------------------------
def _fit(design: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression(C=c, solver="lbfgs", max_iter=5000)
    estimator.fit(design, y)
    return estimator


def _covariance(estimator: Any, design: np.ndarray, c: float) -> np.ndarray:
    """Return the coefficients' covariance (inverse penalised information, intercept first)."""
    x = np.column_stack([np.ones(len(design)), design])
    p = estimator.predict_proba(design)[:, 1]
    information = (x * (p * (1 - p))[:, None]).T @ x
    penalty = np.eye(x.shape[1]) / c
    penalty[0, 0] = 0.0  # sklearn does not penalise the intercept
    return np.asarray(np.linalg.pinv(information + penalty))


def _dummies(component: Component, values: np.ndarray) -> np.ndarray:
    """Return the one-hot columns of a component's non-reference bands."""
    bands = component.band_of(values)
    others = [b for b in range(component.n_bands()) if b != component.reference]
    return np.column_stack([(bands == b).astype(float) for b in others]) if others else np.zeros((len(values), 0))


def _band(
    candidate: Candidate, values: np.ndarray, y: np.ndarray, controls: np.ndarray, s: TrainingSettings
) -> Component:
    """Cut a continuous candidate into bands where the predicted single-bid probability jumps.

    Deciles first; the probability of each comes from a logistic regression with the controls, averaged over the
    sample's own controls. Then the two neighbours least distinguishable are merged, over and over, until every
    boundary separates probabilities at least ``min_jump`` apart *and* significantly different single-bid rates
    (two-proportion z-test at ``band_alpha``), and every band holds ``min_band_share`` of the sample.
    """
    from scipy import stats

    component = Component(candidate.name, candidate.kind, candidate.column, candidate.fields, candidate.description)
    finite = values[~np.isnan(values)]
    if candidate.kind != "continuous":
        component.counts = [int(np.sum(component.band_of(values) == b)) for b in range(2)]
        return component
    if len(finite) == 0:
        component.reason = "never observed in the training sample"
        return component
    quantiles = np.quantile(finite, np.linspace(0, 1, s.start_bins + 1)[1:-1])
    edges = sorted({float(q) for q in quantiles if float(q) > float(finite.min())})
    component.edges = edges
    bands = component.band_of(values)
    n = len(edges) + 1
    counts = [int(np.sum(bands == b)) for b in range(n)]
    positives = [int(np.sum(y[bands == b])) for b in range(n)]
    if n > 1:
        design = np.column_stack([*[(bands == b).astype(float) for b in range(1, n)], controls])
        estimator = _fit(design, y, s.c)
        probabilities = []
        for b in range(n):
            forced = design.copy()
            forced[:, : n - 1] = 0.0
            if b > 0:
                forced[:, b - 1] = 1.0
            probabilities.append(float(np.mean(estimator.predict_proba(forced)[:, 1])))
    else:
        probabilities = [float(np.mean(y))]
    critical = float(stats.norm.isf(s.band_alpha / 2))
    minimum = s.min_band_share * len(values)

    def separation(i: int) -> float:
        """How distinct bands i and i + 1 are: z of their rates, or 0 when the jump is under min_jump."""
        jump = abs(probabilities[i + 1] - probabilities[i])
        pooled = (positives[i] + positives[i + 1]) / (counts[i] + counts[i + 1])
        spread = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / counts[i] + 1 / counts[i + 1]))
        return 0.0 if jump < s.min_jump else jump / spread

    while len(counts) > 1:
        scores = [separation(i) for i in range(len(counts) - 1)]
        small = [i for i, count in enumerate(counts) if count < minimum]
        if small:  # a band too small to stand alone joins its less distinct neighbour
            i = small[0]
            if 0 < i < len(counts) - 1:
                i = i - 1 if scores[i - 1] <= scores[i] else i
            elif i == len(counts) - 1:
                i -= 1
        elif min(scores) < critical:
            i = int(np.argmin(scores))
        else:
            break
        total = counts[i] + counts[i + 1]
        probabilities[i] = (probabilities[i] * counts[i] + probabilities[i + 1] * counts[i + 1]) / total
        counts[i], positives[i] = total, positives[i] + positives[i + 1]
        del probabilities[i + 1], counts[i + 1], positives[i + 1], edges[i]
    component.edges, component.counts, component.probabilities = edges, counts, probabilities
    component.reference = int(np.argmin(probabilities))
    if len(counts) == 1:
        component.reason = (
            f"no band where the predicted single-bid probability jumps significantly (by {s.min_jump:.0%} or more)"
        )
    return component


def _holm(p_values: list[float]) -> list[float]:
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _design(components: list[Component], frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the components' band dummies for every process of a frame."""
    parts = [_dummies(c, frame[c.column]) for c in components]
    return np.column_stack(parts) if parts else np.zeros((len(frame["ocid"]), 0))


def _controls(frame: Mapping[str, np.ndarray], rows: np.ndarray, s: TrainingSettings) -> Controls:
    markets, counts = np.unique(frame["market"][rows].astype(str), return_counts=True)
    # The most common market is the reference; markets below market_min are pooled with it.
    common = [
        str(m) for m, n in sorted(zip(markets, counts, strict=True), key=lambda p: (-p[1], p[0])) if n >= s.market_min
    ]
    size = frame["log_size"][rows]
    size = size[~np.isnan(size)]
    cuts = np.quantile(size, np.linspace(0, 1, s.size_bands + 1)[1:-1]) if len(size) else np.array([])
    years = sorted({int(y) for y in frame["year"][rows] if not math.isnan(y)})
    return Controls(markets=common[1:], size_edges=sorted({float(c) for c in cuts}), years=years)


def _take(frame: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in frame.items()}


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if len(set(y.tolist())) == 2 else None


def train(
    tables: Mapping[str, pa.Table], seed: int, settings: TrainingSettings | None = None
) -> tuple[RiskModel, dict[str, Any]]:
    """Estimate the CRI on the tables' competitive processes; return the model and its metrics (held-out AUC …)."""
    import sklearn
    from scipy import stats
    from sklearn.model_selection import train_test_split

    s = settings or TrainingSettings()
    frame = features(tables, digits=s.market_digits)
    sample, single = outcome(frame)
    indices = np.flatnonzero(sample)
    y_all = single[indices]
    if len(indices) < 100 or y_all.sum() < 20 or (len(y_all) - y_all.sum()) < 20:
        raise RiskIndexError(
            f"too little data to train the risk index: {len(indices)} counted competitive processes, "
            f"{int(y_all.sum())} single bids (need ≥ 100 processes and ≥ 20 of each outcome)"
        )
    train_rows, test_rows = train_test_split(indices, test_size=s.test_share, stratify=y_all, random_state=seed)
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    train_frame, test_frame = _take(frame, train_rows), _take(frame, test_rows)
    y_train, y_test = single[train_rows], single[test_rows]
    controls = _controls(frame, train_rows, s)
    control_design = controls.design(train_frame)

    # 1. Band every candidate on one part of the training sample; a candidate left with one band has no jump.
    banding, validation = train_test_split(
        np.arange(len(train_rows)), train_size=s.banding_share, stratify=y_train, random_state=seed
    )
    band_frame, check_frame = _take(train_frame, np.sort(banding)), _take(train_frame, np.sort(validation))
    y_band, y_check = y_train[np.sort(banding)], y_train[np.sort(validation)]
    banded = [_band(c, band_frame[c.column], y_band, controls.design(band_frame), s) for c in CANDIDATES]
    candidates = [c for c in banded if c.n_bands() > 1 and not c.reason]
    dropped = [c for c in banded if c not in candidates]

    # 2. Validate them together on the other part: jointly significant bands (Wald tests, Holm-corrected over the
    # candidates), one of them raising the probability.
    kept: list[Component] = []
    if candidates:
        design = np.column_stack([_design(candidates, check_frame), controls.design(check_frame)])
        estimator = _fit(design, y_check, s.c)
        covariance = _covariance(estimator, design, s.c)
        p_values, start = [], 0
        for component in candidates:
            others = [b for b in range(component.n_bands()) if b != component.reference]
            index = np.arange(start, start + len(others))
            beta = estimator.coef_[0][index]
            block = covariance[np.ix_(index + 1, index + 1)]
            statistic = float(beta @ np.linalg.pinv(block) @ beta)
            p_values.append(float(stats.chi2.sf(statistic, len(others))))
            component.coefficients = [0.0] * component.n_bands()
            for band_index, value in zip(others, beta, strict=True):
                component.coefficients[band_index] = float(value)
            start += len(others)
        for component, p_value, adjusted in zip(candidates, p_values, _holm(p_values), strict=True):
            component.p_value, component.p_adjusted = p_value, adjusted
            if adjusted >= s.alpha:
                component.reason = f"does not predict single bidding (Wald p = {p_value:.3g}, Holm {adjusted:.3g})"
            elif max(component.coefficients) <= 0:
                component.reason = "lowers the single-bid probability in every band"
            else:
                kept.append(component)
        dropped += [c for c in candidates if c not in kept]

    # 3. Refit on the whole training sample with the kept components; weights and levels come from its coefficients.
    design = np.column_stack([_design(kept, train_frame), control_design])
    estimator = _fit(design, y_train, s.c)
    start = 0
    for component in kept:
        others = [b for b in range(component.n_bands()) if b != component.reference]
        beta = estimator.coef_[0][start : start + len(others)]
        component.coefficients = [0.0] * component.n_bands()
        for band_index, value in zip(others, beta, strict=True):
            component.coefficients[band_index] = float(value)
        start += len(others)
    tops = [max(max(c.coefficients), 0.0) for c in kept]
    total = sum(tops)
    for component, top in zip(kept, tops, strict=True):
        component.weight = top / total if total > 0 else 0.0
        component.levels = [max(b, 0.0) / top if top > 0 else 0.0 for b in component.coefficients]
    for component in [c for c in kept if c.weight <= 0]:
        component.reason = "its effect vanished when refitted on the whole training sample"
        dropped.append(component)
    kept = [c for c in kept if c.weight > 0]

    model = RiskModel(
        model_id="",
        seed=seed,
        settings=s,
        components=kept,
        dropped=dropped,
        controls=controls,
        estimator=estimator,
        metrics={},
        high_risk_line=None,
        sklearn_version=sklearn.__version__,
    )
    cri_all = index_of(model, frame)
    if model.is_defined():
        model.high_risk_line = float(np.quantile(cri_all[~np.isnan(cri_all)], 0.9))

    # Held-out evaluation: the CRI alone, the full model, and the controls alone (the baseline).
    test_design = np.column_stack([_design(kept, test_frame), controls.design(test_frame)])
    baseline = _fit(control_design, y_train, s.c)
    years = sorted({int(y) for y in frame["year"][indices] if not math.isnan(y)})
    metrics: dict[str, Any] = {
        "seed": seed,
        "years": years,
        "processes": len(frame["ocid"]),
        "training_sample": len(train_rows),
        "held_out_sample": len(test_rows),
        "single_bid_rate_train": float(np.mean(y_train)),
        "single_bid_rate_held_out": float(np.mean(y_test)),
        "auc_cri_held_out": _auc(y_test, cri_all[test_rows]) if model.is_defined() else None,
        "auc_model_held_out": _auc(y_test, estimator.predict_proba(test_design)[:, 1]),
        "auc_controls_held_out": _auc(y_test, baseline.predict_proba(controls.design(test_frame))[:, 1]),
        "kept": {c.name: round(c.weight, 4) for c in kept},
        "dropped": {c.name: c.reason for c in dropped},
        "high_risk_line": model.high_risk_line,
        "sklearn_version": sklearn.__version__,
    }
    model.metrics = metrics
    model.model_id = _model_id(model)
    metrics["model_id"] = model.model_id
    return model, metrics


def _model_id(model: RiskModel) -> str:
    """Return a short digest of what the model computes (components, bands, weights, controls, seed)."""
    described = {
        "seed": model.seed,
        "components": [(c.name, c.edges, c.levels, c.weight) for c in model.components],
        "controls": asdict(model.controls),
        "coef": np.round(model.estimator.coef_, 8).tolist(),
        "intercept": np.round(model.estimator.intercept_, 8).tolist(),
    }
    return "cri-" + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]


# -- scoring ---------------------------------------------------------------------------------------------------
def index_of(model: RiskModel, frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the CRI of every process in a feature frame (NaN everywhere when the model kept no component)."""
    n = len(frame["ocid"])
    if not model.is_defined():
        return np.full(n, np.nan)
    cri = np.zeros(n)
    for component in model.components:
        levels = np.asarray(component.levels)[component.band_of(frame[component.column])]
        cri += component.weight * levels
    return cri


def probability_of(model: RiskModel, frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the model's single-bid probability for every process (NaN where the process is not competitive)."""
    design = np.column_stack([_design(model.components, frame), model.controls.design(frame)])
    probability = model.estimator.predict_proba(design)[:, 1]
    return np.where(frame["is_competitive"], probability, np.nan)


def _flag_rows(flags: pa.Table | None) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Return out_flags rows by (unit, unit_id), and process flags also under ("process_of", ocid) via their ocid."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if flags is None:
        return found
    for row in flags.to_pylist():
        entry = {key: row[key] for key in ("indicator", "value", "threshold", "explanation", "fields")}
        found.setdefault((row["unit"], row["unit_id"]), []).append(entry)
    return found


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _codes(entries: list[dict[str, Any]]) -> str | None:
    return "|".join(sorted({e["indicator"] for e in entries})) or None


def _json(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False) if value else None


def score(
    tables: Mapping[str, pa.Table], model: RiskModel | None, *, currency: str | None = None
) -> dict[str, pa.Table]:
    """Score every process; return ``out_process_scores``, ``out_buyer_scores`` and ``out_supplier_scores``.

    ``tables`` holds the core tables, and optionally ``out_flags`` (every flagged process, buyer and supplier then
    lists its flags) and ``tenderer_counts`` (``models.competition.tenderer_counts``). Without a model, or with one
    that kept no component, the CRI is undefined.
    """
    from models.competition import main_currency
    from transforms.tables import to_arrow

    digits = model.settings.market_digits if model is not None else MARKET_DIGITS
    currency = currency or main_currency(tables)
    frame = features(tables, digits=digits, currency=currency)
    n = len(frame["ocid"])
    cri = index_of(model, frame) if model is not None else np.full(n, np.nan)
    probability = probability_of(model, frame) if model is not None else np.full(n, np.nan)
    model_id = model.model_id if model is not None else None
    flags = _flag_rows(tables.get("out_flags"))
    counts = frame["tenderer_count"]
    single = np.where(frame["is_competitive"] & ~np.isnan(counts), counts == 1, False)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        ocid = str(frame["ocid"][i])
        entries = flags.get(("process", ocid), [])
        components: dict[str, Any] = {}
        if model is not None and model.is_defined():
            for component in model.components:
                value = frame[component.column][i]
                band = int(component.band_of(np.asarray([value]))[0])
                components[component.name] = {
                    "value": None if math.isnan(value) else round(float(value), 6),
                    "band": component.describe_band(band),
                    "level": round(component.levels[band], 6),
                    "weight": round(component.weight, 6),
                    "contribution": round(component.weight * component.levels[band], 6),
                }
        competitive = bool(frame["is_competitive"][i]) and not math.isnan(counts[i])
        rows.append(
            {
                "ocid": ocid,
                "year": None if math.isnan(frame["year"][i]) else int(frame["year"][i]),
                "buyer_id": frame["buyer_id"][i],
                "procuring_entity_id": frame["procuring_entity_id"][i],
                "supplier_id": frame["supplier_id"][i],
                "procurement_method": frame["method_name"][i],
                "market": None if frame["market"][i] == "none" else frame["market"][i],
                "awarded_amount": None
                if math.isnan(frame["awarded_amount"][i])
                else float(frame["awarded_amount"][i]),
                "awarded_currency": currency,
                "tenderer_count": None if math.isnan(counts[i]) else int(counts[i]),
                "tenderer_count_source": frame["tenderer_count_source"][i],
                "is_single_bid": bool(single[i]) if competitive else None,
                "single_bid_probability": None if math.isnan(probability[i]) else float(probability[i]),
                "cri": None if math.isnan(cri[i]) else float(cri[i]),
                "cri_status": "undefined" if math.isnan(cri[i]) else "calculated",
                "cri_components": _json(components),
                "flag_count": len(entries),
                "flag_codes": _codes(entries),
                "flags": _json(entries),
                "model_id": model_id,
            }
        )
    organization = _canonical(tables)
    buyers = _aggregate(rows, "buyer_id", flags, "buyer", organization, model, _buyer_names(tables))
    suppliers = _aggregate(
        rows,
        "supplier_id",
        flags,
        "tenderer",
        organization,
        model,
        {
            supplier: name
            for supplier, name in zip(frame["supplier_id"], frame["supplier_name"], strict=True)
            if supplier
        },
    )
    return {
        "out_process_scores": to_arrow("out_process_scores", rows),
        "out_buyer_scores": to_arrow("out_buyer_scores", buyers),
        "out_supplier_scores": to_arrow("out_supplier_scores", suppliers),
    }


def _canonical(tables: Mapping[str, pa.Table]) -> dict[str, str]:
    """Return party id → canonical id (core_organization_map), so flags on raw ids reach the canonical unit."""
    mapping = tables.get("core_organization_map")
    if mapping is None:
        return {}
    return {
        party: canonical
        for party, canonical in zip(
            mapping.column("party_id").to_pylist(), mapping.column("canonical_id").to_pylist(), strict=True
        )
        if party and canonical
    }


def _buyer_names(tables: Mapping[str, pa.Table]) -> dict[str, str]:
    processes = tables["core_contracting_processes"]
    names: dict[str, str] = {}
    for raw, canonical, name in zip(
        processes.column("buyer_id").to_pylist(),
        processes.column("buyer_canonical_id").to_pylist(),
        processes.column("buyer_name").to_pylist(),
        strict=True,
    ):
        key = canonical or raw
        if key and name and key not in names:
            names[key] = name
    return names


def _aggregate(
    rows: list[dict[str, Any]],
    key: str,
    flags: dict[tuple[str, str], list[dict[str, Any]]],
    unit: str,
    organization: dict[str, str],
    model: RiskModel | None,
    names: Mapping[Any, Any],
) -> list[dict[str, Any]]:
    """Aggregate process scores per (unit, year), with the flags raised on the unit itself."""
    unit_flags: dict[str, list[dict[str, Any]]] = {}
    for (flag_unit, unit_id), entries in flags.items():
        if flag_unit == unit:
            unit_flags.setdefault(organization.get(unit_id, unit_id), []).extend(entries)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row[key] is not None and row["year"] is not None:
            groups.setdefault((row[key], row["year"]), []).append(row)
    line = model.high_risk_line if model is not None else None
    result = []
    for (unit_id, year), members in sorted(groups.items()):
        scored = [r for r in members if r["cri"] is not None]
        values = np.asarray([r["cri"] for r in scored], dtype=float)
        amounts = np.asarray([r["awarded_amount"] or 0.0 for r in scored], dtype=float)
        counted = [r for r in members if r["is_single_bid"] is not None]
        process_counts: dict[str, int] = {}
        for r in members:
            for code in (r["flag_codes"] or "").split("|"):
                if code:
                    process_counts[code] = process_counts.get(code, 0) + 1
        entries = unit_flags.get(unit_id, [])
        aggregated: dict[str, Any] = {
            key: unit_id,
            "year": year,
            f"{'buyer' if key == 'buyer_id' else 'supplier'}_name": names.get(unit_id),
            "process_count": len(members),
            "awarded_amount": float(sum(r["awarded_amount"] or 0.0 for r in members)),
            "awarded_currency": members[0]["awarded_currency"],
            "single_bid_share": sum(bool(r["is_single_bid"]) for r in counted) / len(counted) if counted else None,
            "scored_process_count": len(scored),
            "cri_mean": float(values.mean()) if len(values) else None,
            "cri_median": float(np.median(values)) if len(values) else None,
            "cri_value_weighted": float(np.average(values, weights=amounts)) if amounts.sum() > 0 else None,
            "high_risk_share": float(np.mean(values >= line)) if len(values) and line is not None else None,
            "flagged_process_count": sum(1 for r in members if r["flag_count"]),
            "process_flag_counts": _json(dict(sorted(process_counts.items()))),
            "flag_codes": _codes(entries),
            "flags": _json(entries),
            "model_id": members[0]["model_id"],
        }
        if key == "supplier_id":
            aggregated["buyer_count"] = len({r["buyer_id"] for r in members if r["buyer_id"]})
        result.append(aggregated)
    return result


# -- the artifact ----------------------------------------------------------------------------------------------
def save(model: RiskModel, path: Path = ARTIFACT, card: Path = MODEL_CARD, *, command: str = "") -> None:
    """Write the model (joblib) and its model card (Markdown)."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)
    card.write_text(model_card(model, command=command), encoding="utf-8")


def load(path: Path = ARTIFACT) -> RiskModel:
    """Read a model written by :func:`save` (a joblib pickle: load only artifacts you trust, such as this repo's)."""
    import joblib

    if not path.is_file():
        raise RiskIndexError(f"no risk model at {path}; train one with `python -m models.risk_index`")
    model = joblib.load(path)
    if not isinstance(model, RiskModel):
        raise RiskIndexError(f"{path} does not hold a risk model")
    return model


def model_card(model: RiskModel, *, command: str = "") -> str:
    """Return the model card (Markdown): data, features, metrics, intended use, limits, versions."""
    m = model.metrics

    def number(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"# Corruption-risk index model `{model.model_id}`",
        "",
        "Generated by `models.risk_index` together with `cri-model.joblib`; do not edit by hand.",
        "",
        "## Data",
        "",
        f"- Processes scored while training: {m['processes']}; years {', '.join(map(str, m['years'])) or 'n/a'}.",
        f"- Training sample (competitive processes with a tenderer count): {m['training_sample']}, single-bid rate "
        f"{number(m['single_bid_rate_train'])}; held out ({model.settings.test_share:.0%}, stratified, seed "
        f"{model.seed}): {m['held_out_sample']}, single-bid rate {number(m['single_bid_rate_held_out'])}.",
    ]
    if m.get("source"):
        lines.append(f"- Source: {m['source']}.")
    lines += [
        "",
        "## Metrics (held-out data)",
        "",
        "| model | AUC for single bidding |",
        "|---|---|",
        f"| CRI alone | {number(m['auc_cri_held_out'])} |",
        f"| kept components + controls | {number(m['auc_model_held_out'])} |",
        f"| controls alone (market, size, year) | {number(m['auc_controls_held_out'])} |",
        "",
        "What the components add is the full model's AUC over the controls' alone; the CRI alone leaves the controls "
        "out, as the index does.",
        "",
        f"High-risk line (90th percentile of the training CRI): {number(model.high_risk_line)}.",
        "",
        "## Features",
        "",
        "Controls: market (first "
        f"{model.settings.market_digits} CUCOP digits, {len(model.controls.markets) + 1} levels), size (quintiles of "
        f"the log value), year ({len(model.controls.years)} levels).",
        "",
        "| component | kept | weight | bands (level) | evidence |",
        "|---|---|---|---|---|",
    ]
    for component in [*model.components, *model.dropped]:
        kept = component in model.components
        bands = ", ".join(
            f"{component.describe_band(b)} ({component.levels[b]:.2f})"
            if kept
            else f"{component.describe_band(b)} (p={component.probabilities[b]:.3f})"
            if component.probabilities
            else component.describe_band(b)
            for b in range(component.n_bands())
        )
        evidence = f"Wald p = {component.p_value:.3g}, Holm {component.p_adjusted:.3g}" if kept else component.reason
        lines.append(
            f"| {component.name}: {component.description} | {'yes' if kept else 'no'} | "
            f"{component.weight:.3f} | {bands} | {evidence} |"
        )
    lines += [
        "",
        "## Intended use",
        "",
        "Ranking processes, buyers and suppliers for review: a higher CRI means more of the tendering features that "
        "predicted single bidding in the training data. It is a risk score, not evidence of wrongdoing; read it with "
        "the red flags (`out_flags`) that explain each process.",
        "",
        "## Limits",
        "",
        "- Weights hold for the data they were estimated on; the OCP 2024 guide warns they must be re-estimated for "
        "each context. Retrain on real CompraNet data before using the scores.",
        "- Single bidding is known only for competitive procedures with bids (CompraNet's Contratos files carry no "
        "bidder count, REFERENCE §6.5); direct awards (≈ 79% of procedures) are scored with components estimated "
        "elsewhere.",
        "- joblib files are pickles: load only artifacts you trust.",
    ]
    if "simulat" in str(m.get("source", "")):
        lines.append(
            "- Trained on the simulator, which plants single bids at random on open tenders, independently of every "
            "other pattern: no component can predict them, so none is expected to be kept (the CRI is then "
            "undefined), and the controls predict single bidding only because open tenders are larger than "
            "invitations, which never get a planted single bid."
        )
    lines += [
        "",
        "## Reproduce",
        "",
        f"`{command or 'python -m models.risk_index'}` (scikit-learn {model.sklearn_version}, seed {model.seed}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Retrain the shipped artifact on a simulated universe and write it with its model card."""
    from models.evaluation import DEFAULT_START, build_universe

    parser = argparse.ArgumentParser(prog="python -m models.risk_index", description=main.__doc__)
    parser.add_argument("--procedures", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    args = parser.parse_args(argv)
    built = build_universe(args.procedures, args.seed)
    model, metrics = train(built.tables, args.seed)
    metrics["source"] = (
        f"simulated universe (transforms.sources.simulator, seed {args.seed}, {args.procedures} procedures from "
        f"{DEFAULT_START.isoformat()})"
    )
    command = f"python -m models.risk_index --procedures {args.procedures} --seed {args.seed}"
    save(model, args.out, args.out.with_name(MODEL_CARD.name), command=command)
    print(json.dumps(metrics, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: the pickle must name models.risk_index.RiskModel.
    from models.risk_index import main as module_main

    raise SystemExit(module_main())

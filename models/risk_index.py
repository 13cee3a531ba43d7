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
import contextlib
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
import pyarrow.compute as pc

from models.grouped import first_seen, groups, medians, numbers, pairwise_sums
from models.indicators.concentration import MARKET_DIGITS
from models.indicators.s002 import LEGAL_PERSON_RFC
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
        n = len(frame["year"])
        if "market_code" in frame:
            # Markets as codes into their distinct names: one comparison of integers per market, not of strings.
            level = {name: i for i, name in enumerate(frame["market_levels"].tolist())}
            codes = frame["market_code"]
            columns = [(codes == level.get(m, -1)).astype(float) for m in self.markets]
        else:
            columns = [(frame["market"] == m).astype(float) for m in self.markets]
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
# Columns of models.competition.processes kept as text in a training frame (scoring reads them from Arrow instead).
TEXT = (
    "ocid",
    "buyer_id",
    "procuring_entity_id",
    "supplier_id",
    "supplier_party_id",
    "supplier_name",
    "tenderer_count_source",
    "procurement_method",
)
NUMBERS = (
    "year",
    "tenderer_count",
    "tender_period_days",
    "decision_period_days",
    "value_increase",
    "lengthening",
    "awarded_amount",
    "size_amount",
)


def frame_of(processes: pa.Table) -> dict[str, np.ndarray]:
    """Return the numeric features of :func:`models.competition.processes`' rows, one array entry per process.

    Markets come as codes (``market_code`` into ``market_levels``, ``none`` without a market) and as an array of
    the shared names (``market``), so no string is copied per process.
    """

    frame: dict[str, np.ndarray] = {name: numbers(processes.column(name)) for name in NUMBERS}
    frame["amended"] = (numbers(processes.column("amendment_count")) > 0).astype(float)
    sizes = frame["size_amount"]
    with np.errstate(invalid="ignore"):
        frame["log_size"] = np.where(sizes > 0, np.log(np.where(sizes > 0, sizes, 1.0)), np.nan)
    codes, levels = first_seen(pc.fill_null(processes.column("market"), "none"))
    frame["market_code"], frame["market_levels"] = codes, np.asarray(levels, dtype=object)
    frame["market"] = frame["market_levels"][codes] if len(levels) else np.zeros(0, dtype=object)
    methods = processes.column("procurement_method")

    def method_in(names: tuple[str, ...]) -> np.ndarray:
        return np.asarray(pc.fill_null(pc.is_in(methods, pa.array(names)), False).to_numpy(zero_copy_only=False))

    frame["is_competitive"] = method_in(COMPETITIVE)
    frame["is_direct"] = method_in(("direct",))
    frame["procurement_method"] = np.where(
        method_in(("selective", "limited", "direct")), 1.0, np.where(method_in(("open",)), 0.0, np.nan)
    )
    frame["new_supplier"] = _new_suppliers(processes.column("supplier_party_id"), processes.column("award_date"))
    frame["winner_share"] = _winner_shares(processes, frame)
    return frame


def features(
    tables: Mapping[str, pa.Table], *, digits: int = MARKET_DIGITS, currency: str | None = None
) -> dict[str, np.ndarray]:
    """Return one array per feature, one entry per process (``models.competition.process_table`` plus derived ones)."""
    from models.competition import process_table

    processes = process_table(tables, digits=digits, currency=currency)
    frame = frame_of(processes)
    for name in TEXT:
        frame["method_name" if name == "procurement_method" else name] = np.asarray(
            processes.column(name).to_pylist(), dtype=object
        )
    return frame


def _new_suppliers(parties: pa.ChunkedArray, dates: pa.ChunkedArray) -> np.ndarray:
    """Return 1.0 where the supplier was incorporated (per its RFC, as S002 reads it) under a year before the award."""

    days = pc.cast(dates, pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    codes, names = first_seen(pc.fill_null(parties, ""))
    # Each distinct party's incorporation date in either century, or NaT where that date does not exist.
    recent = np.full(len(names), np.datetime64("NaT"), dtype="datetime64[D]")
    older = recent.copy()
    legal = np.zeros(len(names), dtype=bool)
    for i, name in enumerate(names):
        match = LEGAL_PERSON_RFC.match(name)
        if match is None:
            continue
        legal[i] = True
        yy, month, day = (int(part) for part in match.groups())
        for century, found in ((2000, recent), (1900, older)):
            with contextlib.suppress(ValueError):  # no such day (30 February): no incorporation date, as in S002
                found[i] = np.datetime64(dt.date(century + yy, month, day))
    # The latest century not after the award, unless a missing date in 2000 or 1900 is reached first (S002's rule).
    founded = np.where(recent[codes] <= days, recent[codes], np.where(
        ~np.isnat(recent[codes]) & (older[codes] <= days), older[codes], np.datetime64("NaT")))  # fmt: skip
    founded = np.where(legal[codes] & ~np.isnat(days), founded, np.datetime64("NaT"))
    with np.errstate(invalid="ignore"):
        young = ~np.isnat(founded) & ((days - founded).astype("timedelta64[D]").astype(np.int64) < NEW_SUPPLIER_DAYS)
    return young.astype(float)


def _winner_shares(processes: pa.Table, frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the process winner's share of its buyer's awarded value in the year (NaN without an award value)."""

    amounts, years = frame["awarded_amount"], frame["year"]
    buyers, suppliers = processes.column("buyer_id"), processes.column("supplier_id")
    counted = (
        np.asarray(pc.is_valid(buyers).to_numpy(zero_copy_only=False))
        & np.asarray(pc.is_valid(suppliers).to_numpy(zero_copy_only=False))
        & ~np.isnan(amounts)
    )
    shares = np.full(len(amounts), np.nan)
    rows = np.flatnonzero(counted)
    if len(rows) == 0:
        return shares
    buyer = first_seen(buyers.take(rows))[0]
    supplier = first_seen(suppliers.take(rows))[0]
    # A missing year never equals another (NaN): each such process is a buyer-year of its own.
    known, year_code = np.unique(np.nan_to_num(years[rows], nan=-1.0), return_inverse=True)
    year_code = np.where(np.isnan(years[rows]), len(known) + np.arange(len(rows)), year_code)
    cell, cells = groups(buyer, year_code)
    pair, pairs = groups(cell, supplier)
    # bincount adds in row order, as the running sums it replaces did.
    totals = np.bincount(cell, weights=amounts[rows], minlength=len(cells))
    won = np.bincount(pair, weights=amounts[rows], minlength=len(pairs))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares[rows] = np.where(totals[cell] > 0, won[pair] / totals[cell], np.nan)
    return shares


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
    return np.column_stack(parts) if parts else np.zeros((len(frame["year"]), 0))


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
    # market_levels names the market codes: it is not one entry per process.
    return {name: values if name == "market_levels" else values[rows] for name, values in frame.items()}


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
    n = len(frame["year"])
    if not model.is_defined():
        return np.full(n, np.nan)
    cri = np.zeros(n)
    for component in model.components:
        levels = np.asarray(component.levels)[component.band_of(frame[component.column])]
        cri += component.weight * levels
    return cri


# Rows per call of the estimator: the design matrix of a chunk, not of every process, is held at once.
CHUNK = 100_000


def probability_of(model: RiskModel, frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the model's single-bid probability for every process (NaN where the process is not competitive)."""
    n = len(frame["year"])
    probability = np.full(n, np.nan)
    for start in range(0, n, CHUNK):
        part = {name: values[start : start + CHUNK] for name, values in frame.items() if name != "market_levels"}
        if "market_levels" in frame:
            part["market_levels"] = frame["market_levels"]
        design = np.column_stack([_design(model.components, part), model.controls.design(part)])
        probability[start : start + CHUNK] = model.estimator.predict_proba(design)[:, 1]
    return np.where(frame["is_competitive"], probability, np.nan)


def _json(value: Any) -> str | None:
    """Return JSON as the flag lists are written (compact, keys sorted), or None for nothing."""
    if not value:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _json_number(value: float) -> str:
    return json.dumps(value, allow_nan=False)


# out_process_scores columns copied from models.competition.processes.
PASSED_THROUGH = (
    "ocid",
    "year",
    "buyer_id",
    "procuring_entity_id",
    "supplier_id",
    "procurement_method",
    "market",
    "awarded_amount",
    "tenderer_count",
    "tenderer_count_source",
)


# Each flagged unit's flags (out_flags is sorted by indicator, unit and unit id): their count, their codes, and a JSON
# array of their entries in out_flags order. A buyer or supplier goes by its canonical id; the flags of the raw ids
# resolving to one come one raw id after another, in order of first appearance.
FLAG_LISTS_SQL = """
WITH keyed AS (
    SELECT f.*, coalesce(m.canonical_id, f.unit_id) AS key, min(f.row) OVER (PARTITION BY f.unit, f.unit_id) AS first
    FROM _semaforo_flags AS f
    LEFT JOIN _semaforo_canonical AS m ON f.unit IN ('buyer', 'tenderer') AND m.party_id = f.unit_id
)
SELECT unit, key AS unit_id, count(*) AS flag_count,
       string_agg(DISTINCT indicator, '|' ORDER BY indicator) AS flag_codes,
       '[' || string_agg(to_json({'explanation': explanation, 'fields': fields, 'indicator': indicator,
                                  'threshold': CASE WHEN isfinite(threshold) THEN threshold END,
                                  'value': CASE WHEN isfinite(value) THEN value END}), ',' ORDER BY first, row)
           || ']' AS flags
FROM keyed
GROUP BY unit, key
"""
FLAG_LISTS = pa.schema(
    [("unit_id", pa.string()), ("flag_count", pa.int64()), ("flag_codes", pa.string()), ("flags", pa.string())]
)


def _flag_lists(con: Any, flags: pa.Table | None) -> dict[str, pa.Table]:
    """Return, for processes, buyers and tenderers, each flagged unit's flags (:data:`FLAG_LISTS`), by unit."""
    if flags is None or flags.num_rows == 0:
        return {unit: FLAG_LISTS.empty_table() for unit in ("process", "buyer", "tenderer")}
    parties = flags.filter(pc.is_in(flags.column("unit"), pa.array(["buyer", "tenderer"])))
    canonical = _canonical(con, parties.column("unit_id").to_pylist())
    con.register("_semaforo_flags", flags.append_column("row", pa.array(np.arange(flags.num_rows))))
    mapping = pa.schema([("party_id", pa.string()), ("canonical_id", pa.string())])
    con.register("_semaforo_canonical", pa.table([list(canonical), list(canonical.values())], schema=mapping))
    try:
        listed = con.sql(FLAG_LISTS_SQL).to_arrow_table()
    finally:
        con.unregister("_semaforo_flags")
        con.unregister("_semaforo_canonical")
    return {
        unit: listed.filter(pc.equal(listed.column("unit"), unit)).select(FLAG_LISTS.names).cast(FLAG_LISTS)
        for unit in ("process", "buyer", "tenderer")
    }


def _components(model: RiskModel, frame: Mapping[str, np.ndarray]) -> pa.Array:
    """Return each process's components as JSON (what ``json.dumps`` writes), built per band, not per process."""
    n = len(frame["year"])
    if not model.is_defined():
        return pa.nulls(n, pa.string())
    parts = []
    for component in sorted(model.components, key=lambda c: c.name):
        values = frame[component.column]
        bands = component.band_of(values)
        heads = [
            f'{json.dumps(component.name, ensure_ascii=False)}: {{"band": '
            f'{json.dumps(component.describe_band(b), ensure_ascii=False)}, "contribution": '
            f'{_json_number(round(component.weight * component.levels[b], 6))}, "level": '
            f'{_json_number(round(component.levels[b], 6))}, "value": '
            for b in range(component.n_bands())
        ]
        tail = f', "weight": {_json_number(round(component.weight, 6))}}}'
        # Each distinct value is rounded and written once.
        known = ~np.isnan(values)
        distinct, inverse = np.unique(values[known], return_inverse=True)
        texts = np.full(n, "null", dtype=object)
        texts[known] = np.asarray([_json_number(round(float(v), 6)) for v in distinct.tolist()], dtype=object)[inverse]
        parts.append(
            pc.binary_join_element_wise(
                pa.array(np.asarray(heads, dtype=object)[bands], pa.string()), pa.array(texts, pa.string()), tail, ""
            )
        )
    joined = pc.binary_join_element_wise(*parts, ", ") if len(parts) > 1 else parts[0]
    return pc.binary_join_element_wise("{", joined, "}", "")


def scores(
    con: Any,
    model: RiskModel | None,
    *,
    currency: str,
    flags: pa.Table | None = None,
    processes: pa.Table | None = None,
) -> dict[str, pa.Table]:
    """Score every process of a connection's core tables; return the three score tables.

    ``flags`` is ``out_flags`` (every flagged process, buyer and supplier then lists its flags); ``processes`` is
    :func:`models.competition.processes` if already read. Without a model, or with one that kept no component, the
    CRI is undefined. Arrays throughout: Python loops run over flagged units only.
    """
    from models.competition import processes as read_processes

    digits = model.settings.market_digits if model is not None else MARKET_DIGITS
    rows = processes if processes is not None else read_processes(con, digits=digits, currency=currency)
    listed = _flag_lists(con, flags)
    out_processes = _process_scores(rows, model, currency, listed["process"])
    line = model.high_risk_line if model is not None else None
    return {
        "out_process_scores": out_processes,
        "out_buyer_scores": _aggregate(out_processes, "buyer_id", listed["buyer"], _buyer_names(con), line, currency),
        "out_supplier_scores": _aggregate(
            out_processes, "supplier_id", listed["tenderer"], _supplier_names(rows), line, currency
        ),
    }


def _process_scores(rows: pa.Table, model: RiskModel | None, currency: str, listed: pa.Table) -> pa.Table:
    """Return ``out_process_scores`` for :func:`models.competition.processes`' rows."""
    from transforms.tables import arrow_schema

    frame = frame_of(rows)
    n = rows.num_rows
    cri = index_of(model, frame) if model is not None else np.full(n, np.nan)
    probability = probability_of(model, frame) if model is not None else np.full(n, np.nan)
    counts = frame["tenderer_count"]
    competitive = frame["is_competitive"] & ~np.isnan(counts)
    at = pc.index_in(rows.column("ocid"), listed.column("unit_id"))  # each process's flags (null: none)
    columns = {
        **{name: rows.column(name) for name in PASSED_THROUGH},
        "awarded_currency": pa.repeat(pa.scalar(currency, pa.string()), n),
        "is_single_bid": pa.array(counts == 1, pa.bool_(), mask=~competitive),
        "single_bid_probability": pa.array(probability, pa.float64(), mask=np.isnan(probability)),
        "cri": pa.array(cri, pa.float64(), mask=np.isnan(cri)),
        "cri_status": pa.array(np.where(np.isnan(cri), "undefined", "calculated"), pa.string()),
        "cri_components": _components(model, frame) if model is not None else pa.nulls(n, pa.string()),
        "flag_count": pc.fill_null(listed.column("flag_count").take(at), 0),
        "flag_codes": listed.column("flag_codes").take(at),
        "flags": listed.column("flags").take(at),
        "model_id": pa.repeat(pa.scalar(model.model_id if model is not None else None, pa.string()), n),
    }
    schema = arrow_schema("out_process_scores")
    return pa.table([pc.cast(columns[f.name], f.type) for f in schema], schema=schema)


def score(
    tables: Mapping[str, pa.Table], model: RiskModel | None, *, currency: str | None = None
) -> dict[str, pa.Table]:
    """Score every process; return ``out_process_scores``, ``out_buyer_scores`` and ``out_supplier_scores``.

    ``tables`` holds the core tables, and optionally ``out_flags`` (every flagged process, buyer and supplier then
    lists its flags) and ``tenderer_counts`` (``models.competition.tenderer_counts``). Without a model, or with one
    that kept no component, the CRI is undefined.
    """
    from models.competition import connect, currency_of

    with connect(tables) as con:
        if tables.get("core_organization_map") is not None:
            con.register("core_organization_map", tables["core_organization_map"])
        return scores(con, model, currency=currency or currency_of(con), flags=tables.get("out_flags"))


def _canonical(con: Any, unit_ids: list[str]) -> dict[str, str]:
    """Return party id → canonical id (core_organization_map) of flagged units, so their flags reach the unit."""
    import duckdb

    if not unit_ids:
        return {}
    try:
        found = con.sql(
            "SELECT party_id, canonical_id FROM core_organization_map "
            "WHERE party_id IN (SELECT unnest($ids::VARCHAR[])) AND party_id <> '' AND canonical_id <> ''",
            params={"ids": sorted(set(unit_ids))},
        ).fetchall()
    except duckdb.CatalogException:  # no organization map: every unit is its own canonical id
        return {}
    return {party: canonical for party, canonical in found}


def _buyer_names(con: Any) -> dict[str, str]:
    """Return each buyer's name (canonical id, else the raw id): its first non-empty one in the table."""
    from models.competition import one_thread

    with one_thread(con):  # first() on one thread is the first in the table's order
        return dict(
            con.sql(
                "SELECT coalesce(buyer_canonical_id, buyer_id) AS buyer, first(buyer_name) "
                "FROM core_contracting_processes "
                "WHERE coalesce(buyer_canonical_id, buyer_id) <> '' AND buyer_name <> '' GROUP BY ALL"
            ).fetchall()
        )


def _supplier_names(rows: pa.Table) -> dict[str, str | None]:
    """Return each supplier's name: that of its last process (which may have none)."""

    suppliers = rows.column("supplier_id")
    present = np.flatnonzero(
        np.asarray(pc.fill_null(pc.not_equal(suppliers, ""), False).to_numpy(zero_copy_only=False))
    )
    codes, names = first_seen(suppliers.take(present))
    last = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(len(codes)))
    found = rows.column("supplier_name").take(present).take(last).to_pylist() if len(names) else []
    return dict(zip(names, found, strict=True))


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _aggregate(
    processes: pa.Table,
    key: str,
    unit_flags: pa.Table,
    names: Mapping[str, Any],
    line: float | None,
    currency: str,
) -> pa.Table:
    """Aggregate ``out_process_scores`` per (unit, year), with the flags raised on the unit itself.

    Every group at once: sums add in process order (bincount) or as NumPy's own mean, median and average would
    (``models.grouped``), so the numbers are those of a loop over groups.
    """
    from transforms.tables import arrow_schema

    table = "out_buyer_scores" if key == "buyer_id" else "out_supplier_scores"
    schema = arrow_schema(table)
    units, years = processes.column(key), processes.column("year")
    rows = np.flatnonzero(_mask(pc.and_(pc.is_valid(units), pc.is_valid(years))))
    if len(rows) == 0:
        return schema.empty_table()
    # Groups in (unit id, year) order; within a group, processes keep their order (the sort is stable).
    keyed = pa.table({"unit": units.take(rows), "year": years.take(rows), "row": pa.array(rows)})
    keyed = keyed.take(pc.sort_indices(keyed, [("unit", "ascending"), ("year", "ascending"), ("row", "ascending")]))
    rows = keyed.column("row").to_numpy()
    unit_code, year_code = first_seen(keyed.column("unit"))[0], keyed.column("year").to_numpy()
    new = np.concatenate([[True], (unit_code[1:] != unit_code[:-1]) | (year_code[1:] != year_code[:-1])])
    starts, group = np.flatnonzero(new), np.cumsum(new) - 1
    count = len(starts)
    single = processes.column("is_single_bid").take(rows)
    counted = np.bincount(group, weights=_mask(pc.is_valid(single)), minlength=count)
    awarded = np.nan_to_num(numbers(processes.column("awarded_amount").take(rows)), nan=0.0)
    cri = numbers(processes.column("cri").take(rows))
    scored = ~np.isnan(cri)
    values, amounts, members = cri[scored], awarded[scored], group[scored]
    scored_count = np.bincount(members, minlength=count)
    flag_count = processes.column("flag_count").take(rows).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.bincount(group, weights=_mask(single), minlength=count) / counted
        mean = pairwise_sums(values, members, count) / scored_count
        weight = pairwise_sums(amounts, members, count)
        value_weighted = np.where(weight > 0, pairwise_sums(values * amounts, members, count) / weight, np.nan)
        high = (
            np.bincount(members, weights=values >= line, minlength=count) / scored_count
            if line is not None
            else np.full(count, np.nan)
        )
    # Each group's flags per code (Python over flagged processes only) and the unit's own flags.
    tallies: dict[int, dict[str, int]] = {}
    flagged = np.flatnonzero(flag_count > 0)
    listed = processes.column("flag_codes").take(rows[flagged]).to_pylist()
    for g, codes in zip(group[flagged].tolist(), listed, strict=True):
        tally = tallies.setdefault(g, {})
        for code in codes.split("|"):
            tally[code] = tally.get(code, 0) + 1
    unit_ids = keyed.column("unit").take(starts).to_pylist()
    own = pc.index_in(keyed.column("unit").take(starts), unit_flags.column("unit_id"))  # the unit's own flags

    def nullable(array: np.ndarray) -> pa.Array:
        return pa.array(array, pa.float64(), mask=np.isnan(array))

    columns: dict[str, Any] = {
        key: keyed.column("unit").take(starts),
        "year": keyed.column("year").take(starts),
        "buyer_name" if key == "buyer_id" else "supplier_name": pa.array(
            [names.get(u) for u in unit_ids], pa.string()
        ),
        "process_count": pa.array(np.bincount(group, minlength=count), pa.int64()),
        "awarded_amount": pa.array(np.bincount(group, weights=awarded, minlength=count), pa.float64()),
        "awarded_currency": pa.repeat(pa.scalar(currency, pa.string()), count),
        "single_bid_share": nullable(share),
        "scored_process_count": pa.array(scored_count, pa.int64()),
        "cri_mean": nullable(mean),
        "cri_median": nullable(medians(values, members, count)),
        "cri_value_weighted": nullable(value_weighted),
        "high_risk_share": nullable(high),
        "flagged_process_count": pa.array(np.bincount(group, weights=flag_count > 0, minlength=count), pa.int64()),
        "process_flag_counts": pa.array(
            [_json(dict(sorted(tallies[g].items()))) if g in tallies else None for g in range(count)], pa.string()
        ),
        "flag_codes": unit_flags.column("flag_codes").take(own),
        "flags": unit_flags.column("flags").take(own),
        "model_id": processes.column("model_id").take(rows[starts]),
    }
    if key == "supplier_id":
        # Distinct non-empty buyers per group: count distinct (group, buyer) pairs.
        buyers = processes.column("buyer_id").take(rows)
        present = _mask(pc.not_equal(buyers, ""))
        pairs = np.unique(group[present] * (len(rows) + 1) + first_seen(pc.fill_null(buyers, ""))[0][present])
        columns["buyer_count"] = pa.array(np.bincount(pairs // (len(rows) + 1), minlength=count), pa.int64())
    return pa.table([pc.cast(columns[f.name], f.type) for f in schema], schema=schema)


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

"""The indicator registry: each indicator is one module with a code, a doc section and golden fixtures.

Every indicator shares one interface: ``compute(context, options) -> Outcome``. The :class:`Context` holds *all*
compiled releases that pass Cardinal's global rules (REFERENCE §6.1), so an indicator can work per process or make
a pass over every process first (fences over all processes, ratios per buyer or tenderer). An :class:`Outcome`
holds results in Cardinal's groups (OCID, Buyer, ProcuringEntity, Tenderer) and the indicator's Meta (quartiles and
fences). :func:`run` runs the selected indicators; :func:`run_all` turns the results into ``out_flags`` rows;
``models.indicators.cardinal`` reads Cardinal's INI settings and writes Cardinal's JSON shape.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeGuard

from models.indicators.settings import IndicatorSettings, IndicatorSettingsError

Flag = dict[str, Any]
Release = dict[str, Any]

# Cardinal's groups, in its output order, and the out_flags unit each one becomes.
GROUPS = ("OCID", "Buyer", "ProcuringEntity", "Tenderer")
UNITS = {"OCID": "process", "Buyer": "buyer", "ProcuringEntity": "procuring_entity", "Tenderer": "tenderer"}
# A market (classification prefix and year) has no Cardinal group: R051 flags it here, and Cardinal's JSON shape, which
# knows only GROUPS, leaves it out.
UNITS["Market"] = "market"
# The indicator modules, in Cardinal's order; importing one registers its indicator.
MODULES: tuple[str, ...] = ("r003", "r018", "r024", "r025", "r028", "r030", "r035", "r036", "r038", "r048", "r058")
# Indicators Cardinal lacks (REFERENCE §6.1 "Cardinal has no indicators for"): OCP 2024 flags after the award, on
# competition and concentration, plus Semáforo's own S codes (no OCP code exists for them).
MODULES += (
    "r011",
    "r013",
    "r040",
    "r049",
    "r050",
    "r051",
    "r054",
    "r055",
    "r057",
    "r059",
    "r060",
    "r061",
    "r062",
    "r064",
    "r068",
    "r069",
    "s001",
    "s002",
)


# -- results ---------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """One flagged unit: its Cardinal group and key, the value, what it was compared with, and why."""

    group: str
    key: str
    value: float
    threshold: float | None
    explanation: str
    ocids: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What one indicator found: flagged units keyed by (group, key), and its Meta (quartiles, fences)."""

    results: dict[tuple[str, str], Result] = field(default_factory=dict)
    meta: dict[str, float] = field(default_factory=dict)

    def flag(
        self,
        group: str,
        key: str,
        value: float,
        *,
        threshold: float | None,
        explanation: str,
        ocid: str | None = None,
    ) -> None:
        """Record a flagged unit; a unit flagged again keeps one result, like Cardinal's map of results."""
        result = self.results.get((group, key))
        if result is None:
            result = self.results[group, key] = Result(group, key, float(value), threshold, explanation)
        else:
            result.value = float(value)
        if ocid is not None and ocid not in result.ocids:
            result.ocids.append(ocid)


@dataclass
class Report:
    """The outcome of every indicator that ran, by code, in registry order, and the main currency used."""

    outcomes: dict[str, Outcome]
    currency: str | None = None


# -- the shared run context ----------------------------------------------------------------------------------
@dataclass
class Context:
    """What every indicator of one run shares: the processes passing the global rules, and the global settings."""

    releases: list[Release]
    settings: IndicatorSettings
    currency: str | None = None
    memo: dict[str, Any] = field(default_factory=dict)

    def price_compared(self, release: Release) -> bool:
        """Return whether the process's bid prices may be compared (R024, R028, R036, R058)."""
        return matches_details(
            release,
            self.settings.price_comparison_procurement_methods,
            self.settings.no_price_comparison_procurement_methods,
        )

    def once(self, key: str, compute: Callable[[Context], Any]) -> Any:
        """Compute a value shared by several indicators (e.g. R024 and R058's bid ratios) once per run."""
        if key not in self.memo:
            self.memo[key] = compute(self)
        return self.memo[key]

    # Several indicators read the same views of each process; computing them once per run halves the time
    # (the lookups are memory-bound on large runs). Each list is parallel to ``releases``.
    def price_comparisons(self) -> list[bool]:
        """Return whether each process's prices may be compared."""
        flags: list[bool] = self.once("price_compared", lambda c: [c.price_compared(r) for r in c.releases])
        return flags

    def submitted(self) -> list[list[dict[str, Any]]]:
        """Return the submitted bids of each process."""
        bids: list[list[dict[str, Any]]] = self.once("submitted", lambda c: [submitted_bids(r) for r in c.releases])
        return bids

    def finals(self) -> list[tuple[list[dict[str, Any]], list[Any]] | None]:
        """Return (active awards, bid details) of each process whose awards are final, else None."""
        finals: list[tuple[list[dict[str, Any]], list[Any]] | None] = self.once(
            "final_awards", lambda c: [final_awards(r) for r in c.releases]
        )
        return finals


# -- the registry ----------------------------------------------------------------------------------------------
Compute = Callable[[Context, dict[str, Any]], Outcome]
CurrencyObserver = Callable[[Context, Release], str | None]


@dataclass(frozen=True)
class Indicator:
    """A red-flag indicator: what it is, where it reads, how it decides, and its configurable thresholds."""

    code: str
    name: str
    stage: str
    fields: tuple[str, ...]
    formula: str
    compute: Compute
    defaults: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    # Option name → parser (models.indicators.settings); an option not listed here is an error.
    options: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Indicators comparing money take part in choosing the main currency: (Cardinal's fold position, observer).
    currency_observer: tuple[int, CurrencyObserver] | None = None

    def configure(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate and parse options; return them merged over the defaults."""
        parsed = dict(self.defaults)
        for name, value in (options or {}).items():
            if name not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                raise IndicatorSettingsError(f"[{self.code}] has no option {name!r} (options: {known})")
            try:
                parsed[name] = self.options[name](value)
            except IndicatorSettingsError as exc:
                raise IndicatorSettingsError(f"[{self.code}] {name}: {exc}") from None
        return parsed

    def run(self, context: Context, options: Mapping[str, Any] | None = None) -> Outcome:
        """Compute the indicator over the run's processes."""
        return self.compute(context, self.configure(options))


REGISTRY: dict[str, Indicator] = {}


def register(indicator: Indicator) -> Indicator:
    """Add an indicator to the registry (codes are unique)."""
    if indicator.code in REGISTRY:
        raise ValueError(f"indicator {indicator.code} registered twice")
    REGISTRY[indicator.code] = indicator
    return indicator


def registry() -> dict[str, Indicator]:
    """Return every indicator by code, importing the indicator modules on first use."""
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return {code: REGISTRY[code] for code in sorted(REGISTRY)}


# -- OCDS accessors with Cardinal's tolerance of odd data --------------------------------------------------------
# Cardinal reads JSON values defensively: a field of the wrong type counts as missing. These helpers do the same, so
# one malformed bid or award never raises; it is simply not counted.


def is_number(value: Any) -> TypeGuard[int | float]:
    """Return whether a JSON value is a number (booleans are not)."""
    return type(value) is int or type(value) is float


def matches_details(release: Release, include: frozenset[str], exclude: frozenset[str]) -> bool:
    """Match ``tender/procurementMethodDetails`` against an allow list (if non-empty) or else a deny list."""
    tender = release.get("tender")
    details = tender.get("procurementMethodDetails") if isinstance(tender, dict) else None
    if isinstance(details, str):
        return details in include if include else details not in exclude
    # Without details a process passes a deny list but never an allow list.
    return not include


def skip_process(release: Any, exclusions: frozenset[str] = frozenset()) -> bool:
    """Apply Cardinal's global exclusions: non-string ocid, cancelled tender, excluded procurementMethodDetails."""
    if not isinstance(release, dict) or not isinstance(release.get("ocid"), str):
        return True
    tender = release.get("tender")
    if not isinstance(tender, dict):
        return False
    details = tender.get("procurementMethodDetails")
    return tender.get("status") == "cancelled" or (isinstance(details, str) and details in exclusions)


def bid_details(release: Release) -> list[Any] | None:
    """Return ``bids/details`` if it is an array."""
    bids = release.get("bids")
    details = bids.get("details") if isinstance(bids, dict) else None
    return details if isinstance(details, list) else None


def submitted_bids(release: Release) -> list[dict[str, Any]]:
    """Return bids with a string status other than ``invited`` or ``withdrawn`` (pending, valid, disqualified …)."""
    return [
        bid
        for bid in bid_details(release) or ()
        if isinstance(bid, dict)
        and isinstance(bid.get("status"), str)
        and bid["status"] not in ("invited", "withdrawn")
    ]


def final_awards(release: Release) -> tuple[list[dict[str, Any]], list[Any]] | None:
    """Return (active awards, bid details) if awards and bids are arrays and every award status is final.

    An award with a string status other than ``active``, ``cancelled`` or ``unsuccessful`` (e.g. ``pending``) drops
    the process, so results do not change when the award is decided; awards without a string status are ignored.
    """
    awards = release.get("awards")
    details = bid_details(release)
    if not isinstance(awards, list) or details is None:
        return None
    active = []
    for award in awards:
        status = award.get("status") if isinstance(award, dict) else None
        if isinstance(status, str):
            if status == "active":
                active.append(award)
            elif status not in ("cancelled", "unsuccessful"):
                return None
    return active, details


def organization_ids(organizations: Any) -> list[str]:
    """Return the string ``id`` of each organization reference in an array (others are skipped)."""
    if not isinstance(organizations, list):
        return []
    return [o["id"] for o in organizations if isinstance(o, dict) and isinstance(o.get("id"), str)]


def sole_id(organizations: Any) -> str | None:
    """Return the string ``id`` of the only organization in an array of exactly one."""
    if isinstance(organizations, list) and len(organizations) == 1:
        organization = organizations[0]
        if isinstance(organization, dict) and isinstance(organization.get("id"), str):
            return str(organization["id"])
    return None


def amount_and_currency(bid: dict[str, Any]) -> tuple[float, str] | None:
    """Return a bid's ``value`` as (amount, currency) if the amount is a number and the currency a string."""
    value = bid.get("value")
    if isinstance(value, dict):
        amount, currency = value.get("amount"), value.get("currency")
        if is_number(amount) and isinstance(currency, str):
            return float(amount), currency
    return None


def sole_active_supplier(active: list[dict[str, Any]]) -> str | None:
    """Return the supplier id if there is exactly one active award with exactly one supplier (R024, R025, R058)."""
    # One active award: all bids compete for all items. Several would need lots to know which bids compete.
    return sole_id(active[0].get("suppliers")) if len(active) == 1 else None


# -- statistics, exactly as Cardinal computes them ---------------------------------------------------------------
def quantile(values: Sequence[float], tau: float) -> float:
    """Return the Hyndman–Fan type 8 (median-unbiased) quantile of *sorted* values, as statrs 0.16 (NaN if none)."""
    n = len(values)
    if tau < 0.0 or tau > 1.0 or n == 0:
        return math.nan
    h = (n + 1.0 / 3.0) * tau + 1.0 / 3.0
    hf = int(h)  # truncation toward zero, like Rust's `as i64`
    if hf <= 0 or tau == 0.0:
        return values[0]
    if hf >= n or tau == 1.0:
        return values[-1]
    a, b = values[hf - 1], values[hf]
    return a + (h - hf) * (b - a)


def quartiles(values: Iterable[float]) -> tuple[float, float]:
    """Return Q1 and Q3 (type 8) of the values."""
    ordered = sorted(values)
    return quantile(ordered, 0.25), quantile(ordered, 0.75)


def fused(a: float, b: float, c: float) -> float:
    """Return ``a * b + c`` rounded once, as Rust's ``mul_add`` (Cardinal computes fences with it)."""
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def lower_fence(q1: float, q3: float) -> float:
    """Return Q1 − 1.5·IQR."""
    return fused(q3 - q1, -1.5, q1)


def upper_fence(q1: float, q3: float) -> float:
    """Return Q3 + 1.5·IQR."""
    return fused(q3 - q1, 1.5, q3)


def round4(value: float) -> float | None:
    """Round to 4 decimals, halves away from zero (Rust's ``round``); NaN and infinities become None (JSON null)."""
    if not math.isfinite(value):
        return None
    scaled = value * 10_000.0
    whole = math.trunc(scaled)
    if abs(scaled - whole) >= 0.5:
        whole += 1 if scaled > 0 else -1
    return whole / 10_000.0


def fmt(value: float | None) -> str:
    """Format a number for an explanation (up to 4 decimals, no trailing zeros)."""
    if value is None or not math.isfinite(value):
        return "undefined"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def pct(ratio: float | None) -> str:
    """Format a ratio as a percentage for an explanation (0.0123 → 1.23%)."""
    return "undefined" if ratio is None or not math.isfinite(ratio) else f"{fmt(ratio * 100)}%"


# -- running ---------------------------------------------------------------------------------------------------
def selected(settings: IndicatorSettings) -> list[tuple[Indicator, Mapping[str, Any]]]:
    """Return the indicators a run computes, with their options: all of them if ``settings.indicators`` is None."""
    indicators = registry()
    if settings.indicators is None:
        return [(indicator, {}) for indicator in indicators.values()]
    unknown = sorted(set(settings.indicators) - set(indicators))
    if unknown:
        raise IndicatorSettingsError(f"unknown indicator(s) {', '.join(unknown)}; known: {', '.join(indicators)}")
    return [(indicators[code], settings.indicators[code]) for code in indicators if code in settings.indicators]


def main_currency(releases: Iterable[Release], context: Context, indicators: Iterable[Indicator]) -> str | None:
    """Return the first currency the money-comparing indicators of a run observe, in Cardinal's order."""
    observers: list[tuple[int, CurrencyObserver]] = []
    for indicator in indicators:
        if indicator.currency_observer is not None and indicator.currency_observer not in observers:
            observers.append(indicator.currency_observer)
    # Cardinal folds each process through its indicators in turn, so "first" is per process, then fold position.
    observers.sort(key=lambda pair: pair[0])
    if not observers:
        return None
    for release in releases:
        for _, observe in observers:
            currency = observe(context, release)
            if currency is not None:
                return currency
    return None


def run(compiled: Iterable[Any], settings: IndicatorSettings | None = None) -> Report:
    """Run the selected indicators over compiled releases with Cardinal's global rules; return their outcomes."""
    settings = settings or IndicatorSettings()
    chosen = selected(settings)
    releases = [release for release in compiled if not skip_process(release, settings.exclusions)]
    context = Context(releases, settings)
    context.currency = settings.currency or main_currency(releases, context, (i for i, _ in chosen))
    outcomes = {indicator.code: indicator.run(context, options) for indicator, options in chosen}
    return Report(outcomes, context.currency)


def _as_settings(settings: IndicatorSettings | Mapping[str, Mapping[str, Any]] | None) -> IndicatorSettings:
    if settings is None or isinstance(settings, IndicatorSettings):
        return settings or IndicatorSettings()
    # A plain mapping of code → options (the older interface) runs every indicator, overriding those options.
    return IndicatorSettings(indicators={code: settings.get(code) or {} for code in registry()})


def run_all(
    compiled: Iterable[Any], settings: IndicatorSettings | Mapping[str, Mapping[str, Any]] | None = None
) -> list[Flag]:
    """Run the indicators over compiled releases; return one ``out_flags`` row per flagged unit and indicator."""
    report = run(compiled, _as_settings(settings))
    rows: list[Flag] = []
    for code, outcome in report.outcomes.items():
        fields = ", ".join(REGISTRY[code].fields)
        for result in outcome.results.values():
            explanation = result.explanation
            if len(result.ocids) > 1:
                explanation += f" (in {len(result.ocids)} processes)"
            rows.append(
                {
                    "indicator": code,
                    "unit": UNITS[result.group],
                    "unit_id": result.key,
                    "ocid": result.key if result.group == "OCID" else (result.ocids[0] if result.ocids else None),
                    "value": result.value,
                    "threshold": result.threshold,
                    "explanation": explanation,
                    "fields": fields,
                }
            )
    return rows

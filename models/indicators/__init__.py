"""The indicator registry: each indicator is one module with a code, a doc section and golden fixtures.

Every indicator works in two halves (``models.indicators.observations`` runs the first):

- OBSERVE: one streaming pass over compiled releases extracts, per process, the small facts the indicator needs into
  typed Arrow observation tables (``obs_*``). A row is a pure function of one release, never of settings, so the
  pipeline observes only the processes that changed and keeps the rest.
- DECIDE: ``decide(observed, options) -> Outcome`` reads the observation tables through DuckDB (:class:`Observed`),
  applies the settings (Cardinal's global rules of REFERENCE §6.1, the main currency, the indicator's options) and
  computes fences over all processes with arrays; Python loops run only over flagged units, to word explanations.

An :class:`Outcome` holds results in Cardinal's groups (OCID, Buyer, ProcuringEntity, Tenderer) and the indicator's
Meta (quartiles and fences). :func:`decide` runs the selected indicators over observations; :func:`run` observes
compiled releases and decides; :func:`run_all` turns the results into ``out_flags`` rows;
``models.indicators.cardinal`` reads Cardinal's INI settings and writes Cardinal's JSON shape.

Processes are taken in ocid order (as the pipeline stores them) or, for :func:`run`, in the order given: Cardinal's
"first currency observed" and the first process of a flagged buyer or tenderer depend on it.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeGuard

import numpy as np
import pyarrow as pa

from models.indicators.settings import IndicatorSettings, IndicatorSettingsError
from transforms.errors import SemaforoError

Flag = dict[str, Any]
Release = dict[str, Any]
LOG = logging.getLogger(__name__)

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


class IndicatorError(SemaforoError):
    """The indicators cannot run on these observations (e.g. an ocid observed twice)."""


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
    # The ocids as a set, so that adding one to a unit flagged in many processes is not a scan of the list.
    listed: set[str] = field(default_factory=set, repr=False, compare=False)


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
        if ocid is not None and ocid not in result.listed:
            result.listed.add(ocid)
            result.ocids.append(ocid)


@dataclass
class Report:
    """The outcome of every indicator that ran, by code, in registry order, and the main currency used."""

    outcomes: dict[str, Outcome]
    currency: str | None = None


# -- the shared decide context -------------------------------------------------------------------------------
# The processes a run decides on: obs_processes without the excluded ones, each with its rank (the run's process
# order) and whether its prices may be compared. A temporary table of the run's DuckDB connection.
PROCESSES = "_semaforo_decide_processes"
ORDER = "_semaforo_decide_order"
PREPARE_SQL = """
CREATE OR REPLACE TEMP TABLE {processes} AS
SELECT p.*, o.rank,
       CASE WHEN len($include::VARCHAR[]) > 0 THEN coalesce(list_contains($include::VARCHAR[], p.details), false)
            ELSE p.details IS NULL OR NOT list_contains($exclude::VARCHAR[], p.details) END AS compared
FROM obs_processes AS p
JOIN {order} AS o USING (ocid)
WHERE p.details IS NULL OR NOT list_contains($exclusions::VARCHAR[], p.details)
"""
BY_OCID = "(SELECT ocid, row_number() OVER (ORDER BY ocid) AS rank FROM obs_processes)"
TWICE_SQL = "SELECT ocid, count(*) AS n FROM obs_processes GROUP BY ocid HAVING count(*) > 1 ORDER BY ocid LIMIT 1"


@dataclass
class Observed:
    """What every indicator of one run shares: the DuckDB connection with the observations, settings, currency."""

    con: Any  # duckdb.DuckDBPyConnection with a relation per observation table and the run's processes
    settings: IndicatorSettings
    currency: str | None = None
    memo: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, compute: Callable[[Observed], Any]) -> Any:
        """Compute a value shared by several indicators (e.g. R024 and R058's bid gaps) once per run."""
        if key not in self.memo:
            self.memo[key] = compute(self)
        return self.memo[key]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a query of an indicator (``{processes}`` names the run's processes); return it as Arrow."""
        return self.con.sql(sql.format(processes=PROCESSES), params=dict(params or {})).to_arrow_table()

    def processes(self, columns: str) -> pa.Table:
        """Return columns of the run's processes (obs_processes and ``rank``, ``compared``), in the run's order."""
        return self.query(f"SELECT rank, {columns} FROM {{processes}} ORDER BY rank")

    def joined(
        self,
        table: str,
        columns: str,
        *,
        where: str = "",
        positioned: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        """Return an observation table's rows for the run's processes, in process order (then their position)."""
        order = "p.rank, o.position" if positioned else "p.rank"
        condition = f"WHERE {where}" if where else ""
        return self.query(
            f"SELECT p.rank, p.ocid, {columns} FROM {table} AS o JOIN {{processes}} AS p USING (ocid) "
            f"{condition} ORDER BY {order}",
            params,
        )


def first_row(con: Any, sql: str, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
    """Return a query's first row, or None (the whole result is read, so the connection is free again)."""
    rows = con.sql(sql, params=dict(params or {})).fetchall()
    return tuple(rows[0]) if rows else None


# Indicators whose every decision but the global rules is per process observe the flags a process raises, in order:
# (position, group, unit id, explanation). Replaying them in process order rebuilds the outcome.
FLAG_CALLS: tuple[tuple[str, pa.DataType], ...] = (
    ("position", pa.int32()),
    ("group", pa.string()),
    ("unit_id", pa.string()),
    ("explanation", pa.string()),
)
FLAG_CALL_COLUMNS = "o.group, o.unit_id, o.explanation"


def replay(outcome: Outcome, calls: Iterable[dict[str, Any]], value: float) -> None:
    """Raise observed flags in order: a process unit as itself, any other unit naming the process."""
    for call in calls:
        group = call["group"]
        outcome.flag(
            group,
            call["unit_id"],
            value,
            threshold=None,
            explanation=call["explanation"],
            ocid=None if group == "OCID" else call["ocid"],
        )


# -- the registry ----------------------------------------------------------------------------------------------
Decide = Callable[[Observed, dict[str, Any]], Outcome]


@dataclass(frozen=True)
class Indicator:
    """A red-flag indicator: what it is, where it reads, how it decides, and its configurable thresholds."""

    code: str
    name: str
    stage: str
    fields: tuple[str, ...]
    formula: str
    decide: Decide
    # The observation tables it reads besides obs_processes (models.indicators.observations).
    observes: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    # Option name → parser (models.indicators.settings); an option not listed here is an error.
    options: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Indicators comparing bid prices take part in choosing the main currency: (Cardinal's fold position, the
    # obs_processes column holding the first currency it would see in a process whose prices may be compared).
    currency_observer: tuple[int, str] | None = None

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

    def run(self, observed: Observed, options: Mapping[str, Any] | None = None) -> Outcome:
        """Decide the indicator over the run's observations."""
        return self.decide(observed, self.configure(options))


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
def quantile(values: Sequence[float] | np.ndarray, tau: float) -> float:
    """Return the Hyndman–Fan type 8 (median-unbiased) quantile of *sorted* values, as statrs 0.16 (NaN if none)."""
    n = len(values)
    if tau < 0.0 or tau > 1.0 or n == 0:
        return math.nan
    h = (n + 1.0 / 3.0) * tau + 1.0 / 3.0
    hf = int(h)  # truncation toward zero, like Rust's `as i64`
    if hf <= 0 or tau == 0.0:
        return float(values[0])
    if hf >= n or tau == 1.0:
        return float(values[-1])
    a, b = float(values[hf - 1]), float(values[hf])
    return a + (h - hf) * (b - a)


def ascending(values: Iterable[float] | np.ndarray) -> Sequence[float] | np.ndarray:
    """Sort values exactly as Python's ``sorted`` would: a stable array sort, or ``sorted`` itself around NaN."""
    array = values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=float)
    if np.isnan(array).any():
        # NaN compares false both ways, so where it lands depends on the input order and timsort's own steps.
        return sorted(array.tolist())
    return np.sort(array, kind="stable")


def quartiles(values: Iterable[float] | np.ndarray) -> tuple[float, float]:
    """Return Q1 and Q3 (type 8) of the values."""
    ordered = ascending(values)
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


def main_currency(observed: Observed, indicators: Iterable[Indicator]) -> str | None:
    """Return the first currency the bid-comparing indicators of a run observe, in Cardinal's order."""
    observers: list[tuple[int, str]] = []
    for indicator in indicators:
        if indicator.currency_observer is not None and indicator.currency_observer not in observers:
            observers.append(indicator.currency_observer)
    # Cardinal folds each process through its indicators in turn, so "first" is per process, then fold position.
    observers.sort()
    if not observers:
        return None
    # Only processes whose prices may be compared are looked at by these indicators.
    columns = ", ".join(column for _, column in observers)
    row = first_row(
        observed.con,
        f"SELECT coalesce({columns}) AS currency FROM {PROCESSES} WHERE compared AND coalesce({columns}) IS NOT NULL "
        "ORDER BY rank LIMIT 1",
    )
    return str(row[0]) if row else None


def decide(con: Any, settings: IndicatorSettings | None = None, *, order: pa.Array | None = None) -> Report:
    """Decide the selected indicators over the observation tables of a DuckDB connection; return their outcomes.

    Processes are taken in ocid order, or in ``order`` (their ocids, e.g. as read from a file) when it is given.
    """
    settings = settings or IndicatorSettings()
    chosen = selected(settings)
    twice = first_row(con, TWICE_SQL)
    if twice is not None:
        raise IndicatorError(
            f"ocid {twice[0]!r} is observed {twice[1]} times: the indicators read one compiled release per process"
        )
    relation = BY_OCID
    if order is not None:
        con.register(ORDER, pa.table({"ocid": order, "rank": pa.array(range(len(order)), pa.int64())}))
        relation = ORDER
    params = {
        "include": sorted(settings.price_comparison_procurement_methods),
        "exclude": sorted(settings.no_price_comparison_procurement_methods),
        "exclusions": sorted(settings.exclusions),
    }
    try:
        con.execute(PREPARE_SQL.format(processes=PROCESSES, order=relation), params)
        observed = Observed(con, settings)
        observed.currency = settings.currency or main_currency(observed, (i for i, _ in chosen))
        outcomes = {}
        for indicator, options in chosen:
            outcomes[indicator.code] = indicator.run(observed, options)
            LOG.info("%s: %d flagged units", indicator.code, len(outcomes[indicator.code].results))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PROCESSES}")
        if order is not None:
            con.unregister(ORDER)
    return Report(outcomes, observed.currency)


def run(compiled: Iterable[Any], settings: IndicatorSettings | None = None) -> Report:
    """Observe compiled releases and decide the selected indicators with Cardinal's global rules, in input order."""
    from models.indicators.observations import observe
    from transforms.store import quiet_connect

    tables = observe(compiled)
    with quiet_connect() as con:
        for name, table in tables.items():
            con.register(name, table)
        return decide(con, settings, order=tables["obs_processes"].column("ocid"))


def _as_settings(settings: IndicatorSettings | Mapping[str, Mapping[str, Any]] | None) -> IndicatorSettings:
    if settings is None or isinstance(settings, IndicatorSettings):
        return settings or IndicatorSettings()
    # A plain mapping of code → options (the older interface) runs every indicator, overriding those options.
    return IndicatorSettings(indicators={code: settings.get(code) or {} for code in registry()})


def flag_rows(report: Report) -> list[Flag]:
    """Return one ``out_flags`` row per flagged unit and indicator of a report, in the report's order."""
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


def run_all(
    compiled: Iterable[Any], settings: IndicatorSettings | Mapping[str, Mapping[str, Any]] | None = None
) -> list[Flag]:
    """Run the indicators over compiled releases; return one ``out_flags`` row per flagged unit and indicator."""
    return flag_rows(run(compiled, _as_settings(settings)))

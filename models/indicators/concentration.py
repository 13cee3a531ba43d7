"""Shared readers for competition and concentration indicators (R011–R057, S002): not an indicator.

Configuration shared by several indicators lives here once, each value with its reason and source:

- **Direct-award thresholds** (R011, R049, R054, R055): the PEF's yearly maximum for one direct award under LAASSP
  art. 42, imported from :data:`transforms.sources.catalog.DIRECT_AWARD_THRESHOLDS` (not copied). That table is
  *illustrative and unconfirmed* and holds the largest budget band of the decree's annex; replace it through the
  indicators' ``thresholds`` option before scoring real data. A year the table lacks takes the nearest listed year's
  figure, as the catalogue does.
- **Markets**: the first ``MARKET_DIGITS`` characters of a CUCOP classification id. CUCOP keys start with the
  object-of-expenditure partida, so three digits give the partida genérica (253 medicines, 338 security services),
  which groups goods bought from the same kind of firm.
- **Tenderer count** (single bidding, REFERENCE §6.5): ``tender/numberOfTenderers``; else the distinct
  ``tender/tenderers/id``; else the distinct ``bids/details/tenderers/id`` of submitted bids.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from models.indicators import (
    PROCESSES,
    Observed,
    Outcome,
    Release,
    first_row,
    is_number,
    organization_ids,
    quartiles,
    submitted_bids,
    upper_fence,
)
from models.indicators.postaward import moment, objects
from models.indicators.settings import IndicatorSettingsError, decimal
from transforms.sources.catalog import DIRECT_AWARD_THRESHOLDS

MARKET_DIGITS = 3
NON_COMPETITIVE = frozenset({"direct", "limited"})
COMPETITIVE = frozenset({"open", "selective", "limited"})
THRESHOLDS_REASON = (
    "PEF direct-award maximum per year (LAASSP art. 42), from transforms.sources.catalog — illustrative and "
    "unconfirmed: set the decree's figures before scoring real data"
)


# -- configuration -------------------------------------------------------------------------------------------
def amounts_by_year(value: Any) -> dict[int, float]:
    """Parse a mapping of year → amount (an INI section ``[R011.thresholds]`` with ``2025 = 730000``)."""
    if not isinstance(value, Mapping):
        raise IndicatorSettingsError(f"{value!r} is not a mapping of years to amounts")
    parsed: dict[int, float] = {}
    for year, amount in value.items():
        try:
            key, number = int(str(year).strip()), float(str(amount).strip())
        except ValueError:
            raise IndicatorSettingsError(f"{year!r} = {amount!r} is not a year and an amount") from None
        if not math.isfinite(number) or number <= 0:
            raise IndicatorSettingsError(f"{year}: {amount!r} is not a positive amount")
        parsed[key] = number
    if not parsed:
        raise IndicatorSettingsError("no year is given a threshold")
    return parsed


def default_thresholds() -> dict[int, float]:
    """Return the catalogue's direct-award thresholds by year (a copy, so an option never edits the catalogue)."""
    return dict(DIRECT_AWARD_THRESHOLDS)


def threshold_for(thresholds: Mapping[int, float], year: int) -> float:
    """Return a year's threshold; a year not listed takes the nearest listed year's (the catalogue's rule)."""
    if year in thresholds:
        return thresholds[year]
    nearest = min(thresholds, key=lambda known: (abs(known - year), known))
    return thresholds[nearest]


def share(value: Any) -> float:
    """Parse a share between 0 and 1 (``0.4``)."""
    if isinstance(value, bool):
        raise IndicatorSettingsError(f"{value!r} is not a share")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise IndicatorSettingsError(f"{value!r} is not a share between 0 and 1") from None
    if not 0.0 <= number <= 1.0:
        raise IndicatorSettingsError(f"{value!r} is not a share between 0 and 1")
    return number


def decimal_or_fence(value: Any) -> float | None:
    """Parse a fixed threshold, or ``fence`` (also None or an empty value) to compare with the computed fence."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "fence")):
        return None
    return decimal(value)


def share_or_fence(value: Any) -> float | None:
    """Parse a fixed share between 0 and 1, or ``fence`` (also None or an empty value) for the computed fence."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "fence")):
        return None
    return share(value)


# -- processes -------------------------------------------------------------------------------------------------
def process_moment(release: Release) -> dt.datetime | None:
    """Return when a process started: tender start, else the first award date, else a contract's signature.

    The order is :func:`transforms.tables.process_year`'s, so a flag's year is the year of the process's table rows
    (that module is not imported here: it pulls DuckDB and Arrow into every indicator run).
    """
    tender = release.get("tender")
    period = tender.get("tenderPeriod") if isinstance(tender, dict) else None
    candidates = [period.get("startDate") if isinstance(period, dict) else None]
    candidates += [award.get("date") for award in objects(release.get("awards"))]
    candidates += [contract.get("dateSigned") for contract in objects(release.get("contracts"))]
    candidates.append(release.get("date"))
    for candidate in candidates:
        when = moment(candidate)
        if when is not None:
            return when
    return None


def process_year(release: Release) -> int | None:
    """Return the year a process started (UTC, as the tables partition it), or None without any date."""
    when = process_moment(release)
    return when.astimezone(dt.UTC).year if when is not None else None


def buyer_id(release: Release) -> str | None:
    """Return ``buyer/id`` if it is a string."""
    buyer = release.get("buyer")
    value = buyer.get("id") if isinstance(buyer, dict) else None
    return value if isinstance(value, str) else None


def procuring_entity_id(release: Release) -> str | None:
    """Return ``tender/procuringEntity/id`` if it is a string."""
    tender = release.get("tender")
    entity = tender.get("procuringEntity") if isinstance(tender, dict) else None
    value = entity.get("id") if isinstance(entity, dict) else None
    return value if isinstance(value, str) else None


def classification(release: Release) -> tuple[str, str] | None:
    """Return (scheme, id) of the first classified item: ``tender/items``, else ``awards/items``."""
    tender = release.get("tender")
    found = _first_classified(objects(tender.get("items")) if isinstance(tender, dict) else [])
    for award in objects(release.get("awards")) if found is None else ():
        found = _first_classified(objects(award.get("items")))
        if found is not None:
            break
    return found


def _first_classified(items: list[dict[str, Any]]) -> tuple[str, str] | None:
    for item in items:
        found = item.get("classification")
        if isinstance(found, dict) and isinstance(found.get("id"), str) and found["id"]:
            scheme = found.get("scheme")
            return (scheme if isinstance(scheme, str) else "", found["id"])
    return None


def market(release: Release, digits: int = MARKET_DIGITS) -> str | None:
    """Return the process's market: ``<scheme>-<first digits of the classification id>`` (``CUCOP-253``)."""
    found = classification(release)
    if found is None:
        return None
    scheme, code = found
    return f"{scheme or 'unknown'}-{code[:digits] if digits else code}"


def tenderer_count(release: Release) -> tuple[int, str] | None:
    """Return the number of tenderers and the field it came from, with the fallbacks of REFERENCE §6.5."""
    tender = release.get("tender")
    tender = tender if isinstance(tender, dict) else {}
    count = tender.get("numberOfTenderers")
    if is_number(count) and count >= 0 and float(count).is_integer():
        return int(count), "tender/numberOfTenderers"
    tenderers = set(organization_ids(tender.get("tenderers")))
    if tenderers:
        return len(tenderers), "tender/tenderers/id"
    bidders = {tenderer for bid in submitted_bids(release) for tenderer in organization_ids(bid.get("tenderers"))}
    if bidders:
        return len(bidders), "bids/details/tenderers/id"
    return None


def main_currency(observed: Observed) -> str | None:
    """Return the run's main currency, else the first currency of an active award (Cardinal's "first observed")."""
    if observed.currency is not None:
        return observed.currency

    def first(obs: Observed) -> str | None:
        row = first_row(
            obs.con, f"SELECT award_currency FROM {PROCESSES} WHERE award_currency IS NOT NULL ORDER BY rank LIMIT 1"
        )
        return str(row[0]) if row else None

    currency: str | None = observed.once("concentration.currency", first)
    return currency


# A process's market (:func:`market`) over obs_processes ``p``, with $digits characters of the classification id.
MARKET_SQL = (
    "CASE WHEN p.classification_id IS NOT NULL THEN coalesce(nullif(p.classification_scheme, ''), 'unknown') || '-' "
    "|| CASE WHEN $digits > 0 THEN substring(p.classification_id, 1, $digits) ELSE p.classification_id END END"
)
AWARDED_SQL = f"""
SELECT p.rank, p.ocid, o.position, p.buyer_id, p.year, {MARKET_SQL} AS market, o.supplier_id, o.amount
FROM obs_award_values AS o JOIN {{processes}} AS p USING (ocid)
WHERE o.currency = $currency
ORDER BY p.rank, o.position
"""


def awarded_values(observed: Observed, digits: int) -> pa.Table:
    """Return the awards in the main currency with their process's buyer, year and market, in process order."""
    found: pa.Table = observed.once(
        f"concentration.awarded:{digits}",
        lambda obs: obs.query(AWARDED_SQL, {"currency": main_currency(obs), "digits": digits}),
    )
    return found


def upper_or_threshold(
    values: Iterable[float] | np.ndarray, threshold: float | None
) -> tuple[float | None, dict[str, float]]:
    """Return the comparison line (a fixed threshold, else Q3 + 1.5·IQR of the values) and its Meta."""
    if threshold is not None:
        return threshold, {"threshold": threshold}
    collected = values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=float)
    if len(collected) == 0:
        return None, {}
    q1, q3 = quartiles(collected)
    fence = upper_fence(q1, q3)
    return fence, {"q1": q1, "q3": q3, "upper_fence": fence}


def exceeds(values: np.ndarray, line: float, fixed: bool) -> np.ndarray:
    """Compare with a line: a fixed threshold strictly (OCP: "> 40%"), a fence inclusively (Cardinal ≥ 0.0.5)."""
    return np.asarray(values > line if fixed else values >= line, dtype=bool)


# -- flagging ------------------------------------------------------------------------------------------------
Hit = tuple[str, str, float, float | None, str, list[str]]  # group, key, value, threshold, explanation, ocids


def flag_worst(outcome: Outcome, hits: Iterable[Hit]) -> None:
    """Flag each unit once, with its largest value (a buyer flagged in two years keeps the worse year's result)."""
    worst: dict[tuple[str, str], Hit] = {}
    for hit in hits:
        current = worst.get((hit[0], hit[1]))
        if current is None or hit[2] > current[2]:
            worst[hit[0], hit[1]] = hit
    for group, key, value, threshold, explanation, ocids in worst.values():
        targets: list[str | None] = list(ocids) or [None]
        for ocid in targets:
            outcome.flag(group, key, value, threshold=threshold, explanation=explanation, ocid=ocid)


def worst_hits(units: Sequence[int], values: Sequence[float]) -> list[int]:
    """Return the index of the hit each unit keeps under :func:`flag_worst` (its first largest), units as first hit."""
    kept: dict[int, int] = {}
    for index, (unit, value) in enumerate(zip(units, values, strict=True)):
        current = kept.get(unit)
        if current is None or value > values[current]:
            kept[unit] = index
    return list(kept.values())


def clusters(dated: list[tuple[dt.datetime, str]], window_days: int) -> list[list[str]]:
    """Group dated ocids into runs whose consecutive dates lie at most ``window_days`` apart; keep runs of 2 or more.

    An ocid is in a run exactly when another ocid lies within the window of it, which is what "advertised within a
    short window" asks of each member.
    """
    runs: list[list[str]] = []
    current: list[str] = []
    last: dt.datetime | None = None
    for when, ocid in sorted(dated):
        if last is not None and (when - last).total_seconds() > window_days * 86_400:
            if len(current) > 1:
                runs.append(current)
            current = []
        current.append(ocid)
        last = when
    if len(current) > 1:
        runs.append(current)
    return runs

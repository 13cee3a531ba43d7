"""Shared readers for the indicators after the award (R054, R059–R062, R064, R068, R069, S001): not an indicator.

A contract is tied to its award through ``contracts/awardID`` = ``awards/id``. The amended value and end date sit in
``contracts/value`` and ``contracts/period/endDate``; the values before each change sit in the project's amendment
extension (``contracts/amendments/previousValue``, ``previousEndDate``, ``newValue``, ``newEndDate``), so the original
contract is the *earliest* amendment's "previous" side. Like Cardinal, every reader treats a field of the wrong type
as missing, so one malformed contract never raises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from models.grouped import first_seen, flagged
from models.indicators import Observed, Outcome, Release, amount_and_currency, fmt, lower_fence, quartiles, upper_fence

Money = tuple[float, str]


def moment(value: Any) -> dt.datetime | None:
    """Parse an RFC 3339 date-time that carries an offset; None if it is missing, naive or invalid."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    # A naive time has no place on the time line: comparing it with an offset-aware one would be a guess.
    return parsed if parsed.tzinfo is not None else None


def days_between(start: Any, end: Any) -> float | None:
    """Return the days (fractional) from one RFC 3339 date-time to another, or None if either is unusable."""
    first, last = moment(start), moment(end)
    if first is None or last is None:
        return None
    return (last - first).total_seconds() / 86_400


def objects(value: Any) -> list[dict[str, Any]]:
    """Return the objects of a JSON array (other members and non-arrays give nothing)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def money(obj: dict[str, Any]) -> Money | None:
    """Return an object's ``value`` as (amount, currency), or None."""
    return amount_and_currency(obj)


def awards_by_id(release: Release) -> dict[str, dict[str, Any]]:
    """Return the awards with a string id, by id (a repeated id keeps the first, as ocdsmerge would have merged)."""
    found: dict[str, dict[str, Any]] = {}
    for award in objects(release.get("awards")):
        if isinstance(award.get("id"), str):
            found.setdefault(award["id"], award)
    return found


def contracts_with_awards(release: Release) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Return each contract with the award its ``awardID`` names (None when it names none)."""
    awards = awards_by_id(release)
    pairs = []
    for contract in objects(release.get("contracts")):
        award_id = contract.get("awardID")
        pairs.append((contract, awards.get(award_id) if isinstance(award_id, str) else None))
    return pairs


def amendments(contract: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a contract's amendments, earliest first (by date, then publication order; undated last)."""
    listed = objects(contract.get("amendments"))
    dated = sorted(enumerate(listed), key=lambda pair: (moment(pair[1].get("date")) is None, str(pair[1].get("date"))))
    return [amendment for _, amendment in dated]


def original_value(contract: dict[str, Any], award: dict[str, Any] | None) -> Money | None:
    """Return the value before any amendment: the award's value, else the earliest amendment's ``previousValue``."""
    if award is not None and (value := money(award)) is not None:
        return value
    for amendment in amendments(contract):
        previous = amendment.get("previousValue")
        if isinstance(previous, dict) and (value := money({"value": previous})) is not None:
            return value
    return None


def original_end(contract: dict[str, Any]) -> str | None:
    """Return the end date before any amendment: the earliest amendment's ``previousEndDate`` that is a date-time."""
    for amendment in amendments(contract):
        if moment(amendment.get("previousEndDate")) is not None:
            return str(amendment["previousEndDate"])
    return None


def final_end(contract: dict[str, Any]) -> str | None:
    """Return the latest end date the contract reached: ``contracts/period/endDate`` or any ``newEndDate``.

    The latest, not the last published: amendments signed out of their numbering order restate an earlier end date
    (a value amendment signed after an extension repeats the end before it), and compiling keeps the last one.
    """
    period = contract.get("period")
    ends = [period.get("endDate") if isinstance(period, dict) else None]
    ends += [amendment.get("newEndDate") for amendment in amendments(contract)]
    dated = [(when, str(end)) for end in ends if (when := moment(end)) is not None]
    return max(dated)[1] if dated else None


def method(release: Release) -> str | None:
    """Return ``tender/procurementMethod`` if it is a string."""
    tender = release.get("tender")
    value = tender.get("procurementMethod") if isinstance(tender, dict) else None
    return value if isinstance(value, str) else None


def earliest_award_date(release: Release) -> str | None:
    """Return the earliest ``awards/date`` of an active award (the decision), as published."""
    dated = [
        (when, award["date"])
        for award in objects(release.get("awards"))
        if award.get("status") == "active" and (when := moment(award.get("date"))) is not None
    ]
    return min(dated)[1] if dated else None


def fence_by_method(
    outcome: Outcome,
    periods: pa.Table,
    *,
    side: str,
    threshold: float | None,
    minimum: int,
    describe: str,
) -> None:
    """Flag processes whose period (days) is extreme within its ``procurementMethod`` (R060, R061, R062).

    ``periods`` holds ``ocid``, ``method`` and ``days``, in process order. With ``threshold`` unset, each method with
    at least ``minimum`` periods gets its fence (type 8 quartiles; ``lower``: Q1 − 1.5·IQR, flag ≤ it if it is
    positive; ``upper``: Q3 + 1.5·IQR, flag ≥ it if it is positive); a fixed threshold applies to every method,
    strictly (< or >).
    """
    methods, names = first_seen(periods.column("method"))
    days = periods.column("days").to_numpy()
    lines = np.full(len(names), np.nan)
    for index, method_name in sorted(enumerate(names), key=lambda pair: pair[1]):
        if threshold is not None:
            lines[index] = threshold
            continue
        values = days[methods == index]
        if len(values) < minimum:
            continue
        q1, q3 = quartiles(values)
        fence = lower_fence(q1, q3) if side == "lower" else upper_fence(q1, q3)
        outcome.meta.update({f"{method_name}_q1": q1, f"{method_name}_q3": q3, f"{method_name}_{side}_fence": fence})
        # A period is never negative in clean data: a fence at or below zero means no period is extreme.
        if fence > 0:
            lines[index] = fence
    line = lines[methods]
    with np.errstate(invalid="ignore"):
        if threshold is not None:
            hit = days < line if side == "lower" else days > line
        else:
            hit = days <= line if side == "lower" else days >= line
    for row, limit in zip(flagged(periods, hit), line[hit].tolist(), strict=True):
        method_name = row["method"]
        kind = "threshold" if threshold is not None else f"{side} fence for {method_name} procedures"
        outcome.flag(
            "OCID",
            row["ocid"],
            row["days"],
            threshold=limit,
            explanation=f"{describe} of {fmt(row['days'])} days, {'below' if side == 'lower' else 'above'} the {kind} "
            f"of {fmt(limit)} days",
        )


Explain = Callable[[dict[str, Any]], str]


def flag_above(
    observed: Observed, table: str, column: str, columns: str, threshold: float, explain: Explain
) -> Outcome:
    """Flag each process whose observation ``column`` in ``table`` exceeds ``threshold``, worded by ``explain``.

    ``columns`` are the observation's columns to read (as ``o.name``); ``explain`` words one flagged row.
    """
    outcome = Outcome()
    rows = observed.joined(table, columns)
    for row in flagged(rows, rows.column(column).to_numpy() > threshold):
        outcome.flag("OCID", row["ocid"], row[column], threshold=threshold, explanation=explain(row))
    return outcome

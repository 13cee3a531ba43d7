"""R003 Short submission period — Cardinal's exact semantics (REFERENCE §6.1).

Formula: parse ``tender/tenderPeriod/startDate`` and ``endDate`` as RFC 3339 date-times with an offset (a process
with either one missing or invalid is skipped); days = the whole days of (end − start), truncated toward zero. Flag
the process if days < threshold, strictly: a period of exactly 15 days is not flagged.

Defaults: ``threshold = 15`` (Cardinal's default, the usual legal minimum for open tenders); ``procurement_methods``
empty, so every ``tender/procurementMethod`` is checked, ``direct`` included (a non-empty list never matches a process
without a method); ``[R003.procurement_method_details] <details> = <days>`` overrides the threshold per
``tender/procurementMethodDetails`` (Mexico's LAASSP allows shorter periods for some procedures).

Why it is a red flag: a period too short to prepare a bid favours a bidder who knew in advance (OCP 2024 guide).

Output: OCID → 1.0.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import flagged, flags
from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import days_by_details, integer, pipe_separated

NS_PER_DAY = 86_400 * 1_000_000_000
# RFC 3339 as chrono's parse_from_rfc3339 reads it: T, t or a space between date and time, an offset required.
RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


def rfc3339_ns(text: str) -> int | None:
    """Parse an RFC 3339 date-time into nanoseconds since 0001-01-01 UTC (exact integers); None if invalid."""
    match = RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    # Second 60 is a leap second, which RFC 3339 allows.
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        ordinal = dt.date(year, month, day).toordinal()
    except ValueError:
        return None
    offset = 0
    if match.group(8):
        offset_hours, offset_minutes = int(match.group(9)), int(match.group(10))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 3600 + offset_minutes * 60) * (1 if match.group(8) == "+" else -1)
    # Nanosecond precision, like chrono: a period 1 ns short of 15 days is 14 whole days.
    fraction = int((match.group(7) or "")[:9].ljust(9, "0"))
    return (ordinal * 86_400 + hour * 3600 + minute * 60 + second - offset) * 1_000_000_000 + fraction


def whole_days(start: str, end: str) -> int | None:
    """Return the whole days from start to end, truncated toward zero; None if either is not RFC 3339."""
    start_ns, end_ns = rfc3339_ns(start), rfc3339_ns(end)
    if start_ns is None or end_ns is None:
        return None
    delta = end_ns - start_ns
    return delta // NS_PER_DAY if delta >= 0 else -(-delta // NS_PER_DAY)


def _periods(views: Views) -> list[Row]:
    tender = views.tender
    period = tender.get("tenderPeriod") if tender is not None else None
    if not isinstance(period, dict):
        return []
    start, end = period.get("startDate"), period.get("endDate")
    if not isinstance(start, str) or not isinstance(end, str):
        return []
    days = whole_days(start, end)
    return [] if days is None else [(days,)]


PERIODS = register_observation(
    Observation(
        "obs_submission_periods",
        (("days", pa.int64()),),
        _periods,
        "Whole days from tender/tenderPeriod/startDate to endDate (RFC 3339, truncated toward zero), where both parse",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag each process whose submission period is shorter than the threshold for its method details."""
    outcome = Outcome()
    methods: frozenset[str] = options["procurement_methods"]
    by_details: dict[str, int] = options["procurement_method_details"]
    rows = observed.joined(PERIODS.name, "p.method, p.details, o.days")
    thresholds = np.full(rows.num_rows, options["threshold"], dtype=np.int64)
    for name, minimum in by_details.items():
        thresholds[flags(pc.equal(rows.column("details"), name))] = minimum
    hit = rows.column("days").to_numpy() < thresholds
    if methods:
        hit &= flags(pc.is_in(rows.column("method"), pa.array(sorted(methods), pa.string())))
    for row, threshold in zip(flagged(rows, hit), thresholds[hit].tolist(), strict=True):
        details = row["details"]
        outcome.flag(
            "OCID",
            row["ocid"],
            1.0,
            threshold=float(threshold),
            explanation=f"the submission period lasts {row['days']} whole days, fewer than the minimum of "
            f"{threshold} days for {details if details is not None else 'this procedure'}",
        )
    return outcome


R003 = register(
    Indicator(
        code="R003",
        name="Short submission period",
        stage="tender",
        fields=(
            "tender/tenderPeriod/startDate",
            "tender/tenderPeriod/endDate",
            "tender/procurementMethod",
            "tender/procurementMethodDetails",
        ),
        formula="whole days of (tenderPeriod/endDate − tenderPeriod/startDate) < threshold",
        decide=decide,
        observes=(PERIODS.name,),
        defaults={"threshold": 15, "procurement_methods": frozenset(), "procurement_method_details": {}},
        reasons={
            "threshold": "Cardinal's default of 15 days; strict, so exactly 15 days is not short",
            "procurement_methods": "empty checks every method, as Cardinal does (direct awards included)",
            "procurement_method_details": "per-procedure legal minimums override the threshold",
        },
        options={
            "threshold": integer,
            "procurement_methods": pipe_separated,
            "procurement_method_details": days_by_details,
        },
    )
)

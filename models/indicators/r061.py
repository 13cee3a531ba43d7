"""R061 Decision period extremely short (OCP 2024 guide; not in Cardinal).

Formula: decision period = days from ``tender/tenderPeriod/endDate`` (bid opening in CompraNet) to the earliest
``awards/date`` of an ``active`` award (both RFC 3339 with an offset). Flag the period ≤ the lower fence
Q1 − 1.5·IQR (type 8) of the periods of processes with the same ``tender/procurementMethod``, computed only for
methods with at least ``minimum_processes`` periods and only when the fence is positive; or, with ``threshold`` set,
a period strictly below it for every method.

Defaults: ``threshold`` unset (fence per method, OCP 2024 guide); ``minimum_processes = 10`` (quartiles of fewer
periods move with every process).

Why it is a red flag: an evaluation too quick to have compared the bids suggests the winner was known beforehand
(the CRI's decision-period component, REFERENCE §6.6).

Output: OCID → decision period in days. Meta: ``<method>_q1``, ``<method>_q3``, ``<method>_lower_fence``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, Release, register
from models.indicators.concentration import decimal_or_fence
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import days_between, earliest_award_date, fence_by_method
from models.indicators.settings import natural


def decision_period(release: Release) -> float | None:
    """Return the days from tenderPeriod/endDate to the earliest active award date of one process, or None."""
    tender = release.get("tender")
    period = tender.get("tenderPeriod") if isinstance(tender, dict) else None
    end = period.get("endDate") if isinstance(period, dict) else None
    return days_between(end, earliest_award_date(release))


def _period(views: Views) -> list[Row]:
    days = decision_period(views.release)
    return [] if days is None else [(days,)]


PERIODS = register_observation(
    Observation(
        "obs_decision_periods",
        (("days", pa.float64()),),
        _period,
        "Days from tender/tenderPeriod/endDate to the earliest awards/date of an active award (R061, R062)",
    )
)


def decision_periods(observed: Observed) -> pa.Table:
    """Return (ocid, method, days) of the processes with a method and a decision period, shared with R062."""
    found: pa.Table = observed.once(
        "decision_periods", lambda obs: obs.joined(PERIODS.name, "p.method, o.days", where="p.method IS NOT NULL")
    )
    return found


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes decided extremely fast for their method."""
    outcome = Outcome()
    fence_by_method(
        outcome,
        decision_periods(observed),
        side="lower",
        threshold=options["threshold"],
        minimum=options["minimum_processes"],
        describe="a decision period",
    )
    return outcome


R061 = register(
    Indicator(
        code="R061",
        name="Decision period extremely short",
        stage="award",
        fields=("tender/tenderPeriod/endDate", "awards/date", "awards/status", "tender/procurementMethod"),
        formula="days(first active awards/date − tenderPeriod/endDate) <= lower fence per procurementMethod",
        decide=decide,
        observes=(PERIODS.name,),
        defaults={"threshold": None, "minimum_processes": 10},
        reasons={
            "threshold": "unset: the lower fence per method (OCP 2024 guide); a fixed number of days replaces it",
            "minimum_processes": "quartiles of fewer than 10 periods move with every process",
        },
        options={"threshold": decimal_or_fence, "minimum_processes": natural},
    )
)

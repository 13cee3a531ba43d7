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

from models.indicators import Context, Indicator, Outcome, Release, register
from models.indicators.concentration import decimal_or_fence
from models.indicators.postaward import days_between, earliest_award_date, fence_by_method, method
from models.indicators.settings import natural


def decision_periods(context: Context) -> dict[str, tuple[str, float]]:
    """Return ocid → (method, days from tenderPeriod/endDate to the first active award), shared with R062."""

    def periods(ctx: Context) -> dict[str, tuple[str, float]]:
        found: dict[str, tuple[str, float]] = {}
        for release in ctx.releases:
            period = decision_period(release)
            if period is not None:
                found[release["ocid"]] = period
        return found

    found: dict[str, tuple[str, float]] = context.once("decision_periods", periods)
    return found


def decision_period(release: Release) -> tuple[str, float] | None:
    """Return (method, decision period in days) of one process, or None."""
    method_name = method(release)
    tender = release.get("tender")
    period = tender.get("tenderPeriod") if isinstance(tender, dict) else None
    end = period.get("endDate") if isinstance(period, dict) else None
    days = days_between(end, earliest_award_date(release))
    return None if method_name is None or days is None else (method_name, days)


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes decided extremely fast for their method."""
    outcome = Outcome()
    fence_by_method(
        outcome,
        decision_periods(context),
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
        compute=compute,
        defaults={"threshold": None, "minimum_processes": 10},
        reasons={
            "threshold": "unset: the lower fence per method (OCP 2024 guide); a fixed number of days replaces it",
            "minimum_processes": "quartiles of fewer than 10 periods move with every process",
        },
        options={"threshold": decimal_or_fence, "minimum_processes": natural},
    )
)

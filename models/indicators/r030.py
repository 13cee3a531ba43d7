"""R030 Late bid won — Cardinal's exact semantics (REFERENCE §6.1).

Formula: flag a process when a ``valid`` bid's ``date`` is later than ``tender/tenderPeriod/endDate`` and one of its
tenderers supplies an ``active`` award. The dates are compared as strings, as Cardinal does, so they must share a
format and offset (CompraNet's are all ``-06:00`` or ``-05:00`` local times written the same way). ``awards`` and
``bids/details`` must be arrays; unlike R024, a pending award does not drop the process.

Defaults: none.

Why it is a red flag: accepting a bid after the deadline, and awarding it, favours one bidder (OCP 2024 guide).

Output: OCID → 1.0; Tenderer → 1.0 for the late winner.
"""

from __future__ import annotations

from typing import Any

from models.indicators import (
    FLAG_CALL_COLUMNS,
    FLAG_CALLS,
    Indicator,
    Observed,
    Outcome,
    organization_ids,
    register,
    replay,
)
from models.indicators.observations import Observation, Row, Views, register_observation


def _late(views: Views) -> list[Row]:
    """Return the flags this process raises, in the order they are raised."""
    tender = views.tender
    period = tender.get("tenderPeriod") if tender is not None else None
    end = period.get("endDate") if isinstance(period, dict) else None
    awards = views.release.get("awards")
    if not isinstance(end, str) or not isinstance(awards, list) or views.details is None:
        return []
    suppliers = {
        supplier
        for award in awards
        if isinstance(award, dict) and award.get("status") == "active"
        for supplier in organization_ids(award.get("suppliers"))
    }
    calls: list[Row] = []
    for bid in views.details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        date = bid.get("date")
        if not isinstance(date, str) or not date > end:
            continue
        for tenderer in organization_ids(bid.get("tenderers")):
            if tenderer in suppliers:
                explanation = f"{tenderer}'s valid bid dated {date} came after the deadline {end} and won"
                calls += [("OCID", views.ocid, explanation), ("Tenderer", tenderer, explanation)]
    return [(position, *call) for position, call in enumerate(calls)]


LATE_BIDS = register_observation(
    Observation("obs_late_winning_bids", FLAG_CALLS, _late, "R030's flags of a process, in the order raised")
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes won by a bid submitted after the deadline."""
    outcome = Outcome()
    replay(outcome, observed.joined(LATE_BIDS.name, FLAG_CALL_COLUMNS, positioned=True).to_pylist(), 1.0)
    return outcome


R030 = register(
    Indicator(
        code="R030",
        name="Late bid won",
        stage="award",
        fields=(
            "bids/details/status",
            "bids/details/date",
            "bids/details/tenderers/id",
            "tender/tenderPeriod/endDate",
            "awards/status",
            "awards/suppliers/id",
        ),
        formula="a valid bid's date > tenderPeriod/endDate (as strings) and its tenderer has an active award",
        decide=decide,
        observes=(LATE_BIDS.name,),
    )
)

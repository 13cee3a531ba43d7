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

from models.indicators import Context, Indicator, Outcome, bid_details, organization_ids, register


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes won by a bid submitted after the deadline."""
    outcome = Outcome()
    for release in context.releases:
        tender = release.get("tender")
        period = tender.get("tenderPeriod") if isinstance(tender, dict) else None
        end = period.get("endDate") if isinstance(period, dict) else None
        awards = release.get("awards")
        details = bid_details(release)
        if not isinstance(end, str) or not isinstance(awards, list) or details is None:
            continue
        suppliers = {
            supplier
            for award in awards
            if isinstance(award, dict) and award.get("status") == "active"
            for supplier in organization_ids(award.get("suppliers"))
        }
        for bid in details:
            if not isinstance(bid, dict) or bid.get("status") != "valid":
                continue
            date = bid.get("date")
            if not isinstance(date, str) or not date > end:
                continue
            for tenderer in organization_ids(bid.get("tenderers")):
                if tenderer in suppliers:
                    explanation = f"{tenderer}'s valid bid dated {date} came after the deadline {end} and won"
                    outcome.flag("OCID", release["ocid"], 1.0, threshold=None, explanation=explanation)
                    outcome.flag(
                        "Tenderer", tenderer, 1.0, threshold=None, explanation=explanation, ocid=release["ocid"]
                    )
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
        compute=compute,
    )
)

"""R036 Lowest bid disqualified — Cardinal's exact semantics (REFERENCE §6.1).

Formula: in a process whose prices may be compared (``no_price_comparison_procurement_methods`` /
``price_comparison_procurement_methods``) with at least one ``active`` award: over submitted bids (status a string
other than ``invited`` or ``withdrawn``) with a numeric amount in the main currency, the lowest bid (a strictly lower
amount replaces it, so on a tie the first bid seen is kept) is ``disqualified``, and at least one ``valid`` bid has an
amount. A ``pending`` lowest bid means no flag; bids in other currencies are ignored.

Defaults: none.

Why it is a red flag: when price is the award criterion, disqualifying the cheapest offer needs a reason; it is a
common way to steer a contract (OCP 2024 guide).

Output: OCID → 1.0.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Context, Indicator, Outcome, Release, amount_and_currency, fmt, register, submitted_bids


def _has_active_award(release: Release) -> bool:
    awards = release.get("awards")
    return isinstance(awards, list) and any(isinstance(a, dict) and a.get("status") == "active" for a in awards)


def observe_currency(context: Context, release: Release) -> str | None:
    """Return the first currency R036 would see in this process (a candidate main currency)."""
    if not context.price_compared(release) or not _has_active_award(release):
        return None
    for bid in submitted_bids(release):
        priced = amount_and_currency(bid)
        if priced is not None:
            return priced[1]
    return None


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes whose lowest submitted bid was disqualified."""
    outcome = Outcome()
    views = zip(context.releases, context.price_comparisons(), context.submitted(), strict=True)
    for release, compared, bids in views:
        if not compared or not _has_active_award(release):
            continue
        lowest: float | None = None
        lowest_disqualified = False
        has_valid_amount = False
        for bid in bids:
            priced = amount_and_currency(bid)
            if priced is None or priced[1] != context.currency:
                continue
            if lowest is None or priced[0] < lowest:
                lowest, lowest_disqualified = priced[0], bid["status"] == "disqualified"
            if bid["status"] == "valid":
                has_valid_amount = True
        if has_valid_amount and lowest_disqualified:
            outcome.flag(
                "OCID",
                release["ocid"],
                1.0,
                threshold=None,
                explanation=f"the lowest submitted bid ({fmt(lowest)} {context.currency}) was disqualified while a "
                "higher valid bid was considered",
            )
    return outcome


R036 = register(
    Indicator(
        code="R036",
        name="Lowest bid disqualified",
        stage="award",
        fields=(
            "bids/details/status",
            "bids/details/value/amount",
            "bids/details/value/currency",
            "awards/status",
            "tender/procurementMethodDetails",
        ),
        formula="the lowest submitted bid in the main currency is disqualified and some valid bid has an amount",
        compute=compute,
        # Cardinal observes R036's currencies after R024 and R058's in each process.
        currency_observer=(1, observe_currency),
    )
)

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

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, amount_and_currency, fmt, register
from models.indicators.observations import Observation, Row, Views, register_observation


def first_priced_currency(submitted: list[dict[str, Any]]) -> str | None:
    """Return the first currency R036 would see among submitted bids (a candidate main currency)."""
    for bid in submitted:
        priced = amount_and_currency(bid)
        if priced is not None:
            return priced[1]
    return None


def _lowest(views: Views) -> list[Row]:
    """Return, per currency of the submitted bids, the lowest bid if it was disqualified and some valid bid priced."""
    if not views.active:
        return []
    priced = [(p, bid["status"]) for bid in views.submitted if (p := amount_and_currency(bid)) is not None]
    rows: list[Row] = []
    for main in dict.fromkeys(currency for (_, currency), _ in priced):
        lowest: float | None = None
        lowest_disqualified = False
        has_valid_amount = False
        for (amount, currency), status in priced:
            if currency != main:
                continue
            if lowest is None or amount < lowest:
                lowest, lowest_disqualified = amount, status == "disqualified"
            if status == "valid":
                has_valid_amount = True
        if has_valid_amount and lowest_disqualified:
            rows.append((main, lowest))
    return rows


LOWEST_BIDS = register_observation(
    Observation(
        "obs_disqualified_lowest_bids",
        (("currency", pa.string()), ("lowest_amount", pa.float64())),
        _lowest,
        "Per currency of the submitted bids of a process with an active award: the lowest bid, where it was "
        "disqualified and a valid bid has an amount in that currency",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose lowest submitted bid was disqualified."""
    outcome = Outcome()
    rows = observed.joined(
        LOWEST_BIDS.name,
        "o.lowest_amount",
        where="p.compared AND o.currency = $currency",
        params={"currency": observed.currency},
    )
    for row in rows.to_pylist():
        outcome.flag(
            "OCID",
            row["ocid"],
            1.0,
            threshold=None,
            explanation=f"the lowest submitted bid ({fmt(row['lowest_amount'])} {observed.currency}) was disqualified "
            "while a higher valid bid was considered",
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
        decide=decide,
        observes=(LOWEST_BIDS.name,),
        # Cardinal observes R036's currencies after R024 and R058's in each process.
        currency_observer=(1, "submitted_currency"),
    )
)

"""R028 Identical bid prices — Cardinal's exact semantics (REFERENCE §6.1).

Formula: in a process whose prices may be compared (``no_price_comparison_procurement_methods`` /
``price_comparison_procurement_methods``), among submitted bids (status a string other than ``invited`` or
``withdrawn``) with a numeric amount, a string currency and at least one tenderer id, flag when two *different sets*
of tenderers bid the same (amount, currency). A set repeating its own price is fine; the order of tenderers in a set
does not matter; 1.0 ≠ 1.1 and USD ≠ CAD; bids without tenderer ids are ignored.

Defaults: none.

Why it is a red flag: independent bidders rarely arrive at exactly the same price; identical prices suggest
coordination (OCP 2024 guide, collusion).

Output: OCID → 1.0; Tenderer → 1.0 for every tenderer of both sets.
"""

from __future__ import annotations

from typing import Any

from models.indicators import (
    FLAG_CALL_COLUMNS,
    FLAG_CALLS,
    Indicator,
    Observed,
    Outcome,
    amount_and_currency,
    fmt,
    register,
    replay,
)
from models.indicators.observations import Observation, Row, Views, register_observation


def _identical(views: Views) -> list[Row]:
    """Return the flags this process raises if its prices may be compared, in the order they are raised."""
    ocid = views.ocid
    calls: list[Row] = []
    # (amount, currency) → the tenderers (in bid order) who last bid it.
    prices: dict[tuple[float, str], tuple[str, ...]] = {}
    for bid in views.submitted:
        tenderers = bid.get("tenderers")
        priced = amount_and_currency(bid)
        if not isinstance(tenderers, list) or priced is None:
            continue
        ids = tuple(dict.fromkeys(t["id"] for t in tenderers if isinstance(t, dict) and isinstance(t.get("id"), str)))
        if not ids:
            continue
        other = prices.get(priced)
        if other is not None and set(ids) != set(other):
            amount, currency = priced
            calls.append(("OCID", ocid, f"{', '.join(other)} and {', '.join(ids)} both bid {fmt(amount)} {currency}"))
            for tenderer in dict.fromkeys((*ids, *other)):
                calls.append(
                    (
                        "Tenderer",
                        tenderer,
                        f"bid the same price ({fmt(amount)} {currency}) as another tenderer in {ocid}",
                    )
                )
        prices[priced] = ids
    return [(position, *call) for position, call in enumerate(calls)]


IDENTICAL_PRICES = register_observation(
    Observation("obs_identical_prices", FLAG_CALLS, _identical, "R028's flags of a process, in the order raised")
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes where different tenderers bid exactly the same price."""
    outcome = Outcome()
    rows = observed.joined(IDENTICAL_PRICES.name, FLAG_CALL_COLUMNS, where="p.compared", positioned=True)
    replay(outcome, rows.to_pylist(), 1.0)
    return outcome


R028 = register(
    Indicator(
        code="R028",
        name="Identical bid prices",
        stage="award",
        fields=(
            "bids/details/status",
            "bids/details/tenderers/id",
            "bids/details/value/amount",
            "bids/details/value/currency",
            "tender/procurementMethodDetails",
        ),
        formula="two different sets of tenderers submit bids with the same (amount, currency)",
        decide=decide,
        observes=(IDENTICAL_PRICES.name,),
    )
)

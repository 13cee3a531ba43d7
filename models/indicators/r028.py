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

from models.indicators import Context, Indicator, Outcome, amount_and_currency, fmt, register


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes where different tenderers bid exactly the same price."""
    outcome = Outcome()
    views = zip(context.releases, context.price_comparisons(), context.submitted(), strict=True)
    for release, compared, bids in views:
        if not compared:
            continue
        ocid = release["ocid"]
        # (amount, currency) → the tenderers (in bid order) who last bid it.
        prices: dict[tuple[float, str], tuple[str, ...]] = {}
        for bid in bids:
            tenderers = bid.get("tenderers")
            priced = amount_and_currency(bid)
            if not isinstance(tenderers, list) or priced is None:
                continue
            ids = tuple(
                dict.fromkeys(t["id"] for t in tenderers if isinstance(t, dict) and isinstance(t.get("id"), str))
            )
            if not ids:
                continue
            other = prices.get(priced)
            if other is not None and set(ids) != set(other):
                amount, currency = priced
                outcome.flag(
                    "OCID",
                    ocid,
                    1.0,
                    threshold=None,
                    explanation=f"{', '.join(other)} and {', '.join(ids)} both bid {fmt(amount)} {currency}",
                )
                for tenderer in dict.fromkeys((*ids, *other)):
                    outcome.flag(
                        "Tenderer",
                        tenderer,
                        1.0,
                        threshold=None,
                        explanation=f"bid the same price ({fmt(amount)} {currency}) as another tenderer in {ocid}",
                        ocid=ocid,
                    )
            prices[priced] = ids
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
        compute=compute,
    )
)

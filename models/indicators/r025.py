"""R025 Excessive unsuccessful bids — Cardinal's exact semantics (REFERENCE §6.1).

Formula: over processes with final awards (see R024) and exactly one active award to exactly one supplier, every
distinct tenderer with a ``valid`` bid that has exactly one tenderer counts one "submitted", and one "won" if it is
that supplier. ratio = won / submitted, summed over processes. Flag a tenderer if submitted ≥ the ``percentile``-th
percentile (type 8) of all tenderers' submitted counts and ratio ≤ the lower fence Q1 − 1.5·IQR of all ratios; skip
the whole indicator when Q1 ≤ 0 or the fence ≤ 0.

Defaults: ``percentile = 75`` (only top tenderers by bids submitted are judged, as in Cardinal); ``threshold`` unset,
so the lower fence is computed from the data.

Why it is a red flag: a frequent bidder that almost never wins may be a cover bidder in a bid-rotation scheme.

Output: Tenderer → ratio. Meta: q1, q3, upper_fence (the percentile), lower_fence.
"""

from __future__ import annotations

from typing import Any

from models.indicators import (
    Context,
    Indicator,
    Outcome,
    fmt,
    lower_fence,
    quantile,
    quartiles,
    register,
    sole_active_supplier,
    sole_id,
)
from models.indicators.settings import decimal, natural


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag top tenderers whose share of wins is a low outlier."""
    outcome = Outcome()
    won: dict[str, int] = {}
    submitted: dict[str, int] = {}
    for final in context.finals():
        if final is None:
            continue
        active, details = final
        supplier = sole_active_supplier(active)
        if supplier is None:
            continue
        # Each tenderer counts once per process, however many bids it submitted.
        tenderers = dict.fromkeys(
            tenderer
            for bid in details
            if isinstance(bid, dict)
            and bid.get("status") == "valid"
            and (tenderer := sole_id(bid.get("tenderers"))) is not None
        )
        for tenderer in tenderers:
            won[tenderer] = won.get(tenderer, 0) + (tenderer == supplier)
            submitted[tenderer] = submitted.get(tenderer, 0) + 1

    ratios = {tenderer: won[tenderer] / count for tenderer, count in submitted.items()}
    top = quantile(sorted(float(count) for count in submitted.values()), options["percentile"] / 100.0)
    if options["threshold"] is None:
        q1, q3 = quartiles(ratios.values())
        outcome.meta.update(q1=q1, q3=q3)
        fence = lower_fence(q1, q3)
    else:
        fence, q1 = options["threshold"], 1.0
    outcome.meta.update(upper_fence=top, lower_fence=fence)
    # A ratio is never negative: if Q1 or the fence is 0, most top tenderers would be flagged.
    if not (q1 > 0.0 and fence > 0.0):
        return outcome
    for tenderer, ratio in ratios.items():
        if submitted[tenderer] >= top and ratio <= fence:
            outcome.flag(
                "Tenderer",
                tenderer,
                ratio,
                threshold=fence,
                explanation=f"won {won[tenderer]} of the {submitted[tenderer]} processes it bid in (ratio "
                f"{fmt(ratio)}), at or below the lower fence of {fmt(fence)}, while bidding at least as often as "
                f"the {options['percentile']}th percentile ({fmt(top)})",
            )
    return outcome


R025 = register(
    Indicator(
        code="R025",
        name="Excessive unsuccessful bids",
        stage="award",
        fields=("bids/details/status", "bids/details/tenderers/id", "awards/status", "awards/suppliers/id"),
        formula="won / submitted <= Q1 − 1.5·IQR and submitted >= P(percentile) of submitted counts",
        compute=compute,
        defaults={"percentile": 75, "threshold": None},
        reasons={
            "percentile": "Cardinal's default: judge only tenderers bidding at least as often as three quarters do",
            "threshold": "unset: the lower fence Q1 − 1.5·IQR of all tenderers' ratios (Cardinal's default)",
        },
        options={"percentile": natural, "threshold": decimal},
    )
)

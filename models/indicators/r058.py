"""R058 Heavily discounted bid — Cardinal's exact semantics (REFERENCE §6.1).

Formula: the same d = (l − w) / w as R024 (winner's and runner-up's lowest valid single-tenderer bids in the main
currency, price-compared processes with final awards and one active award to one supplier, l ≥ w). Flag d ≥ the
upper fence Q3 + 1.5·IQR of all d (type 8 quartiles), only when the fence is positive.

Defaults: ``threshold`` unset, so the fence is computed from the data; set it to fix the upper fence.

Why it is a red flag: a winning bid far below every other bid may be an abnormally low offer, recouped later through
amendments, or a sign that the others were not real competitors.

Output: OCID → d; Tenderer → 0.0 for the winner. Meta: q1, q3, upper_fence.
"""

from __future__ import annotations

from typing import Any

from models.grouped import flagged, numbers
from models.indicators import Indicator, Observed, Outcome, fmt, pct, quartiles, register, upper_fence
from models.indicators.r024 import CURRENCY_OBSERVER, GAPS, R024, shared_gaps
from models.indicators.settings import decimal


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose winning bid is a high outlier below the runner-up's bid."""
    outcome = Outcome()
    gaps = shared_gaps(observed)
    ratios = numbers(gaps.column("ratio"))
    if options["threshold"] is None:
        q1, q3 = quartiles(ratios)
        outcome.meta.update(q1=q1, q3=q3)
        fence = upper_fence(q1, q3)
    else:
        fence = options["threshold"]
    outcome.meta["upper_fence"] = fence
    # A fence of 0 would flag every process with any gap at all.
    if not fence > 0.0:
        return outcome
    for gap in flagged(gaps, ratios >= fence):
        ocid = gap["ocid"]
        outcome.flag(
            "OCID",
            ocid,
            gap["ratio"],
            threshold=fence,
            explanation=f"the second-lowest valid bid ({fmt(gap['runner_up_amount'])}) is {pct(gap['ratio'])} above "
            f"the winning bid ({fmt(gap['winning_amount'])}), at or above the upper fence of {pct(fence)}",
        )
        outcome.flag(
            "Tenderer",
            gap["winner"],
            0.0,
            threshold=fence,
            explanation=f"won {ocid} with a bid {pct(gap['ratio'])} below the second-lowest valid bid "
            f"(upper fence {pct(fence)})",
            ocid=ocid,
        )
    return outcome


R058 = register(
    Indicator(
        code="R058",
        name="Heavily discounted bid",
        stage="award",
        fields=R024.fields,
        formula="d = (runner-up's lowest valid bid − winner's lowest valid bid) / winner's; d >= Q3 + 1.5·IQR",
        decide=decide,
        observes=(GAPS.name,),
        defaults={"threshold": None},
        reasons={"threshold": "unset: the upper fence Q3 + 1.5·IQR of all processes' d (Cardinal's default)"},
        options={"threshold": decimal},
        currency_observer=CURRENCY_OBSERVER,
    )
)

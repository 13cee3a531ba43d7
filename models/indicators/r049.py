"""R049 Direct awards just below the threshold to one supplier (OCP 2024 guide; not in Cardinal).

Formula: among processes with ``tender/procurementMethod`` ``direct``, a purchase is *just below* the threshold when
threshold(year) × (1 − ``distance``) ≤ amount < threshold(year) (amounts and dates of ``models.indicators.splitting``;
the supplier is the sole supplier of the only active award). Flag every such award that has another one from the same
buyer to the same supplier dated within ``window_days`` of it, the supplier and the buyer.

Defaults: ``thresholds`` = the PEF direct-award maximum per year (LAASSP art. 42) from
``transforms.sources.catalog`` — illustrative and unconfirmed, replace it for real data (``[R049.thresholds]``);
``distance = 0.02`` (the OCP guide's "1–2%"); ``window_days = 90`` (R011's window, the OCP guide's 3 months).

Why it is a red flag: repeated direct awards to one firm, each just under the line, are a split purchase with the
winner chosen in advance (OCP 2024 guide).

Output: OCID → number of awards in its run; Tenderer and Buyer → the largest run.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.concentration import (
    THRESHOLDS_REASON,
    amounts_by_year,
    default_thresholds,
    flag_worst,
    share,
)
from models.indicators.settings import natural
from models.indicators.splitting import purchases, split_hits


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag repeated direct awards just below the threshold from one buyer to one supplier."""
    outcome = Outcome()
    found = purchases(observed, options["thresholds"], 0)
    hits = split_hits(
        found.take(found.method_is("direct") & found.just_below(options["distance"])),
        lambda p: (p.buyer, p.supplier),
        options["window_days"],
        lambda k, run, total: (
            f"{len(run)} direct awards from {k[0]} to {k[1]} within {options['window_days']}-day steps, "
            f"each within {pct(options['distance'])} below the direct-award threshold, {fmt(total)} in all"
        ),
        lambda k: [("Tenderer", k[1]), ("Buyer", k[0])],
    )
    flag_worst(outcome, hits)
    return outcome


R049 = register(
    Indicator(
        code="R049",
        name="Direct awards just below the threshold",
        stage="award",
        fields=(
            "tender/procurementMethod",
            "awards/suppliers/id",
            "awards/value",
            "awards/date",
            "buyer/id",
        ),
        formula="≥ 2 direct awards from one buyer to one supplier within window_days, each in "
        "[threshold·(1−distance), threshold)",
        decide=decide,
        observes=("obs_award_values",),
        defaults={"thresholds": default_thresholds(), "distance": 0.02, "window_days": 90},
        reasons={
            "thresholds": THRESHOLDS_REASON,
            "distance": "OCP 2024 guide: each award within 1–2% below the threshold",
            "window_days": "R011's window: the OCP 2024 guide's example of 3 months",
        },
        options={"thresholds": amounts_by_year, "distance": share, "window_days": natural},
    )
)

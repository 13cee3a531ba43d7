"""R055 Multiple direct awards adding up past the threshold (OCP 2024 guide; Cardinal branch ``r055``).

Formula: for each buyer (``buyer/id``) and supplier (the sole supplier of the only active award), take the direct
awards (``tender/procurementMethod`` ``direct``) each at or below the threshold of its year — those that relied on the
amount rule; larger direct awards used a legal exception (LAASSP art. 41) and cannot have been split to avoid the line.
Over every window of ``window_days`` ending at one of them, sum their amounts (``models.indicators.splitting``); flag
the pair when, for some window with at least two awards, the sum is above the threshold of the window's last year.
The flagged window's processes are flagged too.

Defaults: ``thresholds`` = the PEF direct-award maximum per year (LAASSP art. 42) from
``transforms.sources.catalog`` — illustrative and unconfirmed, replace it for real data (``[R055.thresholds]``);
``window_days = 365`` (Cardinal's branch sums the last 365 days).

Why it is a red flag: several direct awards to one firm that together needed a competitive procedure are a split
purchase, whatever their individual sizes (OCP 2024 guide).

Output: Buyer, Tenderer and OCID → the largest window's sum.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Context, Indicator, Outcome, fmt, register
from models.indicators.concentration import (
    THRESHOLDS_REASON,
    Hit,
    amounts_by_year,
    default_thresholds,
    flag_worst,
)
from models.indicators.settings import natural
from models.indicators.splitting import Purchase, grouped, purchases


def _best_window(members: list[Purchase], window_days: int) -> tuple[float, list[Purchase]] | None:
    """Return the largest sum over a window with at least two awards that exceeds its threshold, with its awards."""
    ordered = sorted(members, key=lambda p: (p.when, p.ocid))
    best: tuple[float, list[Purchase]] | None = None
    start = 0
    total = 0.0
    for end, last in enumerate(ordered):
        total += last.amount
        while (last.when - ordered[start].when).total_seconds() > window_days * 86_400:
            total -= ordered[start].amount
            start += 1
        window = ordered[start : end + 1]
        if len(window) >= 2 and total > last.line and (best is None or total > best[0]):
            best = (total, window)
    return best


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag buyer–supplier pairs whose small direct awards add up past the threshold within a window."""
    outcome = Outcome()
    small = [p for p in purchases(context, options["thresholds"], 0) if p.method == "direct" and p.amount <= p.line]
    hits: list[Hit] = []
    for (buyer, supplier), members in sorted(grouped(small, lambda p: (p.buyer, p.supplier)).items()):
        best = _best_window(members, options["window_days"])
        if best is None:
            continue
        total, window = best
        line = window[-1].line
        ocids = [p.ocid for p in window]
        explanation = (
            f"{len(window)} direct awards from {buyer} to {supplier} within {options['window_days']} days, each at or "
            f"below the direct-award threshold, add up to {fmt(total)}, above the threshold of {fmt(line)}"
        )
        hits += [
            ("Buyer", buyer, total, line, explanation, ocids),
            ("Tenderer", supplier, total, line, explanation, ocids),
        ]
        hits += [("OCID", ocid, total, line, explanation, [ocid]) for ocid in ocids]
    flag_worst(outcome, hits)
    return outcome


R055 = register(
    Indicator(
        code="R055",
        name="Multiple direct awards adding up past the threshold",
        stage="award",
        fields=("tender/procurementMethod", "awards/suppliers/id", "awards/value", "awards/date", "buyer/id"),
        formula="max over windows of window_days: Σ direct awards (each <= threshold) from buyer to supplier > "
        "threshold",
        compute=compute,
        defaults={"thresholds": default_thresholds(), "window_days": 365},
        reasons={
            "thresholds": THRESHOLDS_REASON,
            "window_days": "Cardinal's r055 branch sums the last 365 days",
        },
        options={"thresholds": amounts_by_year, "window_days": natural},
    )
)

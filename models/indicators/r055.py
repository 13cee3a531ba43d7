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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import codes, flags, groups
from models.indicators import Indicator, Observed, Outcome, fmt, register
from models.indicators.concentration import (
    THRESHOLDS_REASON,
    Hit,
    amounts_by_year,
    default_thresholds,
    flag_worst,
)
from models.indicators.settings import natural
from models.indicators.splitting import purchases

Member = tuple[int, str, float, float]  # start (µs since 1970, UTC), ocid, amount, line


def _best_window(members: list[Member], window_days: int) -> tuple[float, list[Member]] | None:
    """Return the largest sum over a window with at least two awards that exceeds its threshold, with its awards."""
    ordered = sorted(members, key=lambda m: (m[0], m[1]))
    best: tuple[float, list[Member]] | None = None
    start = 0
    total = 0.0
    for end, last in enumerate(ordered):
        total += last[2]
        # Whole microseconds divided as timedelta.total_seconds() divides them: the same float at the boundary.
        while (last[0] - ordered[start][0]) / 1_000_000 > window_days * 86_400:
            total -= ordered[start][2]
            start += 1
        if end - start >= 1 and total > last[3] and (best is None or total > best[0]):
            best = (total, ordered[start : end + 1])
    return best


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag buyer–supplier pairs whose small direct awards add up past the threshold within a window."""
    outcome = Outcome()
    found = purchases(observed, options["thresholds"], 0)
    small = found.method_is("direct") & (found.amount <= found.line)
    small &= flags(pc.is_valid(found.table.column("sole_supplier_id")))
    table = found.table.filter(pa.array(small, pa.bool_()))
    amounts, lines = found.amount[small], found.line[small]
    pair, pair_rows = groups(codes(table.column("buyer_id")), codes(table.column("sole_supplier_id")))
    # Only pairs whose awards could add up past a line are walked in Python: a window's sum is at most the pair's sum
    # unless an amount is negative, and the margin covers rounding in the running sums.
    count = np.bincount(pair, minlength=len(pair_rows))
    total = np.bincount(pair, weights=np.abs(amounts), minlength=len(pair_rows))
    negative = np.bincount(pair, weights=amounts < 0, minlength=len(pair_rows)) > 0
    lowest = np.full(len(pair_rows), np.inf)
    np.minimum.at(lowest, pair, lines)
    candidates = np.flatnonzero((count >= 2) & (negative | (total * (1 + 1e-6) > lowest)))
    buyers = table.column("buyer_id").take(pair_rows[candidates]).to_pylist()
    suppliers = table.column("sole_supplier_id").take(pair_rows[candidates]).to_pylist()
    # The candidates' awards, pair by pair in (buyer, supplier) order, each pair's in (date, ocid) order, read into
    # Python lists once: the windows' running sums are walked in Python, as the sums must be the same to the bit.
    position = np.full(len(pair_rows), -1)
    named = sorted(zip(buyers, suppliers, candidates.tolist(), strict=True))
    position[[p for _, _, p in named]] = np.arange(len(named))
    rows = np.flatnonzero(position[pair] >= 0)
    ocid_order = pc.rank(table.column("ocid").take(rows), sort_keys="ascending", tiebreaker="first")
    started = table.column("started").to_numpy()[rows]
    rows = rows[np.lexsort((ocid_order.to_numpy(), started, position[pair[rows]]))]
    ends = np.cumsum(np.bincount(position[pair[rows]], minlength=len(named))).tolist()
    members = list(
        zip(
            table.column("started").take(rows).to_pylist(),
            table.column("ocid").take(rows).to_pylist(),
            amounts[rows].tolist(),
            lines[rows].tolist(),
            strict=True,
        )
    )
    hits: list[Hit] = []
    for (buyer, supplier, _), start, end in zip(named, [0, *ends][:-1], ends, strict=True):
        best = _best_window(members[start:end], options["window_days"])
        if best is None:
            continue
        window_total, window = best
        line = window[-1][3]
        window_ocids = [member[1] for member in window]
        explanation = (
            f"{len(window)} direct awards from {buyer} to {supplier} within {options['window_days']} days, each at or "
            f"below the direct-award threshold, add up to {fmt(window_total)}, above the threshold of {fmt(line)}"
        )
        hits += [
            ("Buyer", buyer, window_total, line, explanation, window_ocids),
            ("Tenderer", supplier, window_total, line, explanation, window_ocids),
        ]
        hits += [("OCID", ocid, window_total, line, explanation, [ocid]) for ocid in window_ocids]
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
        decide=decide,
        observes=("obs_award_values",),
        defaults={"thresholds": default_thresholds(), "window_days": 365},
        reasons={
            "thresholds": THRESHOLDS_REASON,
            "window_days": "Cardinal's r055 branch sums the last 365 days",
        },
        options={"thresholds": amounts_by_year, "window_days": natural},
    )
)

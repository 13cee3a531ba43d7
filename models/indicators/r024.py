"""R024 Price close to winning bid — Cardinal's exact semantics (REFERENCE §6.1).

Formula: for each process whose prices may be compared (``no_price_comparison_procurement_methods`` /
``price_comparison_procurement_methods``, matched on ``tender/procurementMethodDetails``) and whose awards are final
(``awards`` and ``bids/details`` are arrays; every award with a string status is active, cancelled or unsuccessful)
with exactly one active award to exactly one supplier: the winning amount w is the supplier's lowest ``valid`` bid and
the runner-up amount l is the lowest ``valid`` bid of any other tenderer, counting only bids with exactly one
tenderer and an amount in the main currency. If l ≥ w (otherwise the award was not price-only and the process is
skipped), d = (l − w) / w. Flag d ≤ the lower fence Q1 − 1.5·IQR of all d (type 8 quartiles); skip the whole
indicator when Q1 ≤ 0 or the fence ≤ 0, since otherwise three quarters of processes would be flagged.

Defaults: ``threshold`` unset, so the fence is computed from the data; set it to fix the lower fence.

Why it is a red flag: a colluding bidder can mimic competition with a cover bid priced just above its partner's.

Output: OCID → d; Tenderer → 0.0 for the winner and the runner-up. Meta: q1, q3, lower_fence.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from models.grouped import flagged, numbers
from models.indicators import (
    Indicator,
    Observed,
    Outcome,
    amount_and_currency,
    fmt,
    lower_fence,
    pct,
    quartiles,
    register,
    sole_active_supplier,
    sole_id,
)
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import decimal

# Cardinal computes the second-lowest bid ratios before any other indicator looks at a process; the first currency
# they would see is obs_processes' bid_currency.
CURRENCY_OBSERVER = (0, "bid_currency")


def divide(numerator: float, denominator: float) -> float:
    """Divide with IEEE 754 results for a zero denominator (±inf or NaN), as Rust's f64 does."""
    if denominator == 0.0:
        if numerator == 0.0:
            return math.nan
        return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)
    return numerator / denominator


def valid_single_bids(details: list[Any]) -> list[tuple[str, float, str]]:
    """List (tenderer, amount, currency) of each ``valid`` bid with one tenderer, a numeric amount and a currency."""
    bids = []
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        tenderer = sole_id(bid.get("tenderers"))
        priced = amount_and_currency(bid)
        if tenderer is not None and priced is not None:
            bids.append((tenderer, priced[0], priced[1]))
    return bids


def _gaps(views: Views) -> list[Row]:
    """Return the gap in each currency of the valid single-tenderer bids (the main currency is chosen later)."""
    if views.final is None:
        return []
    supplier = sole_active_supplier(views.final[0])
    if supplier is None:
        return []
    bids = valid_single_bids(views.final[1])
    rows: list[Row] = []
    for main in dict.fromkeys(currency for _, _, currency in bids):
        winning: float | None = None
        lowest: float | None = None
        runner_up = ""
        for tenderer, amount, currency in bids:
            # Bids in another currency than the main one cannot be compared and are ignored.
            if currency != main:
                continue
            if tenderer == supplier:
                # If the winner submitted several bids, its lowest is the winning bid.
                if winning is None or amount < winning:
                    winning = amount
            elif lowest is None or amount < lowest:
                lowest, runner_up = amount, tenderer
        # If the lowest bid did not win, the award criteria were not price-only, as this indicator assumes.
        if winning is not None and lowest is not None and lowest >= winning:
            rows.append((main, supplier, runner_up, winning, lowest, divide(lowest - winning, winning)))
    return rows


GAPS = register_observation(
    Observation(
        "obs_bid_gaps",
        (
            ("currency", pa.string()),
            ("winner", pa.string()),
            ("runner_up", pa.string()),
            ("winning_amount", pa.float64()),
            ("runner_up_amount", pa.float64()),
            ("ratio", pa.float64()),
        ),
        _gaps,
        "Per currency of a process with final awards and one active award to one supplier: the winner's and the "
        "runner-up's lowest valid single-tenderer bids and (runner-up − winner) / winner, where the winner's is lower",
    )
)


def second_lowest_bids(observed: Observed) -> pa.Table:
    """Return the gaps in the main currency of the processes whose prices may be compared, in process order."""
    return observed.joined(
        GAPS.name,
        "o.winner, o.runner_up, o.winning_amount, o.runner_up_amount, o.ratio",
        where="p.compared AND o.currency = $currency",
        params={"currency": observed.currency},
    )


def shared_gaps(observed: Observed) -> pa.Table:
    """Return the second-lowest bid gaps, computed once per run for R024 and R058."""
    gaps: pa.Table = observed.once("second_lowest_bids", second_lowest_bids)
    return gaps


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose runner-up bid is a low outlier above the winning bid."""
    outcome = Outcome()
    gaps = shared_gaps(observed)
    ratios = numbers(gaps.column("ratio"))
    if options["threshold"] is None:
        q1, q3 = quartiles(ratios)
        outcome.meta.update(q1=q1, q3=q3)
        fence = lower_fence(q1, q3)
    else:
        # A fixed fence bypasses the Q1 guard, as in Cardinal.
        fence, q1 = options["threshold"], 1.0
    outcome.meta["lower_fence"] = fence
    # The gap is never negative: if Q1 or the fence is 0, three quarters of processes would be flagged.
    if not (q1 > 0.0 and fence > 0.0):
        return outcome
    for gap in flagged(gaps, ratios <= fence):
        ocid = gap["ocid"]
        outcome.flag(
            "OCID",
            ocid,
            gap["ratio"],
            threshold=fence,
            explanation=f"the second-lowest valid bid ({fmt(gap['runner_up_amount'])}) is only {pct(gap['ratio'])} "
            f"above the winning bid ({fmt(gap['winning_amount'])}), at or below the lower fence of {pct(fence)}",
        )
        for role, tenderer in (("winner", gap["winner"]), ("runner-up", gap["runner_up"])):
            outcome.flag(
                "Tenderer",
                tenderer,
                0.0,
                threshold=fence,
                explanation=f"{role} in {ocid}, where the second-lowest valid bid is only {pct(gap['ratio'])} "
                f"above the winning bid (lower fence {pct(fence)})",
                ocid=ocid,
            )
    return outcome


R024 = register(
    Indicator(
        code="R024",
        name="Price close to winning bid",
        stage="award",
        fields=(
            "bids/details/status",
            "bids/details/tenderers/id",
            "bids/details/value/amount",
            "bids/details/value/currency",
            "awards/status",
            "awards/suppliers/id",
            "tender/procurementMethodDetails",
        ),
        formula="d = (runner-up's lowest valid bid − winner's lowest valid bid) / winner's; d <= Q1 − 1.5·IQR",
        decide=decide,
        observes=(GAPS.name,),
        defaults={"threshold": None},
        reasons={"threshold": "unset: the lower fence Q1 − 1.5·IQR of all processes' d (Cardinal's default)"},
        options={"threshold": decimal},
        currency_observer=CURRENCY_OBSERVER,
    )
)

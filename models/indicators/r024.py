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
from dataclasses import dataclass
from typing import Any

from models.indicators import (
    Context,
    Indicator,
    Outcome,
    Release,
    amount_and_currency,
    final_awards,
    fmt,
    lower_fence,
    pct,
    quartiles,
    register,
    sole_active_supplier,
    sole_id,
)
from models.indicators.settings import decimal


@dataclass(frozen=True)
class SecondLowestBid:
    """A price-compared process: the winner's and the runner-up's lowest valid bids and their relative gap."""

    winner: str
    runner_up: str
    winning_amount: float
    runner_up_amount: float
    ratio: float


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


def _candidate_bids(
    compared: bool, final: tuple[list[dict[str, Any]], list[Any]] | None
) -> tuple[str, list[tuple[str, float, str]]] | None:
    if not compared or final is None:
        return None
    supplier = sole_active_supplier(final[0])
    if supplier is None:
        return None
    return supplier, valid_single_bids(final[1])


def observe_currency(context: Context, release: Release) -> str | None:
    """Return the first currency R024 and R058 would see in this process (a candidate main currency)."""
    candidates = _candidate_bids(context.price_compared(release), final_awards(release))
    if candidates is None or not candidates[1]:
        return None
    return candidates[1][0][2]


# Cardinal computes the second-lowest bid ratios before any other indicator looks at a process.
CURRENCY_OBSERVER = (0, observe_currency)


def second_lowest_bids(context: Context) -> dict[str, SecondLowestBid]:
    """Compute the gap between the winning bid and the lowest other valid bid per qualifying process."""
    gaps: dict[str, SecondLowestBid] = {}
    for release, compared, final in zip(context.releases, context.price_comparisons(), context.finals(), strict=True):
        candidates = _candidate_bids(compared, final)
        if candidates is None:
            continue
        supplier, bids = candidates
        winning: float | None = None
        lowest: float | None = None
        runner_up = ""
        for tenderer, amount, currency in bids:
            # Bids in another currency than the main one cannot be compared and are ignored.
            if currency != context.currency:
                continue
            if tenderer == supplier:
                # If the winner submitted several bids, its lowest is the winning bid.
                if winning is None or amount < winning:
                    winning = amount
            elif lowest is None or amount < lowest:
                lowest, runner_up = amount, tenderer
        # If the lowest bid did not win, the award criteria were not price-only, as this indicator assumes.
        if winning is not None and lowest is not None and lowest >= winning:
            gaps[release["ocid"]] = SecondLowestBid(
                supplier, runner_up, winning, lowest, divide(lowest - winning, winning)
            )
    return gaps


def shared_gaps(context: Context) -> dict[str, SecondLowestBid]:
    """Return the second-lowest bid gaps, computed once per run for R024 and R058."""
    gaps: dict[str, SecondLowestBid] = context.once("second_lowest_bids", second_lowest_bids)
    return gaps


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes whose runner-up bid is a low outlier above the winning bid."""
    outcome = Outcome()
    gaps = shared_gaps(context)
    if options["threshold"] is None:
        q1, q3 = quartiles(gap.ratio for gap in gaps.values())
        outcome.meta.update(q1=q1, q3=q3)
        fence = lower_fence(q1, q3)
    else:
        # A fixed fence bypasses the Q1 guard, as in Cardinal.
        fence, q1 = options["threshold"], 1.0
    outcome.meta["lower_fence"] = fence
    # The gap is never negative: if Q1 or the fence is 0, three quarters of processes would be flagged.
    if not (q1 > 0.0 and fence > 0.0):
        return outcome
    for ocid, gap in gaps.items():
        if gap.ratio <= fence:
            outcome.flag(
                "OCID",
                ocid,
                gap.ratio,
                threshold=fence,
                explanation=f"the second-lowest valid bid ({fmt(gap.runner_up_amount)}) is only {pct(gap.ratio)} "
                f"above the winning bid ({fmt(gap.winning_amount)}), at or below the lower fence of {pct(fence)}",
            )
            for role, tenderer in (("winner", gap.winner), ("runner-up", gap.runner_up)):
                outcome.flag(
                    "Tenderer",
                    tenderer,
                    0.0,
                    threshold=fence,
                    explanation=f"{role} in {ocid}, where the second-lowest valid bid is only {pct(gap.ratio)} "
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
        compute=compute,
        defaults={"threshold": None},
        reasons={"threshold": "unset: the lower fence Q1 − 1.5·IQR of all processes' d (Cardinal's default)"},
        options={"threshold": decimal},
        currency_observer=CURRENCY_OBSERVER,
    )
)

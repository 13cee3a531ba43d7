"""Supplier shares of a buyer's spend, shared by R040 (whole buyer) and R050 (one market at a buyer): not an indicator.

Spend = Σ ``awards/value/amount`` of ``active`` awards with exactly one supplier, in the run's main currency (awards
with several suppliers cannot be split without guessing). The period is the year the process started.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Context, Outcome, fmt, pct
from models.indicators.concentration import (
    Hit,
    awarded,
    buyer_id,
    exceeds,
    flag_worst,
    main_currency,
    market,
    upper_or_threshold,
    years,
)

Cell = tuple[str, str, int]  # buyer, market ("" for the whole buyer), year


def supplier_shares(context: Context, options: dict[str, Any], *, by_market: bool) -> Outcome:
    """Flag suppliers holding more than the threshold (or fence) of a buyer's spend, per year (and market)."""
    outcome = Outcome()
    currency = main_currency(context)
    totals: dict[Cell, float] = {}
    processes: dict[Cell, set[str]] = {}
    suppliers: dict[Cell, dict[str, float]] = {}
    where: dict[tuple[Cell, str], list[str]] = {}
    for release, year in zip(context.releases, years(context), strict=True):
        buyer = buyer_id(release)
        place = market(release, options["digits"]) if by_market else ""
        if buyer is None or year is None or place is None:
            continue
        cell = (buyer, place, year)
        for supplier, amount, _ in awarded(release, currency):
            totals[cell] = totals.get(cell, 0.0) + amount
            processes.setdefault(cell, set()).add(release["ocid"])
            by_supplier = suppliers.setdefault(cell, {})
            by_supplier[supplier] = by_supplier.get(supplier, 0.0) + amount
            ocids = where.setdefault((cell, supplier), [])
            if release["ocid"] not in ocids:
                ocids.append(release["ocid"])
    shares = {
        (cell, supplier): amount / totals[cell]
        for cell, by_supplier in suppliers.items()
        if len(processes[cell]) >= options["minimum_contracting_processes"] and totals[cell] > 0
        for supplier, amount in by_supplier.items()
    }
    threshold, fixed = options["threshold"], options["threshold"] is not None
    line, meta = upper_or_threshold(shares.values(), threshold)
    if not fixed:
        outcome.meta.update(meta)
    if line is None or (not fixed and not line > 0):
        return outcome
    hits: list[Hit] = []
    for (cell, supplier), ratio in shares.items():
        if not exceeds(ratio, line, fixed):
            continue
        buyer, place, year = cell
        scope = f"{buyer}'s spend in {place}" if by_market else f"{buyer}'s spend"
        explanation = (
            f"{supplier} won {fmt(suppliers[cell][supplier])} of {fmt(totals[cell])} {currency}, {pct(ratio)} of "
            f"{scope} in {year} ({len(processes[cell])} processes), above the "
            f"{'threshold' if fixed else 'upper fence'} of {pct(line)}"
        )
        ocids = where[cell, supplier]
        hits += [
            ("Buyer", buyer, ratio, line, explanation, ocids),
            ("Tenderer", supplier, ratio, line, explanation, ocids),
        ]
    flag_worst(outcome, hits)
    return outcome

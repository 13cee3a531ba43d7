"""Supplier shares of a buyer's spend, shared by R040 (whole buyer) and R050 (one market at a buyer): not an indicator.

Spend = Σ ``awards/value/amount`` of ``active`` awards with exactly one supplier, in the run's main currency (awards
with several suppliers cannot be split without guessing). The period is the year the process started.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from models.grouped import Segments, codes, groups
from models.indicators import Observed, Outcome, fmt, pct
from models.indicators.concentration import (
    Hit,
    awarded_values,
    exceeds,
    flag_worst,
    main_currency,
    upper_or_threshold,
    worst_hits,
)


def supplier_shares(observed: Observed, options: dict[str, Any], *, by_market: bool) -> Outcome:
    """Flag suppliers holding more than the threshold (or fence) of a buyer's spend, per year (and market)."""
    outcome = Outcome()
    currency = main_currency(observed)
    awards = awarded_values(observed, options["digits"])
    present = pc.and_(pc.is_valid(awards.column("buyer_id")), pc.is_valid(awards.column("year")))
    if by_market:
        present = pc.and_(present, pc.is_valid(awards.column("market")))
    awards = awards.filter(present)
    amounts = awards.column("amount").to_numpy()
    ranks = awards.column("rank").to_numpy()
    places = codes(awards.column("market")) if by_market else np.zeros(awards.num_rows, dtype=np.int64)
    # A cell is (buyer, market or "", year); cells and their suppliers are numbered in order of first appearance.
    cell, cell_rows = groups(codes(awards.column("buyer_id")), places, codes(awards.column("year")))
    pair, pair_rows = groups(cell, codes(awards.column("supplier_id")))
    # bincount adds in row order, as the running sums it replaces did, so the floating-point totals are the same.
    totals = np.bincount(cell, weights=amounts, minlength=len(cell_rows))
    won = np.bincount(pair, weights=amounts, minlength=len(pair_rows))
    processes = np.bincount(cell[groups(cell, ranks)[1]], minlength=len(cell_rows))
    pair_cell = cell[pair_rows]
    # Shares in the order of a map of cells, each a map of suppliers: by cell, then supplier, as first seen.
    order = np.lexsort((np.arange(len(pair_rows)), pair_cell))
    order = order[(processes[pair_cell[order]] >= options["minimum_contracting_processes"])
                  & (totals[pair_cell[order]] > 0)]  # fmt: skip
    shares = won[order] / totals[pair_cell[order]]
    threshold, fixed = options["threshold"], options["threshold"] is not None
    line, meta = upper_or_threshold(shares, threshold)
    if not fixed:
        outcome.meta.update(meta)
    if line is None or (not fixed and not line > 0):
        return outcome
    hit = exceeds(shares, line, fixed)
    exceeding, ratios = order[hit], shares[hit]
    # Each exceeding pair is a hit on its buyer and on its supplier; a unit keeps its worst hit (flag_worst's rule).
    # Only the kept hits are worded, so Python runs over flagged units, not over every exceeding pair.
    buyer_code = codes(awards.column("buyer_id"))[pair_rows[exceeding]]
    supplier_code = codes(awards.column("supplier_id"))[pair_rows[exceeding]]
    units = np.column_stack([buyer_code, supplier_code + int(buyer_code.max(initial=0)) + 1]).ravel()
    kept = worst_hits(units.tolist(), np.repeat(ratios, 2).tolist())
    members = Segments(pair, len(pair_rows))
    columns = {name: awards.column(name) for name in ("ocid", "buyer_id", "market", "year", "supplier_id")}
    hits: list[Hit] = []
    for index in kept:
        p, ratio = int(exceeding[index // 2]), float(ratios[index // 2])
        first = int(pair_rows[p])
        buyer, place, year, supplier = (
            columns[n][first].as_py() for n in ("buyer_id", "market", "year", "supplier_id")
        )
        c = int(pair_cell[p])
        scope = f"{buyer}'s spend in {place}" if by_market else f"{buyer}'s spend"
        explanation = (
            f"{supplier} won {fmt(float(won[p]))} of {fmt(float(totals[c]))} {currency}, {pct(ratio)} of "
            f"{scope} in {year} ({processes[c]} processes), above the "
            f"{'threshold' if fixed else 'upper fence'} of {pct(line)}"
        )
        ocids = list(dict.fromkeys(columns["ocid"].take(members.rows(p)).to_pylist()))
        hits.append(("Buyer", buyer, ratio, line, explanation, ocids) if index % 2 == 0 else
                    ("Tenderer", supplier, ratio, line, explanation, ocids))  # fmt: skip
    flag_worst(outcome, hits)
    return outcome

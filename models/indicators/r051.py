"""R051 High market concentration (OCP 2024 guide; not in Cardinal).

Formula: per market m and year t, HHI(m, t) = Σ S², with S each supplier's share *in percent* of the market's award
value (0–10,000 scale). The market is the first ``digits`` characters of the process's first item classification
(``tender/items/classification/id``, else ``awards/items``), e.g. ``CUCOP-253``; award value as in R040 (active
awards with one supplier, main currency). Markets with fewer than ``minimum_contracting_processes`` awarded processes
in the year are skipped. Flag HHI strictly above ``threshold``.

Defaults: ``threshold = 1800`` — the US DOJ band the OCP guide quotes: below 1,000 unconcentrated, 1,000–1,800
moderately concentrated, above 1,800 highly concentrated (``out_competition`` reports the band of every market);
``digits = 3`` (the CUCOP partida genérica); ``minimum_contracting_processes = 20`` (with a handful of awards one firm
holds a large share by construction; 20 is Cardinal's minimum for judging a supplier's spread in R048).

Why it is a red flag: in a concentrated market a few firms can share it out, and buyers have no alternative.

Output: Market (``<market>/<year>``, not in Cardinal's JSON shape) → HHI; Tenderer → the share (0–1) of the leading
supplier of each flagged market, its largest if it leads several.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from models.grouped import Segments, codes, groups
from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.concentration import MARKET_DIGITS, Hit, awarded_values, flag_worst, main_currency
from models.indicators.settings import decimal, natural

MODERATE = 1000.0  # the lower DOJ band: reported in explanations and out_competition, not flagged


def band(hhi: float) -> str:
    """Return the DOJ concentration band of an HHI (0–10,000)."""
    return "high" if hhi > 1800 else "moderate" if hhi >= MODERATE else "low"


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag markets whose Herfindahl–Hirschman index is above the threshold, and their leading suppliers."""
    outcome = Outcome()
    currency = main_currency(observed)
    awards = awarded_values(observed, options["digits"])
    awards = awards.filter(pc.and_(pc.is_valid(awards.column("market")), pc.is_valid(awards.column("year"))))
    amounts = awards.column("amount").to_numpy()
    # A cell is (market, year); cells and their suppliers are numbered in order of first appearance.
    cell, cell_rows = groups(codes(awards.column("market")), codes(awards.column("year")))
    pair, pair_rows = groups(cell, codes(awards.column("supplier_id")))
    won = np.bincount(pair, weights=amounts, minlength=len(pair_rows))  # adds in row order, as a running sum does
    processes = np.bincount(cell[groups(cell, awards.column("rank").to_numpy())[1]], minlength=len(cell_rows))
    pair_cell = cell[pair_rows]
    by_cell = Segments(pair_cell, len(cell_rows))
    rows = Segments(cell, len(cell_rows))
    places = awards.column("market").take(cell_rows).to_pylist()
    years = awards.column("year").take(cell_rows).to_pylist()
    threshold: float = options["threshold"]
    hits: list[Hit] = []
    for c in sorted(range(len(cell_rows)), key=lambda c: (places[c], years[c])):
        if processes[c] < options["minimum_contracting_processes"]:
            continue
        suppliers = by_cell.rows(c)  # this cell's suppliers, in order of first appearance
        by_supplier = won[suppliers].tolist()
        # Sums and squares in Python, in supplier order, so the index is the same to the last bit.
        total = sum(by_supplier)
        if total <= 0:
            continue
        hhi = sum((100 * amount / total) ** 2 for amount in by_supplier)
        if hhi <= threshold:
            continue
        place, year = places[c], years[c]
        names = awards.column("supplier_id").take(pair_rows[suppliers]).to_pylist()
        leader, leading = max(zip(names, by_supplier, strict=True), key=lambda pair: (pair[1], pair[0]))
        ocids = list(dict.fromkeys(awards.column("ocid").take(rows.rows(c)).to_pylist()))
        explanation = (
            f"HHI {fmt(hhi)} ({band(hhi)} concentration) in market {place} in {year}: {len(by_supplier)} suppliers "
            f"shared {fmt(total)} {currency} over {len(ocids)} processes; {leader} held "
            f"{pct(leading / total)}; threshold {fmt(threshold)}"
        )
        hits.append(("Market", f"{place}/{year}", hhi, threshold, explanation, ocids))
        # The leader's share was not compared with anything: its market's HHI was.
        led = int(suppliers[names.index(leader)])
        won_in = list(dict.fromkeys(awards.column("ocid").take(pair_members(pair, led)).to_pylist()))
        hits.append(("Tenderer", leader, leading / total, None, explanation, won_in))
    flag_worst(outcome, hits)
    return outcome


def pair_members(pair: np.ndarray, p: int) -> np.ndarray:
    """Return the rows of one (cell, supplier) pair, in row order."""
    return np.flatnonzero(pair == p)


R051 = register(
    Indicator(
        code="R051",
        name="High market concentration",
        stage="award",
        fields=(
            "awards/status",
            "awards/suppliers/id",
            "awards/value",
            "tender/items/classification/id",
            "awards/items/classification/id",
        ),
        formula="HHI(m, t) = Σ (100 · supplier share of award value in market m, year t)² > threshold",
        decide=decide,
        observes=("obs_award_values",),
        defaults={"threshold": 1800.0, "digits": MARKET_DIGITS, "minimum_contracting_processes": 20},
        reasons={
            "threshold": "US DOJ band quoted by the OCP 2024 guide: above 1,800 is highly concentrated",
            "digits": "three CUCOP digits: the partida genérica groups goods bought from one kind of firm",
            "minimum_contracting_processes": "Cardinal's R048 minimum; fewer awards are concentrated by construction",
        },
        options={"threshold": decimal, "digits": natural, "minimum_contracting_processes": natural},
    )
)

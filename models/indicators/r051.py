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

from models.indicators import Context, Indicator, Outcome, fmt, pct, register
from models.indicators.concentration import (
    MARKET_DIGITS,
    Hit,
    awarded,
    flag_worst,
    main_currency,
    market,
    years,
)
from models.indicators.settings import decimal, natural

MODERATE = 1000.0  # the lower DOJ band: reported in explanations and out_competition, not flagged


def band(hhi: float) -> str:
    """Return the DOJ concentration band of an HHI (0–10,000)."""
    return "high" if hhi > 1800 else "moderate" if hhi >= MODERATE else "low"


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag markets whose Herfindahl–Hirschman index is above the threshold, and their leading suppliers."""
    outcome = Outcome()
    currency = main_currency(context)
    amounts: dict[tuple[str, int], dict[str, float]] = {}
    processes: dict[tuple[str, int], list[str]] = {}
    won_in: dict[tuple[str, int, str], list[str]] = {}
    for release, year in zip(context.releases, years(context), strict=True):
        place = market(release, options["digits"])
        if place is None or year is None:
            continue
        won = awarded(release, currency)
        if won:
            processes.setdefault((place, year), []).append(release["ocid"])
        for supplier, amount, _ in won:
            by_supplier = amounts.setdefault((place, year), {})
            by_supplier[supplier] = by_supplier.get(supplier, 0.0) + amount
            ocids = won_in.setdefault((place, year, supplier), [])
            if release["ocid"] not in ocids:
                ocids.append(release["ocid"])
    threshold: float = options["threshold"]
    hits: list[Hit] = []
    for (place, year), by_supplier in sorted(amounts.items()):
        total = sum(by_supplier.values())
        if len(processes[place, year]) < options["minimum_contracting_processes"] or total <= 0:
            continue
        hhi = sum((100 * amount / total) ** 2 for amount in by_supplier.values())
        if hhi <= threshold:
            continue
        leader, leading = max(by_supplier.items(), key=lambda pair: (pair[1], pair[0]))
        explanation = (
            f"HHI {fmt(hhi)} ({band(hhi)} concentration) in market {place} in {year}: {len(by_supplier)} suppliers "
            f"shared {fmt(total)} {currency} over {len(processes[place, year])} processes; {leader} held "
            f"{pct(leading / total)}; threshold {fmt(threshold)}"
        )
        hits.append(("Market", f"{place}/{year}", hhi, threshold, explanation, processes[place, year]))
        # The leader's share was not compared with anything: its market's HHI was.
        hits.append(("Tenderer", leader, leading / total, None, explanation, won_in[place, year, leader]))
    flag_worst(outcome, hits)
    return outcome


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
        compute=compute,
        defaults={"threshold": 1800.0, "digits": MARKET_DIGITS, "minimum_contracting_processes": 20},
        reasons={
            "threshold": "US DOJ band quoted by the OCP 2024 guide: above 1,800 is highly concentrated",
            "digits": "three CUCOP digits: the partida genérica groups goods bought from one kind of firm",
            "minimum_contracting_processes": "Cardinal's R048 minimum; fewer awards are concentrated by construction",
        },
        options={"threshold": decimal, "digits": natural, "minimum_contracting_processes": natural},
    )
)
